-- wrk script: logins, each with the next of many users' access tokens (one per line in the
-- file named by TOKENS_FILE), so that sessions spread over users as they do in real life
-- (one user logging in again and again is what the per-user cap is for, not a workload).
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do
  tokens[#tokens + 1] = line
end
local next_token = 0

init = function(args)
  next_token = math.random(#tokens) - 1
end

request = function()
  next_token = next_token % #tokens + 1
  return wrk.format("GET", "/authorize", { ["Host"] = wrk.host, ["Authorization"] = "Bearer " .. tokens[next_token] })
end
