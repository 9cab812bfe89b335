-- vivavoce.status: the last `realtime/status` the server sent, and the statusline text made
-- from it. Every change fires `User VivavoceStatus` and redraws the statuslines.
local M = {}

local IDLE = { state = "idle", mode = "realtime", muted = false, pushToTalk = false, inputLevel = 0 }
local current = vim.deepcopy(IDLE)

local LEVEL_BARS = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" }

local function changed()
  pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "VivavoceStatus", modeline = false })
  pcall(vim.cmd, "redrawstatus!")
end

--- Takes a status object from the server (notification or request result).
function M.update(status)
  if type(status) ~= "table" or type(status.state) ~= "string" then
    return
  end
  current = vim.deepcopy(status)
  changed()
end

--- Back to idle (the server went away).
function M.reset()
  current = vim.deepcopy(IDLE)
  changed()
end

--- A copy of the last status.
function M.get()
  return vim.deepcopy(current)
end

-- inputLevel is dBFS (−60 … 0); exactly 0 means "no microphone level known".
local function level_bar(dbfs)
  if type(dbfs) ~= "number" or dbfs >= 0 then
    return nil
  end
  local fraction = math.max(0, math.min(1, (dbfs + 60) / 60))
  return LEVEL_BARS[math.floor(fraction * (#LEVEL_BARS - 1)) + 1]
end

local LABELS = {
  connecting = "vivavoce: connecting",
  reconnecting = "vivavoce: reconnecting",
  closing = "vivavoce: closing",
  error = "vivavoce: error",
  listening = "WAKE WORD", -- no call: listened to on this machine for the wake word only
}

--- What the microphone is doing: "live" (a realtime call is open and the microphone streams
--- to it, billed by the minute), "dictating" (text mode's push to talk records a turn), "wake"
--- (no call: listened to on this machine for the wake word, nothing sent) or "off".
--- The server's `audio`, or the same rule for an older server that does not send it.
function M.audio(s)
  s = s or current
  if s.audio == "live" or s.audio == "dictating" or s.audio == "wake" or s.audio == "off" then
    return s.audio
  end
  if s.state == "listening" then
    return "wake"
  end
  if s.mode == "text" then
    return s.pushToTalk and "dictating" or "off"
  end
  return s.state == "live" and "live" or "off"
end

--- USD as the server's history shows it: "$0.012" (five decimals under a tenth of a cent).
local function usd(amount)
  if amount > 0 and amount < 0.001 then
    return string.format("$%.5f", amount)
  end
  return string.format("$%.3f", amount)
end

--- What the conversation has cost so far, e.g. "$0.012" ("" before anything was billed):
--- a statusline component of its own (statusline() ends with it too).
function M.cost(s)
  s = s or current
  local usage = type(s.usage) == "table" and s.usage or nil
  if not usage or type(usage.costUsd) ~= "number" or usage.costUsd <= 0 then
    return ""
  end
  return usd(usage.costUsd)
end

--- How long a call waited in silence before the server hung it up: "2 min", "90 s".
local function idle_words(seconds)
  if seconds >= 60 and seconds % 60 == 0 then
    return string.format("%d min", seconds / 60)
  end
  return string.format("%g s", seconds)
end

--- Statusline text: "" when idle (or "idle (hung up after 2 min)" when the server hung up a
--- silent call), e.g. "LIVE verse PTT ▅ $0.012" (the cost last), "TEXT echo muted",
--- "DICTATING echo ▅", "WAKE WORD ▂" (listening for the wake word, no call) or "LIVE verse no
--- audio" (the microphone/speaker failed; the conversation goes on) otherwise. LIVE only while
--- a realtime call streams the microphone.
--- Safe to call from any statusline ('%' is escaped).
function M.statusline()
  local s = current
  local audio = M.audio(s)
  local cost = M.cost(s)
  if s.state == "idle" and type(s.hungUpAfter) == "number" and audio ~= "dictating" then
    -- The call was hung up for silence: push to talk or typed text calls again.
    local idle = "idle (hung up after " .. idle_words(s.hungUpAfter) .. ")"
    return ((cost ~= "" and idle .. " " .. cost or idle):gsub("%%", "%%%%"))
  end
  if s.state == "idle" and audio ~= "dictating" then
    return ""
  end
  local label = LABELS[s.state] or (audio == "live" and "LIVE" or "TEXT")
  if audio == "dictating" then
    label = "DICTATING" -- the microphone records, whatever the conversation's state
  end
  local parts = { label }
  if s.state == "live" or audio == "dictating" or audio == "wake" then
    if type(s.voice) == "string" and s.voice ~= "" and audio ~= "wake" then
      table.insert(parts, s.voice)
    end
    if s.muted then
      table.insert(parts, "muted")
    end
    if s.pushToTalk and audio == "live" then
      table.insert(parts, "PTT")
    end
    if type(s.audioError) == "string" then
      table.insert(parts, "no audio") -- the devices failed; the call goes on without them
    end
    local bar = audio ~= "off" and not s.muted and level_bar(s.inputLevel)
    if bar then
      table.insert(parts, bar)
    end
  end
  if cost ~= "" then
    table.insert(parts, cost) -- what the conversation has cost so far
  end
  return (table.concat(parts, " "):gsub("%%", "%%%%"))
end

return M
