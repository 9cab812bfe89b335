-- The headless spoken edit tests/e2e/test_neovim.py runs with PulseAudio's virtual devices:
-- open a file, put the cursor on line 2, :Vivavoce start, play flite speech asking for an
-- edit into the virtual microphone, and wait for the edit to land in the buffer through the
-- language server's workspace/applyEdit. Writes what it saw as JSON and quits.
local api = vim.api
local out_path = assert(os.getenv("VIVAVOCE_NVIM_RESULT"), "VIVAVOCE_NVIM_RESULT")
local file = assert(os.getenv("VIVAVOCE_NVIM_FILE"), "VIVAVOCE_NVIM_FILE")
local speech = assert(os.getenv("VIVAVOCE_NVIM_SPEECH"), "VIVAVOCE_NVIM_SPEECH")

local test = _G.vivavoce_test
local vivavoce = require("vivavoce")
local transcript = require("vivavoce.transcript")
local result = {}

local wait = test.wait

local function file_lines()
  return api.nvim_buf_get_lines(vim.fn.bufnr(file), 0, -1, false)
end

local function answered()
  for _, line in ipairs(transcript.lines()) do
    if line:match("^Assistant: ") and not line:match(" …$") then
      return true
    end
  end
  return false
end

local function session()
  test.phase = "start"
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  api.nvim_win_set_cursor(0, { 2, 0 })
  vim.cmd("Vivavoce start")
  wait(30000, function()
    return vivavoce.status().state == "live"
  end, "the call to be live")
  wait(30000, function() -- the microphone runs once its level is reported
    return (vivavoce.status().inputLevel or 0) ~= 0
  end, "the microphone level")

  test.phase = "speak"
  local player = vim.fn.jobstart({
    "pacat", "--playback", "--device=vv_mic", "--rate=16000", "--channels=1",
    "--format=s16le", "--latency-msec=20", speech,
  })
  assert(player > 0, "pacat did not start")
  wait(60000, function()
    return answered() and file_lines()[2] ~= "first line"
  end, "the spoken edit in the file and the assistant's answer")
  result.transcript = transcript.lines()
  result.file = file_lines()
  result.modified = vim.bo.modified

  test.phase = "stop"
  vim.cmd("Vivavoce stop")
  wait(10000, function()
    return vivavoce.status().state == "idle"
  end, "idle")
end

local ok, err = xpcall(session, debug.traceback)
result.failure = ok and vim.NIL or tostring(err)
result.notes = test.notes
local log = vim.lsp.get_log_path and vim.lsp.get_log_path()
if log and vim.fn.filereadable(log) == 1 then
  local lines = vim.fn.readfile(log)
  result.lsp_log_tail = vim.list_slice(lines, math.max(1, #lines - 40))
end
vim.fn.writefile({ vim.json.encode(result) }, out_path)
vim.cmd("qa!")
