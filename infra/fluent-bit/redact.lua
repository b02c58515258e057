-- Drops every field whose name contains a denied word, at any depth (defence in depth: the pool never logs
-- transcript text, prompts or credentials). Names are split into words on _ - . and camelCase, so `context` or
-- `next_attempt` stay while `text`, `segment_text`, `promptText`, `Authorization` and `api_key` go.
local DENIED_WORDS = {
  text = true, transcript = true, prompt = true, authorization = true, password = true, passwd = true,
  secret = true, token = true, apikey = true, cookie = true, credentials = true,
}
local DENIED_NAMES = { api_key = true, x_api_key = true, access_key = true, private_key = true, secret_key = true }

local function denied(key)
  local name = string.lower((string.gsub(tostring(key), "(%l)(%u)", "%1_%2")))
  if DENIED_NAMES[(string.gsub(name, "[-.]", "_"))] then return true end
  for word in string.gmatch(name, "%w+") do
    if DENIED_WORDS[word] then return true end
  end
  return false
end

local function scrub(value, depth)
  if type(value) ~= "table" or depth > 8 then return value end
  for key, inner in pairs(value) do
    if denied(key) then value[key] = nil else value[key] = scrub(inner, depth + 1) end
  end
  return value
end

-- Fluent Bit entry point: 2 = record modified, keep the timestamp.
function redact(tag, timestamp, record)
  local kubernetes = record["kubernetes"] -- Kubernetes metadata is ours, not the application's: leave it alone
  record["kubernetes"] = nil
  record = scrub(record, 0)
  record["kubernetes"] = kubernetes
  return 2, timestamp, record
end
