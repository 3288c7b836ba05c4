-- wrk script: each connection logs in (a new session), then logs that session out, again
-- and again. TOKEN (an access token) comes from the environment. Requests are built in
-- request(), once wrk knows the host (at load time it does not yet).
local token = os.getenv("TOKEN")
local cookie = nil

request = function()
  if cookie then
    local r = wrk.format("POST", "/logout", { ["Host"] = wrk.host, ["Cookie"] = "session=" .. cookie })
    cookie = nil
    return r
  end
  return wrk.format("GET", "/authorize", { ["Host"] = wrk.host, ["Authorization"] = "Bearer " .. token })
end

response = function(status, headers, body)
  if status == 200 then
    cookie = body:match('"value":"([^"]+)"')
  end
end
