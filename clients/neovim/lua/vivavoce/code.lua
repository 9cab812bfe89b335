-- vivavoce.code: code the assistant shows instead of reading it aloud (`realtime/code`).
--
-- Each piece opens in a scratch buffer (filetype from its language) in a window beside the
-- file, without taking the cursor: a split (`code.open`, an Ex command) or a floating window
-- (`code.open = "float"`). The same window shows the next piece. `:Vivavoce insertCode` (or
-- <CR> in the code buffer) asks the server (`realtime/insertCode`) to insert it at the cursor
-- of the file you were in.
local M = {}

local api = vim.api
local client = require("vivavoce.client")
local config = require("vivavoce.config")
local context = require("vivavoce.context")
local say = require("vivavoce.notify")

-- What the server calls a language → Neovim's filetype (others are taken as they are).
local FILETYPES = {
  js = "javascript", jsx = "javascriptreact", ts = "typescript", tsx = "typescriptreact",
  py = "python", python3 = "python", sh = "sh", bash = "sh", shell = "sh", zsh = "zsh",
  ["c++"] = "cpp", ["c#"] = "cs", csharp = "cs", rs = "rust", golang = "go", yml = "yaml",
  md = "markdown", rb = "ruby", kt = "kotlin", text = "text", [""] = "text",
}

local win = nil -- the window showing code
local origin = nil -- the window the user worked in when code was last shown
local last = nil -- the last piece shown: { id, language, code, title }

--- The filetype of a language the server names.
function M.filetype(language)
  language = (language or ""):lower()
  return FILETYPES[language] or language
end

--- The last piece shown (nil: none yet).
function M.last()
  return last
end

--- The window showing code, if it is open.
function M.window()
  return (win and api.nvim_win_is_valid(win)) and win or nil
end

local function open_window(buf)
  local how = config.get().code.open
  if how == "float" then
    local width = math.min(100, math.floor(vim.o.columns * 0.6))
    local height = math.min(api.nvim_buf_line_count(buf), math.floor(vim.o.lines * 0.5))
    local opts = {
      relative = "editor", anchor = "NE", row = 1, col = vim.o.columns - 1,
      width = math.max(width, 20), height = math.max(height, 1), border = "rounded", style = "minimal",
    }
    if vim.fn.has("nvim-0.9") == 1 then -- older ones refuse a title
      opts.title = " " .. api.nvim_buf_get_name(buf):gsub("^vivavoce://", "") .. " "
    end
    return api.nvim_open_win(buf, false, opts)
  end
  local here = api.nvim_get_current_win()
  vim.cmd(how)
  local opened = api.nvim_get_current_win()
  api.nvim_win_set_buf(opened, buf)
  api.nvim_set_current_win(here) -- the cursor stays where the user works
  return opened
end

--- Shows a `realtime/code` notification's piece: { id, language, code, title? }.
function M.show(params)
  if type(params) ~= "table" or type(params.code) ~= "string" then
    return
  end
  last = params
  local current = api.nvim_get_current_win()
  if current ~= M.window() then
    origin = current
  end
  local buf = api.nvim_create_buf(false, true)
  local lines = vim.split(params.code:gsub("\n$", ""), "\n", { plain = true })
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  local name = "vivavoce://" .. params.id
  if type(params.title) == "string" and params.title ~= "" then
    name = name .. " " .. params.title
  end
  pcall(api.nvim_buf_set_name, buf, name)
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = M.filetype(params.language)
  vim.b[buf].vivavoce_code = params.id
  local insert = function()
    M.insert(params.id)
  end
  vim.keymap.set("n", "<CR>", insert, { buffer = buf, desc = "vivavoce: insert this code at the cursor" })
  vim.keymap.set("n", "q", "<Cmd>close<CR>", { buffer = buf, desc = "vivavoce: close" })
  if M.window() then
    api.nvim_win_set_buf(win, buf)
  else
    win = open_window(buf)
  end
  say.info("code shown" .. (params.title and (": " .. params.title) or "") .. " (:Vivavoce insertCode inserts it)")
end

-- The file window insertCode inserts into: the current one if it holds a file, else the one
-- the user was in when the code was shown.
local function target_window()
  local current = api.nvim_get_current_win()
  if context.attachable(api.nvim_win_get_buf(current)) then
    return current
  end
  if origin and api.nvim_win_is_valid(origin) and context.attachable(api.nvim_win_get_buf(origin)) then
    return origin
  end
end

--- Inserts the last code shown (or the one with `id`) at the cursor of the file window.
function M.insert(id)
  local params = { id = id }
  local target = target_window()
  client.with_client(function(c)
    if target then
      local buf = api.nvim_win_get_buf(target)
      client.attach(buf)
      params.textDocument = { uri = vim.uri_from_bufnr(buf) }
      params.position = context.cursor(target, c.offset_encoding)
    end
    client.request("realtime/insertCode", params, function(result)
      if type(result) == "table" and result.inserted == false then
        say.warn("the code was not inserted: " .. tostring(result.reason))
      end
    end)
  end)
end

return M
