#!/usr/bin/env bash
# Measures the client-side throttle (traffic::SiteClient) against a sandbox tenant limited to
# R requests/s per client: a sustained run of background reads from several threads must reach
# at least 95% of R with at most 1% of the requests answered 429. Two comparison runs in the
# same sandbox show what the adaptive part does when the configured rate is wrong: a client
# configured at twice the site's real limit, and one at fifty times it; both can only lean on
# the 429s, Retry-After pauses and multiplicative decrease.
#
#   bench/throttle_bench.sh          build release, run, print the figures
#
# Environment: BENCH_RATE (R, default 200), BENCH_THREADS (default 8), BENCH_DURATION (seconds
# of the main run, default 15), BENCH_COMPARE_DURATION (seconds of each comparison run,
# default 8), BENCH_BUILD=0 to skip the build. Traffic goes to 127.0.0.1 only.
set -euo pipefail
repo_dir="$(cd "$(dirname "$0")/.." && pwd)"
rate="${BENCH_RATE:-200}"
threads="${BENCH_THREADS:-8}"
duration="${BENCH_DURATION:-15}"
compare_duration="${BENCH_COMPARE_DURATION:-8}"
patient="e86izff4laD1mVsXVTNHrrl3"

fail() { echo "throttle_bench: $*" >&2; exit 1; }

cd "$repo_dir"
if [[ "${BENCH_BUILD:-1}" != "0" ]]; then
  [[ -f build/release/CMakeCache.txt ]] || cmake --preset release >/dev/null
  cmake --build --preset release -j 2 --target fhirbridge fhirbridge_throttle_bench \
    >/dev/null || fail "the release build failed (cmake --build --preset release)"
fi

work_dir="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || true
  fi
  rm -rf "$work_dir"
}
trap cleanup EXIT

# One tenant on a plain R4 build level, limited to R requests/s per client with the default
# burst (one second's worth).
cat >"$work_dir/tenants.toml" <<TOML
[build_levels.open]
[build_levels.open.resources]
Patient = ["read"]

[[tenants]]
name = "limited"
build_level = "open"

[tenants.traffic]
requests_per_second = $rate
TOML
build/release/fhirbridge sandbox check-config "$work_dir/tenants.toml" >/dev/null ||
  fail "the benchmark's tenant file is invalid"

build/release/fhirbridge sandbox serve --config "$work_dir/tenants.toml" --port 0 --threads 1 \
  --log-level warning >"$work_dir/server.out" 2>"$work_dir/server.err" &
server_pid=$!
origin=""
for _ in $(seq 1 100); do
  origin="$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$work_dir/server.out" | head -n 1 || true)"
  [[ -n "$origin" ]] && break
  sleep 0.1
done
[[ -n "$origin" ]] || fail "the sandbox did not start: $(cat "$work_dir/server.err")"
base="$origin/limited/api/FHIR/R4"

run() {  # client_rate seconds client_id
  build/release/fhirbridge_throttle_bench "$base" "$patient" "$rate" "$1" "$threads" "$2" "$3"
}
field() { echo "$2" | grep -oE "(^| )$1=[0-9.]+" | head -n 1 | cut -d= -f2; }

echo "Sandbox tenant limited to $rate requests/s per client; $threads client threads."
main="$(run "$rate" "$duration" bench-main)"
over="$(run "$((rate * 2))" "$compare_duration" bench-over)"
naive="$(run "$((rate * 50))" "$compare_duration" bench-naive)"

printf '%-30s %9s %9s %9s %8s %8s %8s %9s\n' "client throttle" "req/s" "% of R" "429 %" \
  "p50 ms" "p95 ms" "p99 ms" "end rate"
for name in main over naive; do
  result="${!name}"
  case "$name" in
    main) label="at R (the site's rate)" ;;
    over) label="at 2 R (misconfigured)" ;;
    naive) label="at 50 R (far too high)" ;;
  esac
  printf '%-30s %9s %9s %9s %8s %8s %8s %9s\n' "$label" "$(field achieved_rate "$result")" \
    "$(field percent_of_target "$result")" "$(field share_429_percent "$result")" \
    "$(field p50_ms "$result")" "$(field p95_ms "$result")" "$(field p99_ms "$result")" \
    "$(field final_client_rate "$result")"
done
echo "main run: $main"
echo "2 R run:  $over"
echo "50 R run: $naive"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: fhirbridge_throttle_bench $base $patient $rate $rate $threads $duration bench-main"

percent="$(field percent_of_target "$main")"
share="$(field share_429_percent "$main")"
if awk -v p="$percent" 'BEGIN{exit !(p >= 95)}'; then
  echo "PASS  achieved >= 95% of R (measured $percent%)"
else
  echo "FAIL  achieved >= 95% of R (measured $percent%)"
fi
if awk -v s="$share" 'BEGIN{exit !(s <= 1)}'; then
  echo "PASS  429 answers <= 1% (measured $share%)"
else
  echo "FAIL  429 answers <= 1% (measured $share%)"
fi
failures="$(field failures "$main")"
[[ "$failures" == "0" ]] || fail "$failures requests of the main run failed outright"
