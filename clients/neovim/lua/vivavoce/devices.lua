-- vivavoce.devices: choosing the microphone or speaker. Asks the server (`vivavoce.listDevices`),
-- offers the answer through vim.ui.select, and stores the choice as the inputDevice/outputDevice
-- setting (which reaches the server as a configuration change).
local M = {}

local client = require("vivavoce.client")
local compat = require("vivavoce.compat")
local say = require("vivavoce.notify")

local SETTING = { input = "inputDevice", output = "outputDevice" }
local WORD = { input = "microphone", output = "speaker" }

-- Whether a device entry is of `kind`, when the entry says (else it is offered for both).
local function is_kind(entry, kind)
  local declared = entry.kind or entry.type or entry.direction
  if type(declared) == "string" then
    return declared == kind
  end
  local channels = kind == "input" and (entry.maxInputChannels or entry.inputChannels)
    or (entry.maxOutputChannels or entry.outputChannels)
  if type(channels) == "number" then
    return channels > 0
  end
  return true
end

--- Turns the server's answer into { name, label } items of `kind`. Accepts a list of names or of
--- objects, or an object with `devices`, `<kind>s` or `<kind>` lists.
function M.items(result, kind)
  if type(result) ~= "table" then
    return {}
  end
  local list = result
  if not compat.islist(result) then
    list = result[kind .. "s"] or result[kind] or result.devices or {}
  end
  local items = {}
  for _, entry in ipairs(compat.islist(list) and list or {}) do
    if type(entry) == "string" then
      table.insert(items, { name = entry, label = entry })
    elseif type(entry) == "table" and is_kind(entry, kind) then
      local name = entry.name or entry.label or entry.id or entry.index
      if name ~= nil then
        local label = tostring(name)
        if entry.default or entry.isDefault then
          label = label .. " (default)"
        end
        table.insert(items, { name = tostring(name), label = label })
      end
    end
  end
  return items
end

function M.choose(kind)
  if not SETTING[kind] then
    say.warn("devices: say 'input' or 'output'")
    return
  end
  client.execute("vivavoce.listDevices", {}, function(result)
    local items = M.items(result, kind)
    if #items == 0 then
      say.warn("no " .. WORD[kind] .. " found")
      return
    end
    vim.ui.select(items, {
      prompt = "vivavoce " .. WORD[kind] .. ":",
      format_item = function(item)
        return item.label
      end,
    }, function(item)
      if item then
        client.change_settings({ [SETTING[kind]] = item.name })
        say.info(WORD[kind] .. ": " .. item.name)
      end
    end)
  end, "choosing a device")
end

return M
