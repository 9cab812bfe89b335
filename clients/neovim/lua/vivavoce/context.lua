-- vivavoce.context: where the user works. Builds LSP positions/selections from the cursor, and
-- sends `realtime/context` (debounced) when the cursor or mode changes in attached buffers, so
-- the server knows where to insert and what "this" refers to.
local M = {}

local api = vim.api
local compat = require("vivavoce.compat")

local GROUP = "vivavoce_context"
local tracked = {} -- bufnr -> true
local timer = nil
local delay = 150
local sender = nil -- function(params): sends the notification (set by vivavoce.client)

--- A buffer vivavoce can attach: a loaded, named, normal file buffer.
function M.attachable(buf)
  return buf ~= nil
    and api.nvim_buf_is_valid(buf)
    and api.nvim_buf_is_loaded(buf)
    and vim.bo[buf].buftype == ""
    and api.nvim_buf_get_name(buf) ~= ""
end

local function units(buf, row, byte, encoding)
  local ok, n = pcall(vim.lsp.util.character_offset, buf, row, byte, encoding)
  return ok and n or byte
end

--- LSP position of (0-based row, 0-based byte column) in `buf`.
function M.position(buf, row, byte, encoding)
  return { line = row, character = units(buf, row, byte, encoding or "utf-16") }
end

--- The cursor of `win` as an LSP position.
function M.cursor(win, encoding)
  local buf = api.nvim_win_get_buf(win)
  local cursor = api.nvim_win_get_cursor(win)
  return M.position(buf, cursor[1] - 1, cursor[2], encoding)
end

--- The LSP range (end exclusive) a visual selection in `mode` ("v", "V" or CTRL-V) covers, from
--- `from` to `to` ({row, byte}, 0-based, either order, `to` on the last selected character).
function M.selection_range(buf, mode, from, to, encoding)
  local s, e = { from[1], from[2] }, { to[1], to[2] }
  if e[1] < s[1] or (e[1] == s[1] and e[2] < s[2]) then
    s, e = e, s
  end
  local end_line = api.nvim_buf_get_lines(buf, e[1], e[1] + 1, false)[1] or ""
  local end_byte
  if mode == "V" then
    s[2] = 0
    end_byte = #end_line
  else -- past the last selected character, however many bytes it has
    end_byte = math.min(#end_line, e[2] + #vim.fn.strcharpart(end_line:sub(e[2] + 1), 0, 1))
  end
  return {
    start = M.position(buf, s[1], s[2], encoding),
    ["end"] = M.position(buf, e[1], end_byte, encoding),
  }
end

-- The visual selection of the current window, or nil outside Visual mode.
local function selection(buf, encoding)
  local mode = api.nvim_get_mode().mode:sub(1, 1)
  if mode ~= "v" and mode ~= "V" and mode ~= "\22" then
    return nil
  end
  local a, b = vim.fn.getpos("v"), vim.fn.getpos(".")
  return M.selection_range(buf, mode, { a[2] - 1, a[3] - 1 }, { b[2] - 1, b[3] - 1 }, encoding)
end

--- The `realtime/context` params for the current window.
function M.params(encoding)
  local win = api.nvim_get_current_win()
  local buf = api.nvim_win_get_buf(win)
  return {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = M.cursor(win, encoding),
    selection = selection(buf, encoding),
  }
end

local function fire()
  local buf = api.nvim_get_current_buf()
  if sender and tracked[buf] then
    sender(buf)
  end
end

--- Sends the context after `delay` ms of quiet.
function M.schedule()
  if not timer then
    timer = compat.uv.new_timer()
  end
  timer:stop()
  timer:start(delay, 0, vim.schedule_wrap(fire))
end

--- `send(buf)` is called (on the main loop) when the context of `buf` should go out.
function M.configure(send, debounce_ms)
  sender = send
  delay = debounce_ms or delay
end

--- Starts following the cursor in `buf`.
function M.track(buf)
  if tracked[buf] then
    return
  end
  tracked[buf] = true
  local group = api.nvim_create_augroup(GROUP, { clear = false })
  api.nvim_create_autocmd({ "CursorMoved", "CursorMovedI", "ModeChanged" }, {
    group = group,
    buffer = buf,
    callback = M.schedule,
    desc = "vivavoce: tell the server where the cursor is",
  })
  api.nvim_create_autocmd("BufWipeout", {
    group = group,
    buffer = buf,
    callback = function()
      tracked[buf] = nil
    end,
  })
end

--- Stops following every buffer and the timer (the server went away).
function M.untrack_all()
  tracked = {}
  pcall(api.nvim_del_augroup_by_name, GROUP)
  if timer then
    timer:stop()
    timer:close()
    timer = nil
  end
end

return M
