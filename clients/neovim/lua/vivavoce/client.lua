-- vivavoce.client: the one `vivavoce lsp` client. Starts it (vim.lsp.start or, on 0.7,
-- vim.lsp.start_client), attaches buffers, queues requests until `initialize` is done, routes the
-- server's notifications to the status and transcript modules, and reports failures.
-- Nothing here runs unless the user starts vivavoce; every call is safe when it is not running.
local M = {}

local api = vim.api
local compat = require("vivavoce.compat")
local config = require("vivavoce.config")
local context = require("vivavoce.context")
local say = require("vivavoce.notify")
local status = require("vivavoce.status")
local transcript = require("vivavoce.transcript")
local undo = require("vivavoce.undo")

local NAME = "vivavoce"
local GROUP = "vivavoce_client"

local client_id = nil
local ready = false
local waiting = {} -- functions(client) to run once initialized
local stopping = false -- we asked the server to stop: its exit is no news
local last_exit = nil -- why the last server went away, when it was not asked to (one line)
local log_start = 0 -- the size of Neovim's LSP log when the server started (its stderr lands there)
local no_audio_said = false -- "no audio devices" is said once per Neovim session

local MESSAGE_LEVELS = { vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO, vim.log.levels.DEBUG }

local function on_show_message(_, result)
  if type(result) == "table" and result.message then
    -- The server repeats it on every start and toggle; the statusline keeps saying "no audio".
    if result.message:find("no audio devices", 1, true) then
      if no_audio_said then
        return vim.NIL
      end
      no_audio_said = true
    end
    say.say(result.message, MESSAGE_LEVELS[result.type] or vim.log.levels.INFO)
  end
  return vim.NIL
end

-- Neovim's own handler keeps the progress for `vim.lsp.status()`, fidget & co.; we tell the user
-- that a call is connecting and when it is up. A failed start is reported by the request itself.
local function on_progress(err, result, ctx, cfg)
  local default = vim.lsp.handlers["$/progress"]
  if default then
    pcall(default, err, result, ctx, cfg)
  end
  local value = type(result) == "table" and result.value or nil
  if type(value) ~= "table" then
    return
  end
  if value.kind == "begin" then
    say.info(((value.message or "connecting"):lower()) .. "…")
  elseif value.kind == "end" and value.message and not value.message:match("^failed") then
    say.info(value.message)
  end
end

local function handlers()
  return {
    ["realtime/status"] = function(_, result)
      status.update(result)
    end,
    ["realtime/transcript"] = function(_, result)
      if config.get().transcript.enabled then
        transcript.update(result)
      end
    end,
    ["realtime/code"] = function(_, result)
      require("vivavoce.code").show(result)
    end,
    ["window/showMessage"] = on_show_message,
    ["$/progress"] = on_progress,
    ["workspace/applyEdit"] = undo.handler,
  }
end

--- The running client, or nil.
function M.get()
  if not client_id then
    return nil
  end
  local client = vim.lsp.get_client_by_id(client_id)
  if not client or compat.is_stopped(client) then
    return nil
  end
  return client
end

function M.is_running()
  return M.get() ~= nil
end

--- Why the last server went away without being asked (one line), or nil.
function M.last_exit()
  return last_exit
end

local function send_context(buf)
  local client = M.get()
  if client and ready and vim.lsp.buf_is_attached(buf, client.id) then
    compat.notify(client, "realtime/context", context.params(client.offset_encoding))
  end
end

--- Attaches `buf` (a normal file buffer) to the running client and follows its cursor.
function M.attach(buf)
  local client = M.get()
  if not client or not context.attachable(buf) then
    return false
  end
  if not vim.lsp.buf_is_attached(buf, client.id) then
    vim.lsp.buf_attach_client(buf, client.id)
  end
  context.track(buf)
  return true
end

local function forget()
  client_id, ready, waiting, stopping = nil, false, {}, false
  context.untrack_all()
  pcall(api.nvim_del_augroup_by_name, GROUP)
  status.reset()
end

local function log_path()
  local ok, path = pcall(vim.lsp.get_log_path)
  return ok and path or nil
end

-- vim.inspect's escapes back to the text.
local ESCAPES = { n = "\n", t = "\t", r = "\r", ['"'] = '"', ["\\"] = "\\" }
local function unescape(text)
  return (text:gsub("\\(.)(%d?%d?)", function(char, digits)
    if char:match("%d") then
      return string.char(tonumber(char .. digits) % 256)
    end
    return (ESCAPES[char] or char) .. digits
  end))
end

-- The last line the server wrote to stderr since it started: Neovim logs stderr in its LSP log
-- (at ERROR, which the default level keeps) as `"rpc" <cmd> "stderr" "<chunk>"`.
local function last_stderr_line(program)
  local path = log_path()
  local file = path and io.open(path, "r")
  if not file then
    return nil
  end
  local size = file:seek("end")
  file:seek("set", math.max(log_start, size - 65536))
  local text = file:read("*a") or ""
  file:close()
  local chunks = {}
  for line in text:gmatch("[^\n]+") do
    local who, chunk = line:match('"rpc"%s+(.-)%s+"stderr"%s+(".*")%s*$')
    if chunk and (not program or who:find(program, 1, true)) then
      table.insert(chunks, unescape(chunk:sub(2, -2)))
    end
  end
  local last = nil
  for out in table.concat(chunks):gmatch("[^\n]+") do
    if out:match("%S") then
      last = vim.trim(out)
    end
  end
  return last
end

-- The server went away without being asked: say so, with its exit code and last stderr line.
local function report_exit(code, signal, was_ready, program)
  local how = signal ~= 0 and string.format("signal %d", signal) or string.format("exit code %d", code)
  local line = last_stderr_line(program)
  last_exit = string.format("the server exited %s(%s)%s", was_ready and "" or "at start ", how, line and (": " .. line) or "")
  say.error(last_exit .. "; :Vivavoce start starts a new one")
end

local function server_config(opts)
  local settings = opts.settings
  return {
    name = NAME,
    cmd = opts.cmd,
    root_dir = opts.root_dir or vim.fn.getcwd(),
    init_options = { vivavoce = settings },
    capabilities = undo.capabilities(),
    settings = { vivavoce = settings }, -- answers workspace/configuration
    handlers = handlers(),
    on_init = function(client)
      -- After the didOpen of buffers attached before initialize went out.
      vim.schedule(function()
        if client.id ~= client_id then
          return
        end
        ready = true
        local queued = waiting
        waiting = {}
        for _, fn in ipairs(queued) do
          fn(client)
        end
      end)
    end,
    on_exit = function(code, signal, id)
      vim.schedule(function()
        if id ~= client_id then
          return
        end
        local was_ready, asked = ready, stopping
        forget()
        if not asked and (code ~= 0 or (signal or 0) ~= 0) then
          report_exit(code or 0, signal or 0, was_ready, type(opts.cmd) == "table" and opts.cmd[1] or nil)
        end
      end)
    end,
  }
end

--- Starts the server unless it runs; attaches `buf` when it is a file buffer. Returns true when
--- a client runs (or is starting).
function M.start(buf)
  if M.get() then
    if buf then
      M.attach(buf)
    end
    return true
  end
  local opts = config.get()
  local cmd = opts.cmd
  if type(cmd) == "table" and (type(cmd[1]) ~= "string" or vim.fn.executable(cmd[1]) ~= 1) then
    say.error(
      string.format(
        "cannot start the server: '%s' is not executable (pip install vivavoce, or set cmd in setup())",
        tostring(cmd[1])
      )
    )
    return false
  end
  local target = (buf and context.attachable(buf)) and buf or nil
  local path = log_path()
  log_start = path and math.max(0, vim.fn.getfsize(path)) or 0
  local ok, id = pcall(compat.start_client, server_config(opts), target)
  if not ok or not id then
    say.error("cannot start the server" .. (ok and "" or (": " .. tostring(id))))
    return false
  end
  client_id, ready, waiting, stopping, last_exit = id, false, {}, false, nil
  context.configure(send_context, opts.context_debounce)
  if target then
    context.track(target)
  end
  if opts.follow_buffers then
    local group = api.nvim_create_augroup(GROUP, { clear = true })
    api.nvim_create_autocmd("BufEnter", {
      group = group,
      callback = function(args)
        M.attach(args.buf)
      end,
      desc = "vivavoce: follow the buffers you work in",
    })
  end
  return true
end

--- Runs `fn(client)` now if the client is initialized, after initialize if it is starting;
--- otherwise tells the user vivavoce is not running.
function M.with_client(fn)
  local client = M.get()
  if not client then
    if client_id then
      return -- it has just exited; its on_exit says why
    end
    say.warn(
      last_exit and ("not running: " .. last_exit .. " (start it again with :Vivavoce start)")
        or "not running (start it with :Vivavoce start)"
    )
    return
  end
  if ready then
    fn(client)
  else
    table.insert(waiting, fn)
  end
end

local function short(method)
  return (method:gsub("^realtime/", ""))
end

--- Sends a request; `on_result(result)` on success. Errors are shown (one line) unless
--- `on_error(err)` is given and returns true.
function M.request(method, params, on_result, on_error)
  M.with_client(function(client)
    compat.request(client, method, params or vim.empty_dict(), function(err, result)
      if err then
        if not (on_error and on_error(err)) then
          say.error(short(method) .. ": " .. tostring(err.message or err))
        end
        return
      end
      if type(result) == "table" and result.state then
        status.update(result) -- requests that answer with a status
      end
      if on_result then
        on_result(result)
      end
    end)
  end)
end

--- Whether the server lists `command` in its executeCommandProvider (nil: it does not say).
function M.has_command(command)
  local client = M.get()
  local caps = client and client.server_capabilities
  local provider = caps and caps.executeCommandProvider
  if type(provider) ~= "table" or type(provider.commands) ~= "table" then
    return nil
  end
  return vim.tbl_contains(provider.commands, command)
end

--- Sends `workspace/executeCommand`; tells the user (once, as a warning) when the server does not
--- know the command, e.g. an older server.
function M.execute(command, arguments, on_result, what)
  M.with_client(function()
    if M.has_command(command) == false then
      say.warn(string.format("%s needs a newer server (it has no %s command)", what, command))
      return
    end
    M.request("workspace/executeCommand", { command = command, arguments = arguments or {} }, on_result, function(err)
      local message = tostring(err.message or err)
      if err.code == -32601 or message:find(command, 1, true) then
        say.warn(string.format("%s is not supported by this server (%s)", what, message))
        return true
      end
    end)
  end)
end

--- Changes server settings (merged into the section given to setup) and tells the server.
function M.change_settings(changes)
  local opts = config.get()
  for key, value in pairs(changes) do
    opts.settings[key] = value
  end
  local client = M.get()
  if client then
    -- Neovim 0.11 answers workspace/configuration (and sends its own didChangeConfiguration
    -- after initialize) from client.settings, 0.7 reads client.config.settings: both hold the
    -- new section, so the server's next pull keeps the change instead of undoing it.
    local section = { vivavoce = opts.settings }
    client.config.settings = section
    client.settings = section
    if ready then
      compat.notify(client, "workspace/didChangeConfiguration", { settings = { vivavoce = changes } })
    end
  end
end

--- Stops the server process (the call ends with it).
function M.shutdown()
  local client = M.get()
  if client then
    stopping = true
    compat.stop(client)
  end
end

return M
