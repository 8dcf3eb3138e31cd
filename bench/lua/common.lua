-- Shared by webhooks.lua and lookup.lua: per-thread answer counters, and done() printing one
-- JSON line ("BENCH_JSON {...}") that the Python driver parses. wrk gives every thread its own
-- Lua state; setup() keeps the thread objects so done() can sum their counters.
local common = {}

common.threads = {}
common.counters = {"ok", "processed", "duplicate", "ignored", "unexpected", "non2xx",
                   "exhausted", "sent", "first_bad_status"}

function common.setup(thread)
  table.insert(common.threads, thread)
  thread:set("slice", #common.threads)
end

function common.reset()
  for _, name in ipairs(common.counters) do _G[name] = 0 end
end

-- Count one answer: 2xx ones by their "status" field, anything else as non2xx.
function common.count(status, body, expect_field)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad_status == 0 then first_bad_status = status end
    return
  end
  if expect_field then
    if body:find(expect_field, 1, true) then ok = ok + 1 else unexpected = unexpected + 1 end
    return
  end
  local outcome = body:match('"status"%s*:%s*"(%a+)"')
  if outcome == "processed" or outcome == "duplicate" or outcome == "ignored" then
    _G[outcome] = _G[outcome] + 1
    ok = ok + 1
  else
    unexpected = unexpected + 1
  end
end

function common.done(summary, latency)
  local parts = {}
  local function add(name, value) table.insert(parts, string.format('"%s": %d', name, value)) end
  for _, name in ipairs(common.counters) do
    local total = 0
    for _, thread in ipairs(common.threads) do
      local value = thread:get(name) or 0
      if name == "first_bad_status" then
        total = math.max(total, value)
      else
        total = total + value
      end
    end
    add(name, total)
  end
  add("requests", summary.requests)
  add("duration_us", summary.duration)
  add("bytes", summary.bytes)
  for _, kind in ipairs({"connect", "read", "write", "status", "timeout"}) do
    add("errors_" .. kind, summary.errors[kind])
  end
  for _, p in ipairs({50, 75, 90, 95, 99, 99.9}) do
    add("p" .. string.gsub(tostring(p), "%.", "_") .. "_us", latency:percentile(p))
  end
  add("mean_us", latency.mean)
  add("max_us", latency.max)
  io.write("BENCH_JSON {", table.concat(parts, ", "), "}\n")
end

return common
