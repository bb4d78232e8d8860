-- wrk script for `ssd serve`: every request POSTs one JPEG to /invocations (SageMaker's
-- InvokeEndpoint shape). IMAGE names the file; with LIMIT, each wrk thread stops after that
-- many answers (so a run can be a fixed number of requests). `done` prints one RESULT line.
local file = assert(io.open(assert(os.getenv("IMAGE"), "set IMAGE to a JPEG file"), "rb"))
wrk.method = "POST"
wrk.path = "/invocations"
wrk.body = file:read("*a")
wrk.headers["Content-Type"] = "image/jpeg"
file:close()

local limit = tonumber(os.getenv("LIMIT") or "")
local answered = 0
if limit then
    function response(status, headers, body)
        answered = answered + 1
        if answered >= limit then wrk.thread:stop() end
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT requests=%d non2xx_or_socket_errors=%d seconds=%.2f requests_per_s=%.2f p50_ms=%.2f p99_ms=%.2f\n",
        summary.requests, e.status + e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
        summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
