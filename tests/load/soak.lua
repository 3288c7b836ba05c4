-- wrk script for `make soak`: each connection (one per thread: wrk's Lua state is per
-- thread) logs in, makes 20 requests to the protected app, keeps the session alive, logs out.
local token = os.getenv("TOKEN")
local cookie = nil
local step = 0

local function get(path, headers, method)
  headers["Host"] = wrk.host
  return wrk.format(method or "GET", path, headers)
end

request = function()
  if not cookie then
    return get("/authorize", { ["Authorization"] = "Bearer " .. token })
  end
  step = step + 1
  if step <= 20 then
    return get("/api/data?n=" .. step, { ["Cookie"] = "session=" .. cookie })
  elseif step == 21 then
    return get("/ping", { ["Cookie"] = "session=" .. cookie })
  end
  local r = get("/logout", { ["Cookie"] = "session=" .. cookie }, "POST")
  cookie, step = nil, 0
  return r
end

local failures = {}
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

response = function(status, headers, body)
  if status ~= 200 then
    local key = tostring(status) .. " at step " .. tostring(step)
    failures[key] = (failures[key] or 0) + 1
    io.stderr:write("failure: " .. key .. " " .. string.sub(body, 1, 120) .. "\n")
  end
  if not cookie and status == 200 then
    cookie = body:match('"value":"([^"]+)"')
  end
end

done = function(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local f = thread:get("failures")
    for key, n in pairs(f) do
      io.write(string.format("failure: %s x%d\n", key, n))
    end
  end
end
