-- wrk: POST the seed's sample event (5 KB) to /event.
local f = io.open(os.getenv("EVENT_FILE"), "r")
wrk.method = "POST"
wrk.body = f:read("*a"):gsub("\n", "")
f:close()
wrk.headers["Content-Type"] = "application/json"
