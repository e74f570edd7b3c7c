-- Shared wrk reporting: after a run, print one line "BENCH_RESULT {json}" that
-- http_bench.sh parses. Latencies are in milliseconds; "status_errors" counts the
-- responses wrk saw with a status above 399, the socket_* fields count transport errors.

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"seconds":%.3f,"requests_per_second":%.1f,' ..
    '"latency_ms":{"mean":%.3f,"p50":%.3f,"p90":%.3f,"p99":%.3f,"p999":%.3f,"max":%.3f},' ..
    '"status_errors":%d,"socket_connect":%d,"socket_read":%d,"socket_write":%d,' ..
    '"socket_timeout":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000,
    errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end
