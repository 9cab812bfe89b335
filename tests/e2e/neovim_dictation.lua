-- Headless dictation, run by tests/audio/test_dictation.py with PulseAudio's virtual devices:
-- open a file, put the cursor on an empty line, :Vivavoce dictate, play flite speech (two
-- utterances with a pause) into the virtual microphone, and wait for the words to land in the
-- buffer through the language server's workspace/applyEdit. Writes what it saw as JSON and quits.
local api = vim.api
local out_path = assert(os.getenv("VIVAVOCE_NVIM_RESULT"), "VIVAVOCE_NVIM_RESULT")
local file = assert(os.getenv("VIVAVOCE_NVIM_FILE"), "VIVAVOCE_NVIM_FILE")
local speech = assert(os.getenv("VIVAVOCE_NVIM_SPEECH"), "VIVAVOCE_NVIM_SPEECH")
local last_words = assert(os.getenv("VIVAVOCE_NVIM_LAST_WORDS"), "VIVAVOCE_NVIM_LAST_WORDS")

local test = _G.vivavoce_test
local vivavoce = require("vivavoce")
local result = { snapshots = {}, modes = {} }

local wait = test.wait

local function file_lines()
  return api.nvim_buf_get_lines(vim.fn.bufnr(file), 0, -1, false)
end

local function watch() -- every state of the dictated lines, while waiting
  local lines = file_lines()
  local shown = table.concat(vim.list_slice(lines, 2, #lines - 1), "\n")
  if result.snapshots[#result.snapshots] ~= shown then
    table.insert(result.snapshots, shown)
  end
  local mode = vivavoce.status().mode
  if mode and result.modes[#result.modes] ~= mode then
    table.insert(result.modes, mode)
  end
end

local function session()
  test.phase = "start"
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  api.nvim_buf_set_lines(0, 1, 1, false, { "" }) -- an empty line to dictate into
  api.nvim_win_set_cursor(0, { 2, 0 })
  vim.cmd("Vivavoce dictate")
  wait(30000, function()
    return vivavoce.status().state == "live"
  end, "dictation to be live")
  result.live = vivavoce.status()
  wait(30000, function() -- the microphone runs once its level is reported
    return (vivavoce.status().inputLevel or 0) ~= 0
  end, "the microphone level")

  test.phase = "speak"
  local player = vim.fn.jobstart({
    "pacat", "--playback", "--device=vv_mic", "--rate=16000", "--channels=1",
    "--format=s16le", "--latency-msec=1000", speech,
  })
  assert(player > 0, "pacat did not start")
  wait(90000, function()
    watch()
    local lines = file_lines()
    return #lines == 4 and lines[3]:find(last_words, 1, true) ~= nil
  end, "the dictation in the file")
  vim.wait(1500, function() watch() return false end, 50) -- nothing more comes
  result.file = file_lines()
  result.modified = vim.bo.modified
  vim.cmd("silent! normal! u") -- one undo: the last utterance goes, whole
  result.after_undo = file_lines()

  test.phase = "stop"
  vim.cmd("Vivavoce dictate")
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
  result.lsp_log_tail = vim.list_slice(lines, math.max(1, #lines - 400))
end
vim.fn.writefile({ vim.json.encode(result) }, out_path)
vim.cmd("qa!")
