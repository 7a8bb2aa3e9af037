-- wrk script for benchmarks/batch.py: POST the body read from the file named by
-- NB2SVC_BODY with NB2SVC_CONTENT_TYPE (and NB2SVC_ACCEPT when set), then print one
-- machine-readable summary line.
local file = assert(io.open(os.getenv("NB2SVC_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = os.getenv("NB2SVC_CONTENT_TYPE")
local accept = os.getenv("NB2SVC_ACCEPT")
if accept and accept ~= "" then
  wrk.headers["Accept"] = accept
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "NB2SVC {\"requests\": %d, \"duration_us\": %d, \"errors\": %d, \"non2xx\": %d, " ..
    "\"p50_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.duration,
    errors.connect + errors.read + errors.write + errors.timeout, errors.status,
    latency:percentile(50), latency:percentile(99)))
end
