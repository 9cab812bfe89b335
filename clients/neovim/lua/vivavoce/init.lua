-- vivavoce: the public Lua API of the Neovim client (what :Vivavoce and the push-to-talk key
-- call, and what users may call from their own mappings and statuslines).
--
--   require("vivavoce").setup({ settings = { voice = "verse" }, ptt_key = "<F4>" })
--   require("vivavoce").statusline()
local M = {}

local api = vim.api
local client = require("vivavoce.client")
local config = require("vivavoce.config")
local context = require("vivavoce.context")
local say = require("vivavoce.notify")
local status = require("vivavoce.status")
local transcript = require("vivavoce.transcript")

local ptt_mapped = nil -- the key setup() mapped, so a second setup() can move it

--- Configures the plugin (see `:help vivavoce-setup`). Safe to call again.
function M.setup(opts)
  local ok, err = pcall(config.set, opts)
  if not ok then
    say.error(err)
    return
  end
  local options = config.get()
  if ptt_mapped then
    pcall(vim.keymap.del, { "n", "i" }, ptt_mapped)
    ptt_mapped = nil
  end
  if options.ptt_key then
    vim.keymap.set({ "n", "i" }, options.ptt_key, M.push_to_talk, { desc = "vivavoce: push to talk (toggle)" })
    ptt_mapped = options.ptt_key
  end
  if client.is_running() then -- new settings reach a running server at once
    client.change_settings(options.settings)
  end
end

--- Starts the server if needed and the call. `opts`: { mode = "realtime"|"text", voice, model,
--- instructions }. Replies are inserted at the cursor of the current buffer (when the server's
--- insertTranscripts setting says so).
function M.start(opts)
  opts = opts or {}
  local win = api.nvim_get_current_win()
  local buf = api.nvim_win_get_buf(win)
  local cursor = api.nvim_win_get_cursor(win)
  if not client.start(buf) then
    return
  end
  local options = config.get()
  if options.transcript.enabled and options.transcript.open then
    transcript.open(options.transcript.open)
  end
  client.with_client(function(c)
    local params = { mode = opts.mode, voice = opts.voice, model = opts.model, instructions = opts.instructions }
    if context.attachable(buf) and client.attach(buf) then
      params.textDocument = { uri = vim.uri_from_bufnr(buf) }
      params.position = context.position(buf, cursor[1] - 1, cursor[2], c.offset_encoding)
    end
    client.request("realtime/start", params, opts.on_result)
  end)
end

--- Ends the call (the server keeps running, ready for the next :Vivavoce start).
function M.stop()
  if client.is_running() then
    client.request("realtime/stop")
  end
end

--- Dictation on or off: what you say is written at the cursor as you say it (no assistant).
function M.dictate()
  local now = status.get()
  local on = now.mode == "dictation" and (now.state == "live" or now.state == "connecting")
  if on then
    M.stop()
  else
    M.start({ mode = "dictation" })
  end
end

--- Switches between a spoken call and text chat (with spoken replies).
function M.toggle()
  client.request("realtime/toggleMode")
end

--- Push to talk, as a toggle (terminals send no key-up): press → talk, press again → send.
--- `pressed` forces a state.
function M.push_to_talk(pressed)
  if pressed == nil then
    pressed = not status.get().pushToTalk
  end
  client.request("realtime/pushToTalk", { pressed = pressed })
end

--- Mutes or unmutes the microphone (toggles without an argument).
function M.mute(muted)
  if muted == nil then
    muted = not status.get().muted
  end
  client.request("realtime/mute", { muted = muted })
end

--- Stops the assistant now.
function M.interrupt()
  client.request("realtime/interrupt")
end

--- Sends a typed turn to the conversation.
function M.send_text(text)
  if type(text) ~= "string" or text == "" then
    say.warn("nothing to send")
    return
  end
  client.request("realtime/sendText", { text = text })
end

--- Inserts the code the assistant showed last (or the one with `id`) at the cursor.
function M.insert_code(id)
  require("vivavoce.code").insert(id)
end

--- Picks the microphone ("input", default) or speaker ("output") with vim.ui.select.
function M.devices(kind)
  require("vivavoce.devices").choose(kind or "input")
end

--- Opens the conversation history the server keeps.
function M.history()
  require("vivavoce.history").open()
end

--- Shows the transcript window.
function M.transcript()
  transcript.open(config.get().transcript.open or "botright 10split")
end

--- Statusline component: "" when idle, else e.g. "LIVE verse PTT ▅ $0.012", "TEXT alloy muted".
function M.statusline()
  return status.statusline()
end

--- Statusline component: what the conversation has cost so far, e.g. "$0.012" ("" until billed).
function M.cost()
  return status.cost()
end

--- The last status the server sent (a copy): { state, mode, voice, model, muted, pushToTalk, … }.
function M.status()
  return status.get()
end

--- Whether the server process runs.
function M.is_running()
  return client.is_running()
end

return M
