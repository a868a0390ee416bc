-- wrk script for benchmarks/run.py. Each wrk thread holds one connection and plays one user with its
-- own logged-in session (lines "cookie<TAB>csrf token" in the file named by BENCH_SESSIONS), so eight
-- threads are eight clinicians, not one session shared eight times.
-- BENCH_METHOD=POST with BENCH_BODIES (a file of form bodies, one a line) makes it a form POST: each thread
-- takes every n-th line (n users) and sends each body once, in turn, since every body carries its own
-- one-time form key; "CSRFTOKEN" in a body is replaced by the user's token. BENCH_BODY is one body sent
-- with every request instead (a JSON POST to the API, which has no one-time key).
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
  thread:set("number", started - 1)
  thread:set("users", math.max(#sessions, 1))
end

function init(args)
  headers = {}
  if cookie ~= "" then
    headers["Cookie"] = cookie
  end
  local extra = os.getenv("BENCH_HEADER")
  if extra and extra ~= "" then
    local name, value = extra:match("^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  local content_type = os.getenv("BENCH_CONTENT_TYPE")
  if not content_type or content_type == "" then
    content_type = "application/x-www-form-urlencoded"
  end
  method = os.getenv("BENCH_METHOD") or "GET"
  bodies = {}
  local bodies_file = os.getenv("BENCH_BODIES")
  if bodies_file and bodies_file ~= "" then
    local line_number = 0
    for line in io.lines(bodies_file) do
      if line_number % users == number then
        bodies[#bodies + 1] = line:gsub("CSRFTOKEN", token)
      end
      line_number = line_number + 1
    end
    headers["Content-Type"] = content_type
  end
  local body = os.getenv("BENCH_BODY")
  if body and body ~= "" then
    body = body:gsub("CSRFTOKEN", token)
    headers["Content-Type"] = content_type
  else
    body = nil
  end
  sent = 0
  prepared = wrk.format(method, nil, headers, body)
end

function request()
  if #bodies == 0 then
    return prepared
  end
  -- Past the last body the keys repeat: those saves are refused and counted as errors.
  sent = sent + 1
  return wrk.format(method, nil, headers, bodies[(sent - 1) % #bodies + 1])
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
