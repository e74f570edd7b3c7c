#!/usr/bin/env bash
# Measures the sandbox's token endpoint for SMART backend services: client_credentials requests,
# each with a freshly signed RS384 client assertion (signature verification, claim checks and
# jti replay tracking included), beside GET /healthz of the same server in the same run.
#
#   bench/token_bench.sh            build release, run, print the figures
#
# Environment: BENCH_DURATION (seconds, default 3), BENCH_CONNECTIONS (default 16),
# BENCH_SERVER_THREADS (default 1), BENCH_ASSERTIONS (pre-signed assertions, default 60000; a
# run that needs more shows errors rather than passing), BENCH_BUILD=0 to skip the build.
# Traffic goes to 127.0.0.1 only and every run is bounded in time.
set -euo pipefail
repo_dir="$(cd "$(dirname "$0")/.." && pwd)"
bench_dir="$repo_dir/bench"
duration="${BENCH_DURATION:-3}"
connections="${BENCH_CONNECTIONS:-16}"
server_threads="${BENCH_SERVER_THREADS:-1}"
assertion_count="${BENCH_ASSERTIONS:-60000}"
target=2000

fail() { echo "token_bench: $*" >&2; exit 1; }
command -v wrk >/dev/null || fail "wrk is not installed (Debian: apt-get install wrk)"

cd "$repo_dir"
if [[ "${BENCH_BUILD:-1}" != "0" ]]; then
  [[ -f build/release/CMakeCache.txt ]] || cmake --preset release >/dev/null
  cmake --build --preset release -j 2 --target fhirbridge fhirbridge_token_bench_assertions \
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

build/release/fhirbridge sandbox serve --port 0 --threads "$server_threads" --log-level warning \
  >"$work_dir/server.out" 2>"$work_dir/server.err" &
server_pid=$!
origin=""
for _ in $(seq 1 100); do
  origin="$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$work_dir/server.out" | head -n 1 || true)"
  [[ -n "$origin" ]] && break
  sleep 0.1
done
[[ -n "$origin" ]] || fail "the sandbox did not start: $(cat "$work_dir/server.err")"

token_url="$origin/open-lab/oauth2/token"
echo "Signing $assertion_count RS384 client assertions ..."
build/release/fhirbridge_token_bench_assertions "$token_url" bench-backend "$assertion_count" \
  "$work_dir/assertions.txt" "$work_dir/jwks.json"
curl -sf -X POST "$origin/admin/tenants/open-lab/apps" -H 'Content-Type: application/json' \
  -d "{\"client_id\":\"bench-backend\",\"type\":\"confidential-asymmetric\",\"scopes\":\"system/Patient.rs\",\"jwks\":$(cat "$work_dir/jwks.json")}" \
  >/dev/null || fail "registering the benchmark client failed"

export BENCH_LUA_DIR="$bench_dir" ASSERTIONS="$work_dir/assertions.txt"
run() {
  wrk -t1 -c"$connections" -d"${duration}s" -s "$bench_dir/$1" "$2" | grep '^BENCH_RESULT ' |
    cut -d' ' -f2-
}
field() { echo "$2" | grep -oE "\"$1\":[0-9.]+" | head -n 1 | cut -d: -f2; }

wrk -t1 -c"$connections" -d2s -s "$bench_dir/read.lua" "$origin/healthz" >/dev/null
baseline="$(run read.lua "$origin/healthz")"
tokens="$(run token_request.lua "$token_url")"

printf '%-34s %10s %8s %8s %8s\n' route "req/s" "p50 ms" "p99 ms" errors
for name in baseline tokens; do
  result="${!name}"
  label="GET /healthz (baseline)"
  [[ "$name" == tokens ]] && label="POST oauth2/token (client_credentials)"
  errors=$(($(field status_errors "$result") + $(field socket_read "$result") + \
    $(field socket_timeout "$result")))
  printf '%-34s %10s %8s %8s %8s\n' "$label" "$(field requests_per_second "$result")" \
    "$(field p50 "$result")" "$(field p99 "$result")" "$errors"
done
token_rate="$(field requests_per_second "$tokens")"
baseline_rate="$(field requests_per_second "$baseline")"
echo "tokens vs /healthz: $(awk -v a="$token_rate" -v b="$baseline_rate" 'BEGIN{printf "%.3fx", a/b}')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "command: wrk -t1 -c$connections -d${duration}s -s bench/token_request.lua $token_url"
if awk -v r="$token_rate" -v t="$target" 'BEGIN{exit !(r >= t)}'; then
  echo "PASS  tokens >= $target/s (measured $token_rate/s)"
else
  echo "FAIL  tokens >= $target/s (measured $token_rate/s)"
fi
used="$(field requests "$tokens")"
if [[ "$(field status_errors "$tokens")" != "0" ]]; then
  echo "note: $used requests needed more than $assertion_count assertions, or some were refused;" \
    "raise BENCH_ASSERTIONS" >&2
  exit 1
fi
