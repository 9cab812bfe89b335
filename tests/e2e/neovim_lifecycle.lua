-- The headless session tests/e2e/test_neovim.py runs for the server's life and the settings:
--   crash     a server that exits at once: what the user is told, and :Vivavoce start again;
--   settings  a second setup() and a device picked with :Vivavoce devices reach the running
--             server and survive its next workspace/configuration pull (Neovim 0.7 and 0.11
--             answer it from different fields);
--   no audio  the "no audio devices" warning (no sound server here) is said once, however
--             often the call starts and toggles.
-- Writes what it saw as JSON and quits.
local api = vim.api
local out_path = assert(os.getenv("VIVAVOCE_NVIM_RESULT"), "VIVAVOCE_NVIM_RESULT")
local file = assert(os.getenv("VIVAVOCE_NVIM_FILE"), "VIVAVOCE_NVIM_FILE")
local python = assert(os.getenv("VIVAVOCE_NVIM_PYTHON"), "VIVAVOCE_NVIM_PYTHON")

local test = _G.vivavoce_test
local wait = test.wait
local vivavoce = require("vivavoce")
local transcript = require("vivavoce.transcript")
local result = { configurations = {}, voices = {} }

local GOOD = { python, "-m", "vivavoce", "lsp" }

-- What the plugin answers when the server pulls its settings (workspace/configuration).
local answer = vim.lsp.handlers["workspace/configuration"]
vim.lsp.handlers["workspace/configuration"] = function(...)
  local response = answer(...)
  table.insert(result.configurations, { phase = test.phase, answer = vim.deepcopy(response) })
  return response
end
-- Neovim 0.7 does not offer workspace/configuration: its server never pulls.
local capabilities = vim.lsp.protocol.make_client_capabilities()
local pulled = capabilities.workspace and capabilities.workspace.configuration
result.pulls = pulled or false
local function pulls()
  return #result.configurations
end
-- Waits for the server's pull after a change (`since`: pulls() before it).
local function settled(since, what)
  if pulled then
    wait(5000, function()
      return pulls() > since
    end, "the server to pull its settings after " .. what)
  end
  vim.wait(300)
end
-- What the plugin would answer if the server pulled now.
local function answer_now()
  local c = require("vivavoce.client").get()
  local params = { items = { { section = "vivavoce" } } }
  return vim.deepcopy(answer(nil, params, { client_id = c.id, method = "workspace/configuration" }, {}))
end

-- The device list a sound server would give (this test has none), answered where the plugin
-- asks for it; everything else goes to the server.
local compat = require("vivavoce.compat")
local request = compat.request
compat.request = function(client, method, params, handler, bufnr)
  if method == "workspace/executeCommand" and params.command == "vivavoce.listDevices" then
    handler(nil, { inputs = { { name = "vv-mic-a" }, { name = "vv-mic-b" } }, outputs = {} })
    return true, 0
  end
  return request(client, method, params, handler, bufnr)
end

local function notes(phase, pattern)
  local found = {}
  for _, note in ipairs(test.notes) do
    if note.phase == phase and (not pattern or note.message:find(pattern, 1, true)) then
      table.insert(found, note)
    end
  end
  return found
end

local function file_lines()
  return api.nvim_buf_get_lines(vim.fn.bufnr(file), 0, -1, false)
end

local function live(mode)
  wait(20000, function()
    local s = vivavoce.status()
    return s.state == "live" and s.mode == mode
  end, "the call to be live in " .. mode .. " mode")
end

local function idle()
  wait(10000, function()
    return vivavoce.status().state == "idle"
  end, "idle")
end

-- Waits for a message (no failure: the assertions say what was missing).
local function said(ms, phase, pattern)
  vim.wait(ms, function()
    return #notes(phase, pattern) > 0
  end, 10)
end

local function session()
  -- A server that exits at once, before initialize: `false`, and `vivavoce lsp` with a bad flag.
  test.phase = "crash false"
  vivavoce.setup({ cmd = { "false" }, transcript = { open = false } })
  vim.cmd("Vivavoce start")
  said(3000, "crash false", "quit with exit code") -- Neovim's own word
  vim.wait(300) -- anything else it would say

  test.phase = "crash flag"
  vivavoce.setup({ cmd = { python, "-m", "vivavoce", "lsp", "--no-such-flag" }, transcript = { open = false } })
  vim.cmd("Vivavoce start")
  said(15000, "crash flag", "quit with exit code")
  vim.wait(300)
  test.phase = "crash flag again"
  vim.cmd("Vivavoce start") -- a fresh server (which fails the same way)
  said(15000, "crash flag again", "quit with exit code")
  vim.wait(300)
  test.phase = "crash send"
  vivavoce.send_text("anyone there?")
  vim.cmd("checkhealth vivavoce")
  result.health = api.nvim_buf_get_lines(0, 0, -1, false)
  vim.cmd("bwipeout!")

  -- Now a working server: the settings it is given, then changed while it runs.
  test.phase = "settings start"
  vivavoce.setup({
    cmd = GOOD,
    transcript = { open = false },
    settings = { peer = "embedded", insertTranscripts = "assistant", voice = "ash", inputDevice = "vv-mic-a" },
  })
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  api.nvim_win_set_cursor(0, { 2, 0 })
  vim.cmd("Vivavoce start")
  live("realtime")
  result.started_after_crash = true
  table.insert(result.voices, vivavoce.status().voice)

  test.phase = "settings setup"
  local before = pulls()
  vivavoce.setup({
    cmd = GOOD,
    transcript = { open = false },
    settings = { peer = "embedded", insertTranscripts = "none", voice = "verse", inputDevice = "vv-mic-a" },
  })
  settled(before, "setup()")

  test.phase = "settings reply"
  vivavoce.send_text("tell me about the weather")
  wait(15000, function()
    for _, line in ipairs(transcript.lines()) do
      if line:match("^Assistant: ") and not line:match(" …$") then
        return true
      end
    end
    return false
  end, "the assistant's reply")
  vim.wait(1500) -- an insertion would have come by now
  result.file_after_none = file_lines()

  test.phase = "settings reconnect"
  vim.cmd("Vivavoce stop")
  idle()
  vim.cmd("Vivavoce start")
  live("realtime")
  table.insert(result.voices, vivavoce.status().voice)

  test.phase = "settings device"
  local select = vim.ui.select
  vim.ui.select = function(items, _, on_choice)
    result.devices_offered = items
    on_choice(items[2])
  end
  before = pulls()
  vim.cmd("Vivavoce devices")
  settled(before, "the device choice")
  vim.ui.select = select
  before = pulls()
  -- Another round trip (a change of something else) must keep the device.
  require("vivavoce.client").change_settings({ instructions = "Be brief." })
  settled(before, "a change")
  result.answer_now = answer_now()
  vim.cmd("Vivavoce stop")
  idle()

  -- The devices: on (no sound server here), so the server warns that there are none.
  test.phase = "no audio"
  vivavoce.setup({
    cmd = GOOD,
    transcript = { open = false },
    settings = { peer = "embedded", insertTranscripts = "none", audioDevices = true },
  })
  require("vivavoce.client").shutdown() -- audioDevices is read when the server starts
  wait(10000, function()
    return not vivavoce.is_running()
  end, "the server to stop")
  for _ = 1, 2 do
    vim.cmd("Vivavoce start")
    live("realtime")
    wait(5000, function()
      return vivavoce.status().audioError ~= nil
    end, "the audio error in the status")
    result.no_audio_statusline = vivavoce.statusline()
    vim.cmd("Vivavoce toggle")
    live("text")
    vim.cmd("Vivavoce toggle")
    live("realtime")
    vim.cmd("Vivavoce stop")
    idle()
  end
  vim.wait(300)
end

local ok, err = xpcall(session, debug.traceback)
test.phase = "end"
result.failure = ok and vim.NIL or tostring(err)
result.notes = test.notes
local log = vim.lsp.get_log_path and vim.lsp.get_log_path()
if log and vim.fn.filereadable(log) == 1 then
  local lines = vim.fn.readfile(log)
  result.lsp_log_tail = vim.list_slice(lines, math.max(1, #lines - 40))
end
vim.fn.writefile({ vim.json.encode(result) }, out_path)
vim.cmd("qa!")
