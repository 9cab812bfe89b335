-- vivavoce.transcript: the transcript buffer (scratch, 'nofile'). It shows both sides of the
-- conversation as `realtime/transcript` notifications arrive: a turn's line is replaced while its
-- deltas stream and once more by its final text. Turns are kept in order of arrival. A voice tool
-- the assistant used (read the selection, edited a document) is a "tool" line, final only.
local M = {}

local api = vim.api
local NAME = "vivavoce://transcript"
local PREFIX = { user = "You: ", assistant = "Assistant: ", tool = "Tool: " }

local buf = nil
local turns = {} -- in arrival order: { id = itemId, lines = number of buffer lines }
local by_id = {} -- itemId -> { turn = turns[i], text = what was shown }

local function valid()
  return buf ~= nil and api.nvim_buf_is_valid(buf)
end

local function create()
  buf = api.nvim_create_buf(false, true) -- unlisted scratch: buftype=nofile, noswapfile
  pcall(api.nvim_buf_set_name, buf, NAME)
  vim.bo[buf].bufhidden = "hide"
  vim.bo[buf].filetype = "vivavoce"
  vim.bo[buf].modifiable = false
  turns, by_id = {}, {}
  return buf
end

--- The transcript buffer (created on first use).
function M.buf()
  return valid() and buf or create()
end

local function render(role, text, final, interrupted)
  local body = text
  if not final then
    body = body .. " …"
  elseif interrupted then
    body = body .. " [interrupted]"
  end
  local lines = vim.split((PREFIX[role] or (tostring(role) .. ": ")) .. body, "\n", { plain = true })
  return lines
end

local function follow(b, line_count)
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_buf(win) == b and win ~= api.nvim_get_current_win() then
      pcall(api.nvim_win_set_cursor, win, { line_count, 0 })
    end
  end
end

--- Takes one `realtime/transcript` notification.
function M.update(params)
  if type(params) ~= "table" or type(params.itemId) ~= "string" then
    return
  end
  local b = M.buf()
  local entry = by_id[params.itemId]
  local text = params.text
  if type(text) ~= "string" then -- a delta without the accumulated text
    text = (entry and entry.text or "") .. (type(params.delta) == "string" and params.delta or "")
  end
  local lines = render(params.role, text, params.final == true, params.interrupted == true)

  local start, old = 0, 0
  if entry then
    for _, turn in ipairs(turns) do
      if turn == entry.turn then
        break
      end
      start = start + turn.lines
    end
    old = entry.turn.lines
  else
    for _, turn in ipairs(turns) do
      start = start + turn.lines
    end
    entry = { turn = { id = params.itemId, lines = 0 } }
    table.insert(turns, entry.turn)
    by_id[params.itemId] = entry
  end
  local first = start == 0 and old == 0 and #turns == 1 -- replace the empty buffer's one line
  vim.bo[b].modifiable = true
  api.nvim_buf_set_lines(b, start, first and -1 or start + old, false, lines)
  vim.bo[b].modifiable = false
  entry.turn.lines = #lines
  entry.text = text
  follow(b, api.nvim_buf_line_count(b))
end

--- The transcript's lines (for tests and `:Vivavoce transcript` users alike).
function M.lines()
  if not valid() or #turns == 0 then
    return {}
  end
  return api.nvim_buf_get_lines(buf, 0, -1, false)
end

--- Shows the transcript in a window opened by `open_cmd` (unless one shows it already);
--- the cursor stays where it was.
function M.open(open_cmd)
  local b = M.buf()
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_buf(win) == b then
      return win
    end
  end
  local from = api.nvim_get_current_win()
  vim.cmd(open_cmd or "botright 10split")
  local win = api.nvim_get_current_win()
  api.nvim_win_set_buf(win, b)
  vim.wo[win].wrap = true
  vim.wo[win].number = false
  vim.wo[win].relativenumber = false
  pcall(api.nvim_win_set_cursor, win, { api.nvim_buf_line_count(b), 0 })
  if api.nvim_win_is_valid(from) then
    api.nvim_set_current_win(from)
  end
  return win
end

return M
