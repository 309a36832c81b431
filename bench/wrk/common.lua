-- Shared by the wrk scripts: headers, an optional per-request unique body, and one JSON summary line.
-- Settings come from the environment so the driver (bench/run.py) can reuse one script per case:
--   BENCH_TOKEN   bearer token (a JWT signed with the gateway's JWT_SECRET); unset: no Authorization header
--   BENCH_PATH    request path            BENCH_MODEL   model name
--   BENCH_UNIQUE  "1": a counter makes every body distinct (a cache miss each time); else one fixed body

local M = {}

function M.setup(default_path, default_model, make_body)
  wrk.method = "POST"
  wrk.path = os.getenv("BENCH_PATH") or default_path
  wrk.headers["Content-Type"] = "application/json"
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
  local model = os.getenv("BENCH_MODEL") or default_model
  wrk.body = make_body(model, "0")
  if os.getenv("BENCH_UNIQUE") == "1" then
    local n = 0
    local seed = tostring(math.random(1, 1000000000))
    request = function()
      n = n + 1
      return wrk.format(nil, nil, nil, make_body(model, seed .. "-" .. n))
    end
  end
end

function done(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f, "bytes": %d, "non2xx": %d, "connect_err": %d, "read_err": %d, ' ..
    '"write_err": %d, "timeouts": %d}\n',
    summary.requests, s, summary.requests / s, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, summary.bytes, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end

return M
