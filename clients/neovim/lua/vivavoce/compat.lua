-- vivavoce.compat: the one place that knows which Neovim is running (0.7.2 … current).
-- Everything version-dependent (client method call style, how a client starts, libuv) lives here.
local M = {}

-- 0.11 made client methods take self (`client:request`); the old dot form warns there.
local methods_take_self = vim.fn.has("nvim-0.11") == 1

M.uv = vim.uv or vim.loop

function M.request(client, method, params, handler, bufnr)
  if methods_take_self then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.notify(client, method, params)
  if methods_take_self then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

function M.is_stopped(client)
  if methods_take_self then
    return client:is_stopped()
  end
  return client.is_stopped()
end

function M.stop(client)
  if methods_take_self then
    return client:stop()
  end
  return client.stop()
end

--- Starts a client for `config`; attaches `bufnr` when given. Returns the client id or nil.
function M.start_client(config, bufnr)
  if vim.lsp.start then
    -- We keep our own client id: never let vim.lsp.start hand us someone else's client.
    local never = function()
      return false
    end
    if bufnr then
      return vim.lsp.start(config, { bufnr = bufnr, reuse_client = never })
    end
    if methods_take_self then -- `attach = false` exists from 0.11
      return vim.lsp.start(config, { attach = false, reuse_client = never })
    end
  end
  local id = vim.lsp.start_client(config)
  if id and bufnr then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

--- `vim.islist` (0.10+) / `vim.tbl_islist` (0.7, deprecated later).
function M.islist(t)
  if type(t) ~= "table" then
    return false
  end
  local n = 0
  for _ in pairs(t) do
    n = n + 1
    if t[n] == nil then
      return false
    end
  end
  return true
end

return M
