-- vivavoce.health: `:checkhealth vivavoce` — Neovim version, the server command, the client state.
-- Never shows settings values (they may hold an API key).
local M = {}

local health = vim.health or require("health")
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local warn = health.warn or health.report_warn
local fail = health.error or health.report_error
local info = health.info or health.report_info

function M.check()
  start("vivavoce")
  local v = vim.version()
  if vim.fn.has("nvim-0.7") == 1 then
    ok(string.format("Neovim %d.%d.%d", v.major, v.minor, v.patch))
  else
    fail("Neovim 0.7 or newer is needed")
  end

  local cmd = require("vivavoce.config").get().cmd
  if type(cmd) == "function" then
    ok("cmd is a function")
  elseif type(cmd) == "table" and type(cmd[1]) == "string" and vim.fn.executable(cmd[1]) == 1 then
    ok("server command: " .. table.concat(cmd, " "))
  else
    fail(
      "server command not executable: " .. tostring(type(cmd) == "table" and cmd[1] or cmd),
      { "pip install vivavoce", 'or setup({ cmd = { "/path/to/python", "-m", "vivavoce", "lsp" } })' }
    )
  end

  local settings = require("vivavoce.config").get().settings
  if settings.apiKey ~= nil then
    warn("apiKey is set in setup(); prefer the OPENAI_API_KEY environment variable (see :help vivavoce-settings)")
  end

  local client = require("vivavoce.client").get()
  local exited = require("vivavoce.client").last_exit()
  if client then
    local status = require("vivavoce.status").get()
    ok(string.format("server running (client id %d), call %s, mode %s", client.id, status.state, status.mode))
  elseif exited then
    warn(exited, { "check cmd in setup() (run it in a terminal to see the whole error)", ":Vivavoce start" })
  else
    info("server not running (:Vivavoce start)")
  end
end

return M
