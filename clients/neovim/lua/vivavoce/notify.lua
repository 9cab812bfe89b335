-- vivavoce.notify: how the plugin talks to the user — every message goes through vim.notify
-- with a "vivavoce: " prefix, so any notification UI (nvim-notify, fidget, noice) shows it.
local M = {}

M.levels = vim.log.levels

function M.say(message, level)
  message = tostring(message)
  if not message:match("^vivavoce") then
    message = "vivavoce: " .. message
  end
  vim.notify(message, level or vim.log.levels.INFO, { title = "vivavoce" })
end

function M.info(message)
  M.say(message, vim.log.levels.INFO)
end

function M.warn(message)
  M.say(message, vim.log.levels.WARN)
end

function M.error(message)
  M.say(message, vim.log.levels.ERROR)
end

return M
