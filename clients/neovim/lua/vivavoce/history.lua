-- vivavoce.history: opening past conversations. Asks the server (`vivavoce.openHistory`) and shows
-- what it answers: a file (path or uri) is edited, a list of files is offered with vim.ui.select,
-- text is shown in a scratch buffer.
local M = {}

local api = vim.api
local client = require("vivavoce.client")
local compat = require("vivavoce.compat")
local say = require("vivavoce.notify")

local function edit(target)
  local path = target:match("^%a[%w+.-]*://") and vim.uri_to_fname(target) or target
  vim.cmd("edit " .. vim.fn.fnameescape(path))
end

local function show_text(text)
  local buf = api.nvim_create_buf(true, true)
  api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(text, "\n", { plain = true }))
  vim.bo[buf].modifiable = false
  vim.cmd("split")
  api.nvim_win_set_buf(0, buf)
end

local function target_of(entry)
  if type(entry) == "string" then
    return entry
  end
  if type(entry) == "table" then
    return entry.uri or entry.path or entry.file
  end
end

function M.show(result)
  if result == nil or result == vim.NIL then
    return -- the server opened it itself, or there is nothing
  end
  local list = type(result) == "table" and (compat.islist(result) and result or result.transcripts or result.files)
  if type(list) == "table" and compat.islist(list) then
    if #list == 0 then
      say.info("no history yet")
      return
    end
    vim.ui.select(list, {
      prompt = "vivavoce history:",
      format_item = function(entry)
        return type(entry) == "table" and (entry.title or entry.name or target_of(entry)) or tostring(entry)
      end,
    }, function(entry)
      local target = target_of(entry)
      if target then
        edit(target)
      end
    end)
    return
  end
  local target = target_of(result)
  if target then
    edit(target)
  elseif type(result) == "table" and type(result.text) == "string" then
    show_text(result.text)
  end
end

function M.open()
  client.execute("vivavoce.openHistory", {}, M.show, "the history")
end

return M
