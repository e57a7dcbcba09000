-- wrk: POST EVENT_FILE's event (the seed's 5 KB sample) to the URL's path with its "r" key field
-- replaced by a counter, so that most requests are unique events; every DUP_EVERY-th request
-- (default 10) repeats the key of the request 1001 before it (long answered: a plain duplicate,
-- not a copy still in flight). RUN_ID keeps runs apart. Each wrk thread numbers its own keys.
local f = io.open(os.getenv("EVENT_FILE"), "r")
local body = f:read("*a"):gsub("\n", "")
f:close()
local _, open = body:find('"r":%s*"')
local close = body:find('"', open + 1, true)
local prefix, suffix = body:sub(1, open), body:sub(close)
local dupEvery = tonumber(os.getenv("DUP_EVERY") or "10")
local run = os.getenv("RUN_ID") or tostring(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local n = 0
function request()
  n = n + 1
  local k = n
  if dupEvery > 0 and n > 1000 and n % dupEvery == 0 then k = n - 1001 end
  return wrk.format(nil, nil, nil, prefix .. run .. "-" .. tostring(tid) .. "-" .. k .. suffix)
end
