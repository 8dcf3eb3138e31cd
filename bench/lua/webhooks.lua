-- POST pre-signed Stripe events, each thread its own slice of the events file, no id repeated.
-- wrk ... -s webhooks.lua <url> -- <events file> <repeat> <offset>:<count> [<offset>:<count> ...]
-- One <offset>:<count> per wrk thread (byte offset of its first record, number of records).
-- A record is "<Stripe-Signature> <body length>\n<body>\n". With <repeat> 3 every event goes out
-- three times in a row (on three connections at once: concurrent duplicates). When a thread's
-- slice runs out it stops and counts "exhausted": the driver refuses such a run, never
-- sending an event twice by accident.
local common = require("common")
setup = common.setup

function init(args)
  common.reset()
  repeats = tonumber(args[2])
  local offset, count = (args[2 + slice] or ""):match("^(%d+):(%d+)$")
  assert(offset, "no slice for thread " .. slice)
  local file = assert(io.open(args[1], "rb"))
  file:seek("set", tonumber(offset))
  events = {}
  for i = 1, tonumber(count) do
    local signature, length = file:read("*l"):match("^(%S+) (%d+)$")
    local body = file:read(tonumber(length))
    file:read(1)
    events[i] = wrk.format("POST", "/api/webhooks/stripe",
      {["Stripe-Signature"] = signature, ["Content-Type"] = "application/json"}, body)
  end
  file:close()
  position = 0
end

function request()
  local index = math.floor(position / repeats) + 1
  if index > #events then
    exhausted = exhausted + 1
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  position = position + 1
  sent = sent + 1
  return events[index]
end

function response(status, headers, body)
  common.count(status, body, nil)
end

done = common.done
