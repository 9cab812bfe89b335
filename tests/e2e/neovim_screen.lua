-- Set-up for the session tests/e2e/test_neovim.py runs in a real terminal (Neovim's own UI on a
-- pseudo-terminal, read by a terminal emulator): the help's statusline example set as a user
-- would, and the file open with the cursor on line 2. The test then types the commands itself.
-- When Neovim quits, what it saw is written as JSON (for the test's failure messages).
local api = vim.api
local out_path = assert(os.getenv("VIVAVOCE_NVIM_RESULT"), "VIVAVOCE_NVIM_RESULT")
local file = assert(os.getenv("VIVAVOCE_NVIM_FILE"), "VIVAVOCE_NVIM_FILE")

local test = _G.vivavoce_test

-- |vivavoce-statusline|: the example, in every window.
vim.o.laststatus = 2
vim.o.statusline = "%f %{v:lua.require'vivavoce'.statusline()}"

test.phase = "typed"
vim.cmd("edit " .. vim.fn.fnameescape(vim.fn.fnamemodify(file, ":.")))  -- as typed: %f shows notes.md
api.nvim_win_set_cursor(0, { 2, 0 })

api.nvim_create_autocmd("VimLeavePre", {
  callback = function()
    local v = vim.version()
    local result = {
      version = string.format("%d.%d.%d", v.major, v.minor, v.patch),
      transcript = require("vivavoce.transcript").lines(),
      statusline = require("vivavoce").statusline(),
      notes = test.notes,
      messages = vim.fn.execute("messages"),
    }
    local log = vim.lsp.get_log_path and vim.lsp.get_log_path()
    if log and vim.fn.filereadable(log) == 1 then
      local lines = vim.fn.readfile(log)
      result.lsp_log_tail = vim.list_slice(lines, math.max(1, #lines - 40))
    end
    vim.fn.writefile({ vim.json.encode(result) }, out_path)
  end,
})
