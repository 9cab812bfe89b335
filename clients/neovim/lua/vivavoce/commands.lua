-- vivavoce.commands: the :Vivavoce user command — its subcommands, arguments and completion.
local M = {}

local say = require("vivavoce.notify")

local function vivavoce()
  return require("vivavoce")
end

local function on_off(arg)
  if arg == "on" then
    return true
  elseif arg == "off" then
    return false
  end
end

-- name -> { run = function(args, raw_args), args = completion candidates for the first argument }
M.subcommands = {
  start = {
    run = function(args)
      vivavoce().start({ mode = args[1] })
    end,
    args = { "realtime", "text", "dictation" },
  },
  dictate = { run = function() vivavoce().dictate() end },
  stop = { run = function() vivavoce().stop() end },
  toggle = { run = function() vivavoce().toggle() end },
  ptt = { run = function(args) vivavoce().push_to_talk(on_off(args[1])) end, args = { "on", "off" } },
  mute = { run = function(args) vivavoce().mute(on_off(args[1])) end, args = { "on", "off" } },
  interrupt = { run = function() vivavoce().interrupt() end },
  insertCode = { run = function(args) vivavoce().insert_code(args[1]) end },
  send = {
    run = function(_, raw) -- the text exactly as typed after "send"
      vivavoce().send_text((raw:gsub("^%s*send%s*", "")))
    end,
  },
  devices = { run = function(args) vivavoce().devices(args[1]) end, args = { "input", "output" } },
  history = { run = function() vivavoce().history() end },
  transcript = { run = function() vivavoce().transcript() end },
  shutdown = { run = function() require("vivavoce.client").shutdown() end },
}

local function names()
  local list = vim.tbl_keys(M.subcommands)
  table.sort(list)
  return list
end

--- Runs `:Vivavoce {sub} {args}` (the user-command callback).
function M.run(opts)
  local args = vim.split(opts.args or "", "%s+", { trimempty = true })
  local name = table.remove(args, 1)
  local sub = name and M.subcommands[name]
  if not sub then
    say.warn(
      (name and ("unknown subcommand '" .. name .. "'") or "which subcommand?") .. "; one of: " .. table.concat(names(), ", ")
    )
    return
  end
  sub.run(args, opts.args or "")
end

--- Completion for `:Vivavoce `.
function M.complete(arg_lead, cmdline)
  local words = vim.split(cmdline, "%s+", { trimempty = true })
  local typing_new_word = cmdline:match("%s$") ~= nil
  local position = #words + (typing_new_word and 1 or 0) -- 2: subcommand, 3: its argument
  local candidates = {}
  if position <= 2 then
    candidates = names()
  elseif position == 3 then
    local sub = M.subcommands[words[2]]
    candidates = sub and sub.args or {}
  end
  return vim.tbl_filter(function(c)
    return c:sub(1, #arg_lead) == arg_lead
  end, candidates)
end

return M
