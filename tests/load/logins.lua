-- wrk script: log in again and again (each answer is a new session). TOKEN (an access
-- token) comes from the environment. The request is built in request(), once wrk knows the
-- host (at load time it does not yet).
local token = os.getenv("TOKEN")

request = function()
  return wrk.format("POST", "/authorize", { ["Host"] = wrk.host, ["Authorization"] = "Bearer " .. token })
end
