-- wrk script for benchmarks/serve.py: POST the JSON body read from the file named by
-- NB2SVC_BODY, then print one machine-readable summary line.
local file = assert(io.open(os.getenv("NB2SVC_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "NB2SVC {\"requests\": %d, \"duration_us\": %d, \"errors\": %d, \"non2xx\": %d, " ..
    "\"p50_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.duration,
    errors.connect + errors.read + errors.write + errors.timeout, errors.status,
    latency:percentile(50), latency:percentile(99)))
end
