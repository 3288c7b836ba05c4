-- wrk script: one user logging in again and again, never logging out (issue 11 item 6: a
-- login loop must not grow shared data). TOKEN (an access token) comes from the environment.
local token = os.getenv("TOKEN")

request = function()
  return wrk.format("GET", "/authorize", { ["Host"] = wrk.host, ["Authorization"] = "Bearer " .. token })
end
