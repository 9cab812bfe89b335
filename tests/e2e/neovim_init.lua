-- Minimal init for the headless Neovim test (tests/e2e/test_neovim.py): the plugin from this
-- checkout, the embedded peer, and every vim.notify recorded. Paths come from the environment.
local plugin = assert(os.getenv("VIVAVOCE_NVIM_PLUGIN"), "VIVAVOCE_NVIM_PLUGIN")
local python = assert(os.getenv("VIVAVOCE_NVIM_PYTHON"), "VIVAVOCE_NVIM_PYTHON")

vim.opt.runtimepath:prepend(plugin)
vim.opt.swapfile = false
vim.opt.shortmess:append("I")

-- Everything shown to the user, in order: { level = "INFO"|"WARN"|"ERROR"|…, message, phase }.
_G.vivavoce_test = { notes = {}, phase = "setup" }

-- Waits up to `ms` for `condition`; fails the session with "timed out waiting for <what>".
function _G.vivavoce_test.wait(ms, condition, what)
  if not vim.wait(ms, condition, 10) then
    error("timed out waiting for " .. what, 2)
  end
end
local names = {}
for name, level in pairs(vim.log.levels) do
  names[level] = name
end
vim.notify = function(message, level)
  table.insert(_G.vivavoce_test.notes, {
    level = names[level or vim.log.levels.INFO] or tostring(level),
    message = tostring(message),
    phase = _G.vivavoce_test.phase,
  })
end

-- Any global the plugin's own files create is a leak.
_G.vivavoce_test.globals = {}
setmetatable(_G, {
  __newindex = function(t, key, value)
    local info = debug.getinfo(2, "S")
    if info and info.source:find(plugin, 1, true) then
      table.insert(_G.vivavoce_test.globals, tostring(key))
    end
    rawset(t, key, value)
  end,
})

-- VIVAVOCE_NVIM_AUDIO=1: the sound devices (the tests' virtual PulseAudio ones) are used.
local audio = os.getenv("VIVAVOCE_NVIM_AUDIO") == "1"
require("vivavoce").setup({
  settings = { peer = "embedded", insertTranscripts = audio and "none" or "assistant", audioDevices = audio },
  cmd = { python, "-m", "vivavoce", "lsp" },
})
