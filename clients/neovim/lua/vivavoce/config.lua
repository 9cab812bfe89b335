-- vivavoce.config: the plugin's options (defaults, merging, checking). The server's own
-- settings live untouched under `settings`: they go to the server as they are.
local M = {}

M.defaults = {
  -- How to start the language server.
  cmd = { "vivavoce", "lsp" },
  -- The server's `vivavoce` settings section (camelCase, see the server's docs); passed through.
  settings = {},
  -- Push-to-talk key in Normal and Insert mode; false for none. Terminals send no key-up,
  -- so it toggles: first press starts talking, second press sends the turn.
  ptt_key = "<F4>",
  transcript = {
    enabled = true,
    -- Ex command that opens the transcript window on :Vivavoce start; false to not open it.
    open = "botright 10split",
  },
  code = {
    -- How code the assistant shows opens (its window keeps showing the next one): an Ex command
    -- making a window (e.g. "botright vsplit", "belowright 12split"), or "float".
    open = "botright vsplit",
  },
  -- Attach file buffers you enter while vivavoce runs, so the server follows your cursor.
  follow_buffers = true,
  -- Milliseconds between the last cursor move and the realtime/context notification.
  context_debounce = 150,
  -- Root directory given to the server (default: the current directory at start).
  root_dir = nil,
}

local options = vim.deepcopy(M.defaults)

local function check(name, value, kinds)
  for _, kind in ipairs(kinds) do
    if type(value) == kind then
      return true
    end
  end
  error(string.format("vivavoce.setup: %s must be %s, got %s", name, table.concat(kinds, " or "), type(value)), 0)
end

--- Merges user options over the defaults. Lists (cmd) are replaced, never merged by index.
function M.set(user)
  user = user or {}
  check("options", user, { "table" })
  local merged = vim.deepcopy(M.defaults)
  for key, value in pairs(user) do
    if M.defaults[key] == nil and key ~= "root_dir" then
      error("vivavoce.setup: unknown option '" .. tostring(key) .. "'", 0)
    end
    if key == "transcript" then
      check("transcript", value, { "table", "boolean" })
      if type(value) == "boolean" then
        merged.transcript.enabled = value
      else
        merged.transcript = vim.tbl_extend("force", merged.transcript, value)
      end
    elseif key == "code" then
      check("code", value, { "table" })
      merged.code = vim.tbl_extend("force", merged.code, value)
    else
      merged[key] = vim.deepcopy(value)
    end
  end
  check("cmd", merged.cmd, { "table", "function" })
  check("settings", merged.settings, { "table" })
  check("ptt_key", merged.ptt_key, { "string", "boolean" })
  check("code.open", merged.code.open, { "string" })
  check("context_debounce", merged.context_debounce, { "number" })
  check("root_dir", merged.root_dir, { "string", "nil" })
  options = merged
  return options
end

function M.get()
  return options
end

return M
