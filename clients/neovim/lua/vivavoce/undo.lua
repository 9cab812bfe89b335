-- One undo step per dictated utterance. The server writes an utterance as it is said: its words
-- one edit at a time, then its final text over them; each workspace/applyEdit would be an undo
-- step of its own, and `u` would take back one word. The plugin announces the experimental client
-- capability `vivavoceUndoGroups`; the server then labels each edit with its undo group, and the
-- edits of one group are joined (`:undojoin`) when nothing else changed the buffer between them.
-- Edits without a group go to Neovim's own handler.
local M = {}

--- The client capability announced to the server (see UNDO_GROUPS in lsp/server.py).
M.CAPABILITY = "vivavoceUndoGroups"
--- The label prefix of a grouped edit (UNDO_GROUP_LABEL in lsp/server.py).
M.LABEL = "vivavoce undo group "

local last = nil -- { group, buf, tick }: the group of the last edit applied, and the buffer after it

--- The client capabilities to start with: Neovim's own, plus undo groups.
function M.capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.experimental = vim.tbl_extend("force", caps.experimental or {}, { [M.CAPABILITY] = true })
  return caps
end

local function group_of(params)
  local label = type(params) == "table" and params.label or nil
  if type(label) == "string" and label:sub(1, #M.LABEL) == M.LABEL then
    return label
  end
  return nil
end

local function only_buffer(edit)
  local uri = nil
  for key in pairs(type(edit) == "table" and edit.changes or {}) do
    if uri then
      return nil -- several documents: not a dictation edit
    end
    uri = key
  end
  if not uri or (type(edit.documentChanges) == "table" and #edit.documentChanges > 0) then
    return nil
  end
  local buf = vim.uri_to_bufnr(uri)
  return vim.api.nvim_buf_is_loaded(buf) and buf or nil
end

--- Applies a grouped edit (`params` of workspace/applyEdit) in `offset_encoding`, joined with the
--- last edit when it had the same group and the buffer did not change since. Returns the
--- ApplyWorkspaceEditResult, or nil when the edit has no group (Neovim's handler applies it).
function M.apply(params, offset_encoding)
  local group = group_of(params)
  local buf = group and only_buffer(params.edit)
  if not buf then
    return nil
  end
  local ok, err = true, nil
  vim.api.nvim_buf_call(buf, function()
    local joins = last ~= nil
      and last.group == group
      and last.buf == buf
      and last.tick == vim.api.nvim_buf_get_changedtick(buf)
    if joins then
      pcall(vim.cmd, "undojoin") -- refused right after an undo (E790): a step of its own then
    end
    ok, err = pcall(vim.lsp.util.apply_workspace_edit, params.edit, offset_encoding)
  end)
  last = ok and { group = group, buf = buf, tick = vim.api.nvim_buf_get_changedtick(buf) } or nil
  if not ok then
    return { applied = false, failureReason = tostring(err) }
  end
  return { applied = true }
end

--- The workspace/applyEdit handler of the vivavoce client.
function M.handler(err, params, ctx, cfg)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local result = client and M.apply(params, client.offset_encoding or "utf-16")
  if result then
    return result
  end
  return vim.lsp.handlers["workspace/applyEdit"](err, params, ctx, cfg)
end

return M
