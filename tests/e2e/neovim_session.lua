-- The headless session tests/e2e/test_neovim.py runs: help tags, :Vivavoce completion, then a
-- spoken session against the embedded peer (start → sendText → transcript and insertion →
-- mute → push to talk → toggle → devices → stop). Writes what it saw as JSON and quits.
local api = vim.api
local out_path = assert(os.getenv("VIVAVOCE_NVIM_RESULT"), "VIVAVOCE_NVIM_RESULT")
local file = assert(os.getenv("VIVAVOCE_NVIM_FILE"), "VIVAVOCE_NVIM_FILE")
local scratch = assert(os.getenv("VIVAVOCE_NVIM_SCRATCH"), "VIVAVOCE_NVIM_SCRATCH")
local plugin = assert(os.getenv("VIVAVOCE_NVIM_PLUGIN"), "VIVAVOCE_NVIM_PLUGIN")

local test = _G.vivavoce_test
local vivavoce = require("vivavoce")
local result = { version = tostring(vim.version().major) .. "." .. vim.version().minor, steps = {}, statuslines = {} }

-- What the plugin notified the server of (realtime/context above all).
local compat = require("vivavoce.compat")
local notify_server = compat.notify
result.sent = {}
compat.notify = function(client, method, params)
  table.insert(result.sent, { method = method, params = params, phase = test.phase })
  return notify_server(client, method, params)
end

local function seen_statusline()
  local text = vivavoce.statusline()
  if result.statuslines[#result.statuslines] ~= text then
    table.insert(result.statuslines, text)
  end
end
api.nvim_create_autocmd("User", { pattern = "VivavoceStatus", callback = seen_statusline })

local started = vim.loop.hrtime()
local function step(name)
  test.phase = name
  table.insert(result.steps, { name = name, at_ms = math.floor((vim.loop.hrtime() - started) / 1e6) })
end

local wait = test.wait

local function file_lines()
  local buf = vim.fn.bufnr(file)
  return api.nvim_buf_get_lines(buf, 0, -1, false)
end

local function transcript_done()
  local lines = require("vivavoce.transcript").lines()
  local user, assistant = false, false
  for _, line in ipairs(lines) do
    user = user or line == "You: tell me about the weather"
    assistant = assistant or (line:match("^Assistant: ") ~= nil and not line:match(" …$"))
  end
  return user and assistant
end

local function session()
  step("help")
  -- From the plugin's own runtimepath entry (neovim_init.lua prepends it): its shipped doc/tags.
  result.help = {}
  for _, tag in ipairs({ "vivavoce", "vivavoce-setup", ":Vivavoce", "vivavoce.statusline()", "vivavoce-health", "vivavoce-offline" }) do
    local ok = pcall(vim.cmd, "help " .. tag)
    local shown = ok and vim.bo.filetype == "help" and vim.fn.expand("%:p") == plugin .. "/doc/vivavoce.txt"
    table.insert(result.help, { tag = tag, ok = shown })
    if ok then
      vim.cmd("helpclose")
    end
  end
  -- doc/tags is what :helptags makes of the doc as it is now.
  local doc = scratch .. "/doc"
  vim.fn.mkdir(doc, "p")
  vim.fn.writefile(vim.fn.readfile(plugin .. "/doc/vivavoce.txt"), doc .. "/vivavoce.txt")
  vim.cmd("helptags " .. vim.fn.fnameescape(doc))
  result.tags_made = vim.fn.readfile(doc .. "/tags")
  result.tags_shipped = vim.fn.filereadable(plugin .. "/doc/tags") == 1 and vim.fn.readfile(plugin .. "/doc/tags") or {}

  step("health")
  vim.cmd("checkhealth vivavoce")
  result.health = api.nvim_buf_get_lines(0, 0, -1, false)
  vim.cmd("bwipeout!")

  step("completion")
  result.completion = vim.fn.getcompletion("Vivavoce ", "cmdline")
  result.completion_start = vim.fn.getcompletion("Vivavoce start ", "cmdline")

  step("not running")
  vim.cmd("Vivavoce stop") -- nothing to stop: silent
  vivavoce.send_text("hello")
  vim.cmd("Vivavoce mute")
  vim.cmd("Vivavoce ptt")
  vim.cmd("Vivavoce frobnicate")
  result.statusline_idle = vivavoce.statusline()

  step("start")
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  api.nvim_win_set_cursor(0, { 2, 0 })
  local file_win = api.nvim_get_current_win()
  vim.cmd("Vivavoce start")
  wait(20000, function() -- spawn, import, embedded peer, WebRTC: ~2-6 s on a busy machine
    return vivavoce.status().state == "live"
  end, "the call to be live")
  result.window_kept = api.nvim_get_current_win() == file_win
  result.live = vivavoce.status()

  step("sendText")
  local transcript = require("vivavoce.transcript")
  local update = transcript.update
  result.transcript_snapshots = {}
  transcript.update = function(params) -- snapshot the buffer after every notification
    update(params)
    table.insert(result.transcript_snapshots, transcript.lines())
  end
  vivavoce.send_text("tell me about the weather")
  wait(15000, function()
    return transcript_done() and file_lines()[2] ~= "first line"
  end, "both sides in the transcript and the reply in the file")
  result.transcript = require("vivavoce.transcript").lines()
  result.file = file_lines()

  step("context")
  api.nvim_win_set_cursor(0, { 1, 2 })
  vim.cmd("normal! v")
  vim.cmd("normal! l")
  vim.cmd("normal! \27")
  vim.wait(300) -- the debounced realtime/context goes out; the server must not complain

  step("positions")
  -- UTF-16 (the LSP default) counts the emoji as 2 units, UTF-8 as 4 bytes, "é" as 1 / 2.
  local ctx = require("vivavoce.context")
  local probe = api.nvim_create_buf(false, true)
  api.nvim_buf_set_lines(probe, 0, -1, false, { "héllo 🎙 world", "next" })
  local emoji = #"héllo " -- byte where the emoji starts
  result.positions = {
    utf16 = ctx.selection_range(probe, "v", { 0, emoji }, { 0, 1 }, "utf-16"),
    utf8 = ctx.selection_range(probe, "v", { 0, emoji }, { 0, 1 }, "utf-8"),
    line = ctx.selection_range(probe, "V", { 1, 2 }, { 0, 4 }, "utf-16"),
  }
  api.nvim_buf_delete(probe, { force = true })

  step("mute")
  vim.cmd("Vivavoce mute")
  wait(5000, function()
    return vivavoce.status().muted
  end, "muted")
  result.muted_statusline = vivavoce.statusline()
  vim.cmd("Vivavoce mute off")
  wait(5000, function()
    return not vivavoce.status().muted
  end, "unmuted")

  step("ptt")
  api.nvim_feedkeys(api.nvim_replace_termcodes("<F4>", true, false, true), "mx", false)
  wait(5000, function()
    return vivavoce.status().pushToTalk
  end, "push to talk pressed")
  result.ptt_statusline = vivavoce.statusline()
  api.nvim_feedkeys(api.nvim_replace_termcodes("<F4>", true, false, true), "mx", false)
  wait(5000, function()
    return not vivavoce.status().pushToTalk
  end, "push to talk released")

  step("toggle")
  vim.cmd("Vivavoce toggle")
  wait(10000, function()
    return vivavoce.status().mode == "text"
  end, "text mode")
  result.text_statusline = vivavoce.statusline()
  result.text_status = vivavoce.status()

  step("send in text mode")
  vim.cmd("Vivavoce send and  the tests")
  wait(15000, function()
    local lines = transcript.lines()
    return #lines >= 4 and lines[3] == "You: and  the tests" and lines[4]:match("^Assistant: .*[^…]$") ~= nil
  end, "the text-mode reply")
  result.text_transcript = transcript.lines()
  local second = result.text_transcript[4]:gsub("^Assistant: ", "")
  vim.wait(5000, function() -- the server inserts it after the notification
    return vim.tbl_contains(file_lines(), second)
  end, 10)
  result.text_file = file_lines()

  step("code")
  result.sent_before_code = #result.sent -- this step moves the cursor again
  -- Asked for code, the assistant shows it beside the file; the cursor stays in the file.
  local code = require("vivavoce.code")
  api.nvim_set_current_win(file_win)
  vim.cmd("Vivavoce send write a function that adds two numbers in python")
  wait(15000, function()
    return code.window() ~= nil and vim.b[api.nvim_win_get_buf(code.window())].vivavoce_code ~= nil
  end, "the code window")
  local code_buf = api.nvim_win_get_buf(code.window())
  result.code = {
    lines = api.nvim_buf_get_lines(code_buf, 0, -1, false),
    filetype = vim.bo[code_buf].filetype,
    modifiable = vim.bo[code_buf].modifiable,
    cursor_kept = api.nvim_get_current_win() == file_win,
  }
  -- :Vivavoce insertCode puts it at the cursor of the file (line 1 here).
  api.nvim_win_set_cursor(file_win, { 1, 0 })
  vim.cmd("Vivavoce insertCode")
  wait(5000, function()
    return file_lines()[1] == "def add(a, b):"
  end, "the code in the file")
  result.code.file = file_lines()
  -- <CR> in the code window inserts it into the file the user came from, at its cursor.
  api.nvim_win_set_cursor(file_win, { 3, 0 })
  api.nvim_set_current_win(code.window())
  api.nvim_feedkeys(api.nvim_replace_termcodes("<CR>", true, false, true), "mx", false)
  wait(5000, function()
    return file_lines()[3] == "def add(a, b):"
  end, "the code inserted from its window")
  result.code.file_again = file_lines()
  api.nvim_set_current_win(file_win)

  step("devices")
  local offered = nil
  local select = vim.ui.select
  vim.ui.select = function(items, _, on_choice)
    offered = items
    on_choice(nil) -- the user cancels
  end
  local function answered(phase)
    return function()
      if offered then
        return true
      end
      for _, note in ipairs(test.notes) do
        if note.phase == phase then
          return true
        end
      end
      return false
    end
  end
  vim.cmd("Vivavoce devices")
  wait(5000, answered("devices"), "devices offered or refused")
  result.devices_offered = offered or vim.NIL

  step("history")
  offered = nil
  local windows = #api.nvim_list_wins()
  vim.cmd("Vivavoce history")
  wait(5000, function()
    return answered("history")() or #api.nvim_list_wins() ~= windows or vim.fn.bufname() ~= file
  end, "history shown or refused")
  vim.ui.select = select

  step("stop")
  vim.cmd("Vivavoce stop")
  wait(10000, function()
    return vivavoce.status().state == "idle"
  end, "idle")
  result.after_stop = vivavoce.statusline()

  -- A status the server sends when the devices failed (this session runs without any): shown.
  local status = require("vivavoce.status")
  status.update({ state = "live", mode = "realtime", voice = "verse", audioError = "no microphone" })
  result.no_audio_statusline = vivavoce.statusline()
  status.update({ state = "live", mode = "realtime", voice = "verse" }) -- null: decoded as nil
  result.audio_statusline = vivavoce.statusline()
  -- Dictation (text mode's push to talk) needs a microphone this session lacks: what the server
  -- sends while the key records — in a text conversation, before one started, and from an older
  -- server that sends no `audio`.
  status.update({ state = "live", mode = "text", voice = "echo", pushToTalk = true, audio = "dictating", inputLevel = -20 })
  result.dictating_statusline = vivavoce.statusline()
  status.update({ state = "idle", mode = "text", voice = "echo", pushToTalk = true, audio = "dictating" })
  result.dictating_idle_statusline = vivavoce.statusline()
  status.update({ state = "live", mode = "text", voice = "echo", pushToTalk = true })
  result.dictating_older_statusline = vivavoce.statusline()
  -- What the conversation cost, last; a call hung up for silence says so while idle.
  local usage = { inputTokens = 900, outputTokens = 300, costUsd = 0.0123 }
  status.update({ state = "live", mode = "realtime", voice = "verse", usage = usage })
  result.cost_statusline = vivavoce.statusline()
  result.cost_component = vivavoce.cost()
  status.update({ state = "idle", mode = "realtime", voice = "verse", hungUpAfter = 120, usage = usage })
  result.hung_up_statusline = vivavoce.statusline()
  status.update({ state = "idle", mode = "realtime", voice = "verse", hungUpAfter = 3 })
  result.hung_up_short_statusline = vivavoce.statusline()
  -- Listening for the wake word (no call): its own label, never LIVE; an older server's status
  -- (no `audio`) reads the same from its state.
  status.update({ state = "listening", mode = "realtime", voice = "verse", audio = "wake", inputLevel = -50 })
  result.wake_statusline = vivavoce.statusline()
  status.update({ state = "listening", mode = "realtime", voice = "verse" })
  result.wake_older_statusline = vivavoce.statusline()
  status.reset()
end

local ok, err = xpcall(session, debug.traceback)
step("end")
result.failure = ok and vim.NIL or tostring(err)
result.status = vivavoce.status()
result.notes = test.notes
result.globals = test.globals
result.messages = vim.fn.execute("messages")
local log = vim.lsp.get_log_path and vim.lsp.get_log_path()
if log and vim.fn.filereadable(log) == 1 then
  local lines = vim.fn.readfile(log)
  result.lsp_log_tail = vim.list_slice(lines, math.max(1, #lines - 40))
  result.context_refused = vim.fn.match(lines, "ignored realtime/context") >= 0
end
vim.fn.writefile({ vim.json.encode(result) }, out_path)
vim.cmd("qa!")
