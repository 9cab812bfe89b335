-- vivavoce: defines :Vivavoce. Everything else loads on first use (nothing starts until
-- :Vivavoce start or require("vivavoce").start()).
if vim.g.loaded_vivavoce then
  return
end
vim.g.loaded_vivavoce = 1

if vim.fn.has("nvim-0.7") ~= 1 then
  vim.api.nvim_err_writeln("vivavoce needs Neovim 0.7 or newer")
  return
end

vim.api.nvim_create_user_command("Vivavoce", function(opts)
  require("vivavoce.commands").run(opts)
end, {
  nargs = "*",
  complete = function(arg_lead, cmdline)
    return require("vivavoce.commands").complete(arg_lead, cmdline)
  end,
  desc = "vivavoce: start|stop|toggle|ptt|mute|interrupt|send|devices|history|transcript|shutdown",
})
