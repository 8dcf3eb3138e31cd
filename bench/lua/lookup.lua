-- GET <path> with a random valid API key per request (Authorization: Bearer …).
-- wrk ... -s lookup.lua <url> -- <path> <keys file>   (one key per line)
-- An answer counts as ok when it is 2xx and carries a "tier" field.
local common = require("common")
setup = common.setup

function init(args)
  common.reset()
  local path, keys_file = args[1], args[2]
  requests = {}
  for key in io.lines(keys_file) do
    table.insert(requests, wrk.format("GET", path, {["Authorization"] = "Bearer " .. key}))
  end
  assert(#requests > 0, "no keys in " .. keys_file)
  math.randomseed(os.time() * 100 + slice)
end

function request()
  sent = sent + 1
  return requests[math.random(#requests)]
end

function response(status, headers, body)
  common.count(status, body, '"tier"')
end

done = common.done
