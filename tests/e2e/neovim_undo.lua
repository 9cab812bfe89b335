-- Undo groups, run by tests/e2e/test_neovim.py: the workspace edits a dictation sends (each
-- utterance's live words, then its final text over them; labelled with the utterance's undo
-- group, as the server labels them for this plugin) arrive one by one from the event loop, as
-- the language server's do; then `u` is pressed, and what the buffer shows after each is kept.
local api = vim.api
local out_path = assert(os.getenv("VIVAVOCE_NVIM_RESULT"), "VIVAVOCE_NVIM_RESULT")
local undo = require("vivavoce.undo")

vim.cmd("edit " .. vim.fn.fnameescape(assert(os.getenv("VIVAVOCE_NVIM_FILE"))))
local buf = api.nvim_get_current_buf()
api.nvim_buf_set_lines(buf, 1, 1, false, { "" }) -- an empty line to dictate into
local uri = vim.uri_from_bufnr(buf)
local result = { applied = {}, after_undo = {} }

local function line(n)
  return api.nvim_buf_get_lines(buf, n, n + 1, false)[1]
end

-- Replace the utterance's words so far (right before the point) with `text`, as the server does.
local point = { 1, 0 }
local shown = ""
local function write(group, text, first)
  if first then
    shown = ""
  end
  local start = { point[1], point[2] - #shown }
  local edit = {
    changes = {
      [uri] = {
        {
          range = {
            start = { line = start[1], character = start[2] },
            ["end"] = { line = point[1], character = point[2] },
          },
          newText = text,
        },
      },
    },
  }
  local answer = assert(undo.apply({ edit = edit, label = undo.LABEL .. group }, "utf-16"))
  table.insert(result.applied, answer.applied)
  shown = text
  point = { start[1], start[2] + #text } -- one line of text in this test
end

local steps = {
  { "a", "The", true },
  { "a", "The code is" },
  { "a", "The code is ready." },
  { "b", " We", true },
  { "b", " We fixed it" },
  { "b", " We fixed it." },
}
local delay = 50
for _, step in ipairs(steps) do
  vim.defer_fn(function()
    write(step[1], step[2], step[3])
  end, delay)
  delay = delay + 50
end
vim.defer_fn(function()
  result.written = line(1)
  for _ = 1, 2 do
    vim.cmd("silent! normal! u")
    table.insert(result.after_undo, line(1))
  end
  vim.fn.writefile({ vim.json.encode(result) }, out_path)
  vim.cmd("qa!")
end, delay + 100)
