-- wrk script for benchmarks/run.py. Each wrk thread holds one connection and plays one user with its
-- own logged-in session (lines "cookie<TAB>csrf token" in the file named by BENCH_SESSIONS), so eight
-- threads are eight clinicians, not one session shared eight times.
-- BENCH_METHOD and BENCH_BODY make it a form POST; "CSRFTOKEN" in the body is replaced by the user's token.
-- BENCH_HEADER ("Name: value", e.g. "Authorization: Bearer <token>") is sent with every request (the API's
-- pages, which have no session); BENCH_CONTENT_TYPE sends the body as that type (a JSON POST).

local sessions = {}
local session_file = os.getenv("BENCH_SESSIONS")
if session_file and session_file ~= "" then
  for line in io.lines(session_file) do
    local cookie, token = line:match("^([^\t]*)\t(.*)$")
    sessions[#sessions + 1] = { cookie = cookie, token = token }
  end
end
local started = 0

function setup(thread)
  started = started + 1
  local session = sessions[(started - 1) % math.max(#sessions, 1) + 1] or { cookie = "", token = "" }
  thread:set("cookie", session.cookie)
  thread:set("token", session.token)
end

function init(args)
  local headers = {}
  if cookie ~= "" then
    headers["Cookie"] = cookie
  end
  local extra = os.getenv("BENCH_HEADER")
  if extra and extra ~= "" then
    local name, value = extra:match("^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  local body = os.getenv("BENCH_BODY")
  local content_type = os.getenv("BENCH_CONTENT_TYPE")
  if body and body ~= "" then
    body = body:gsub("CSRFTOKEN", token)
    if content_type and content_type ~= "" then
      headers["Content-Type"] = content_type
    else
      headers["Content-Type"] = "application/x-www-form-urlencoded"
    end
  else
    body = nil
  end
  prepared = wrk.format(os.getenv("BENCH_METHOD") or "GET", nil, headers, body)
end

function request()
  return prepared
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "socket_errors": %d, "http_errors": %d, '
      .. '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max
  ))
end
