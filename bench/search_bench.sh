#!/usr/bin/env bash
# Search benchmark of the fhirbridge sandbox on a tenant holding a million resources:
#   GET /healthz (the baseline: a trivial route of the same server, measured in the same run),
#   GET [base]/Observation?patient=X&category=vital-signs&_count=50, the first page of an
#       Epic-style search, X a different patient on each request,
#   paging: the same searches followed through every page by their next links,
# each with requests/s and latency p50/p99 as ratios to the baseline, paging also in
# resources/s, then the target with PASS or FAIL.
#
# The tenant uses the epic-2024-aug build level (its search rules, strict meta and Bundle totals)
# and a store file filled by bench/search_bench_loader.cc through the ResourceStore API: PATIENTS
# patients with RESOURCES_PER_PATIENT - 1 resources each (120 vital-sign observations per
# patient with the defaults, so three pages of 50). The file is kept between runs.
#
# Usage: bench/search_bench.sh          (from anywhere; builds the release binaries if needed)
#
# Settings (environment variables, all optional):
#   BENCH_DURATION=10           seconds of each measured run
#   BENCH_WARMUP=2              seconds of the warm-up run before each measured run (0: none)
#   BENCH_SERVER_THREADS=1      fhirbridge --threads
#   BENCH_WRK_THREADS=1         wrk -t
#   BENCH_CONNECTIONS=16        wrk -c (keep-alive connections)
#   BENCH_PATIENTS=5000         patients in the store
#   BENCH_RESOURCES_PER_PATIENT=200   resources per patient, the patient included
#   BENCH_BUILD_DIR=build/release     where fhirbridge and fhirbridge_search_bench_loader are
#   BENCH_BUILD=1               0 skips the build step and uses the binaries as they are
#   BENCH_STORE_DIR=$BENCH_BUILD_DIR/search-bench   where the store file is kept
#   BENCH_RELOAD=0              1 deletes the kept store file and loads it again
#
# Why these defaults: the same as bench/http_bench.sh (one core for the server, one for wrk on
# a 2-core machine). One tenant's store serialises its statements, so more server threads
# mostly add contention; they still overlap the HTTP and Bundle work outside the store.
#
# Exit status: 0 when every run completed without errors, whether or not the target is met;
# 1 when the build, the load, the server or a request failed.

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly kFirstPageTargetPerSecond=5000
readonly kTenant="bench"
readonly kMaxSeconds=300

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"

duration="${BENCH_DURATION:-10}"
warmup="${BENCH_WARMUP:-2}"
server_threads="${BENCH_SERVER_THREADS:-1}"
wrk_threads="${BENCH_WRK_THREADS:-1}"
connections="${BENCH_CONNECTIONS:-16}"
patients="${BENCH_PATIENTS:-5000}"
per_patient="${BENCH_RESOURCES_PER_PATIENT:-200}"
build_dir="${BENCH_BUILD_DIR:-build/release}"
build="${BENCH_BUILD:-1}"
reload="${BENCH_RELOAD:-0}"
[[ "$build_dir" = /* ]] || build_dir="$repo_dir/$build_dir"
store_dir="${BENCH_STORE_DIR:-$build_dir/search-bench}"

fail() {
  echo "search_bench: $*" >&2
  exit 1
}

check_whole_number() {
  local name="$1" value="$2" low="$3" high="$4"
  if ! [[ "$value" =~ ^[0-9]+$ ]] || ((value < low || value > high)); then
    fail "$name must be a whole number from $low to $high, not '$value'"
  fi
}
check_whole_number BENCH_DURATION "$duration" 1 "$kMaxSeconds"
check_whole_number BENCH_WARMUP "$warmup" 0 "$kMaxSeconds"
check_whole_number BENCH_SERVER_THREADS "$server_threads" 0 256
check_whole_number BENCH_WRK_THREADS "$wrk_threads" 1 64
check_whole_number BENCH_CONNECTIONS "$connections" "$wrk_threads" 10000
check_whole_number BENCH_PATIENTS "$patients" 1 1000000
check_whole_number BENCH_RESOURCES_PER_PATIENT "$per_patient" 2 100000

command -v wrk >/dev/null || fail "wrk is not installed (Debian: apt-get install wrk)"
command -v curl >/dev/null || fail "curl is not installed (Debian: apt-get install curl)"

work_dir="$(mktemp -d)"
server_pid=""

stop_server() {
  [[ -n "$server_pid" ]] || return 0
  local pid="$server_pid" status=0
  server_pid=""
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "search_bench: the server ignored SIGTERM for 10 s and was killed" >&2
    return 1
  fi
  wait "$pid" || status=$?
  return "$status"
}

cleanup() {
  stop_server || true
  rm -rf "$work_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Step 1: build the server and the loader.
if [[ "$build" != "0" ]]; then
  echo "Building fhirbridge and fhirbridge_search_bench_loader in $build_dir ..."
  if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    cmake -S "$repo_dir" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DFHIRBRIDGE_TESTS=OFF >"$work_dir/configure.log" 2>&1 ||
      { tail -n 30 "$work_dir/configure.log" >&2; fail "configuring $build_dir failed"; }
  fi
  cmake --build "$build_dir" -j 2 --target fhirbridge fhirbridge_search_bench_loader \
    >"$work_dir/build.log" 2>&1 ||
    { grep -E '^FAILED|error:' "$work_dir/build.log" | head -n 20 >&2; fail "the build failed"; }
fi
binary="$build_dir/fhirbridge"
loader="$build_dir/fhirbridge_search_bench_loader"
[[ -x "$binary" && -x "$loader" ]] || fail "$binary or $loader is missing; run with BENCH_BUILD=1"

# Step 2: the store, loaded once and kept (its name records what it holds).
total_resources=$((patients * per_patient))
store="$store_dir/store-${patients}x${per_patient}.sqlite"
mkdir -p "$store_dir"
if [[ "$reload" == "1" ]]; then rm -f "$store" "$store-wal" "$store-shm"; fi
if [[ ! -f "$store" ]]; then
  echo "Loading $total_resources resources into $store (once; kept for later runs) ..."
  rm -f "$store-wal" "$store-shm" "$store.loading"*
  "$loader" "$store.loading" "$patients" "$per_patient" 2>"$work_dir/load.err" ||
    { tail -n 5 "$work_dir/load.err" >&2; rm -f "$store.loading"*; fail "loading the store failed"; }
  for suffix in "" -wal -shm; do
    [[ -f "$store.loading$suffix" ]] && mv "$store.loading$suffix" "$store$suffix"
  done
fi

# The tenant file: the built-in build levels and one tenant on the store.
sed -n '/^\[\[tenants\]\]/q;p' "$repo_dir/data/sandbox/tenants.toml" >"$work_dir/tenants.toml"
cat >>"$work_dir/tenants.toml" <<EOF
[[tenants]]
name = "$kTenant"
display_name = "Search benchmark"
build_level = "epic-2024-aug"
storage = "$store"
EOF

load_average_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# Step 3: start the server on a free loopback port.
server_command=("$binary" sandbox serve --config "$work_dir/tenants.toml" --port 0
  --threads "$server_threads" --log-level warning)
"${server_command[@]}" >"$work_dir/server.out" 2>"$work_dir/server.err" &
server_pid=$!
port=""
for _ in $(seq 600); do
  port="$(sed -nE 's|^fhirbridge sandbox is serving .* at http://127\.0\.0\.1:([0-9]+).*|\1|p' \
    "$work_dir/server.out")"
  [[ -n "$port" ]] && break
  kill -0 "$server_pid" 2>/dev/null ||
    { cat "$work_dir/server.err" >&2; fail "the server exited during start-up"; }
  sleep 0.1
done
[[ -n "$port" ]] || fail "the server printed no 'is serving ... at http://127.0.0.1:PORT' in 60 s"
origin="http://127.0.0.1:$port"
base="$origin/$kTenant/api/FHIR/R4"

# Step 4: check the search answers, and how many resources the tenant holds.
first_page="$base/Observation?patient=bench-patient-1&category=vital-signs&_count=50"
status="$(curl --noproxy '*' -s -o "$work_dir/first.json" -w '%{http_code}' --max-time 10 \
  "$first_page")" || true
[[ "$status" == "200" ]] || fail "expected HTTP 200, got '$status' for $first_page"
page_entries="$(grep -o '"mode":"match"' "$work_dir/first.json" | wc -l)"
page_total="$(sed -nE 's/.*"total":([0-9]+).*/\1/p' "$work_dir/first.json" | head -n 1)"
stored="$(curl --noproxy '*' -s --max-time 30 "$origin/admin/tenants/$kTenant" | tr -d ' \n' |
  sed -nE 's/.*"resources":\{"total":([0-9]+).*/\1/p')"

# Step 5: one warm-up run and one measured run per route.
clock_ticks="$(getconf CLK_TCK)"
# CPU time (clock ticks) the sandbox has used so far.
server_cpu_ticks() { process_cpu_ticks "$server_pid"; }


export BENCH_LUA_DIR="$bench_dir"
export BENCH_PATIENTS="$patients"
wrk_options=(-t "$wrk_threads" -c "$connections" --latency)
names=()
results=()
server_cpu=()
wrk_cpu=()
errors_total=0
paging_resources=""

measure() {
  local name="$1" lua="$2" url="$3"
  local start_ticks end_ticks result wrk_seconds
  if ((warmup > 0)); then
    wrk "${wrk_options[@]}" -d "${warmup}s" -s "$bench_dir/$lua" "$url" >"$work_dir/wrk.out" 2>&1 ||
      fail "wrk failed during the warm-up of $name"
  fi
  start_ticks="$(server_cpu_ticks)"
  local TIMEFORMAT='%U %S'
  { time wrk "${wrk_options[@]}" -d "${duration}s" -s "$bench_dir/$lua" "$url" \
    >"$work_dir/wrk.out" 2>&1; } 2>"$work_dir/wrk.time" ||
    { cat "$work_dir/wrk.out" >&2; fail "wrk failed while measuring $name"; }
  end_ticks="$(server_cpu_ticks)"

  result="$(grep '^BENCH_RESULT ' "$work_dir/wrk.out" | cut -d' ' -f2-)"
  [[ -n "$result" ]] || { cat "$work_dir/wrk.out" >&2; fail "wrk printed no result for $name"; }
  if grep -q '^BENCH_RESOURCES ' "$work_dir/wrk.out"; then
    paging_resources="$(grep '^BENCH_RESOURCES ' "$work_dir/wrk.out" | cut -d' ' -f2-)"
  fi
  wrk_seconds="$(awk '{ print $1 + $2 }' "$work_dir/wrk.time")"
  names+=("$name")
  results+=("$result")
  server_cpu+=("$(awk -v t=$((end_ticks - start_ticks)) -v hz="$clock_ticks" -v d="$duration" \
    'BEGIN { printf "%.0f", 100 * t / hz / d }')")
  wrk_cpu+=("$(awk -v s="$wrk_seconds" -v d="$duration" 'BEGIN { printf "%.0f", 100 * s / d }')")
  local field errors=0
  for field in status_errors socket_connect socket_read socket_write socket_timeout; do
    errors=$((errors + $(json_number "$field" "$result")))
  done
  errors_total=$((errors_total + errors))
}

measure "GET /healthz (baseline)" read.lua "$origin/healthz"
measure "first page (50 of 120)" search_first_page.lua "$base"
measure "paging via next links" search_paging.lua "$base"

# Step 6: stop the server; a non-zero exit or an error-level log line is a failure.
server_status=0
stop_server || server_status=$?
server_error_lines="$(grep -c '"level":"error"' "$work_dir/server.err" || true)"

# Step 7: report.
load_average_after="$(cut -d' ' -f1-3 /proc/loadavg)"
cpu_model="$(sed -nE 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
commit="$(git -C "$repo_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$repo_dir" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  commit="$commit (with uncommitted changes)"
fi

echo
echo "fhirbridge search benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
echo "machine: $(nproc) cores, $cpu_model; load average $load_average_before before the runs," \
  "$load_average_after after"
echo "tenant:  epic-2024-aug build level, $stored resources in ${store#"$repo_dir/"}" \
  "($patients patients)"
echo "search:  [base]/Observation?patient=bench-patient-N&category=vital-signs&_count=50," \
  "N random per request; first page: $page_entries entries, total $page_total"
echo "server:  ${server_command[*]#"$repo_dir/"}"
echo "client:  wrk ${wrk_options[*]} -d ${duration}s (after a ${warmup}s warm-up)"
echo

baseline_rate="$(json_number requests_per_second "${results[0]}")"
baseline_p50="$(json_number p50 "${results[0]}")"
baseline_p99="$(json_number p99 "${results[0]}")"
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "-" }'
}
printf '%-25s %9s %7s %8s %7s %8s %7s %7s %7s %7s\n' route "req/s" "vs base" "p50 ms" \
  "vs base" "p99 ms" "vs base" errors "srv cpu" "wrk cpu"
for i in "${!names[@]}"; do
  rate="$(json_number requests_per_second "${results[$i]}")"
  p50="$(json_number p50 "${results[$i]}")"
  p99="$(json_number p99 "${results[$i]}")"
  errors=0
  for field in status_errors socket_connect socket_read socket_write socket_timeout; do
    errors=$((errors + $(json_number "$field" "${results[$i]}")))
  done
  printf '%-25s %9.0f %7s %8.3f %7s %8.3f %7s %7d %6s%% %6s%%\n' "${names[$i]}" "$rate" \
    "$(ratio "$rate" "$baseline_rate")" "$p50" "$(ratio "$p50" "$baseline_p50")" "$p99" \
    "$(ratio "$p99" "$baseline_p99")" "$errors" "${server_cpu[$i]}" "${wrk_cpu[$i]}"
done
resources_rate="$(json_number resources_per_second "$paging_resources")"
printf 'paging throughput: %.0f resources/s (%s of the /healthz request rate)\n' \
  "$resources_rate" "$(ratio "$resources_rate" "$baseline_rate")"
echo

first_rate="$(json_number requests_per_second "${results[1]}")"
verdict() {
  awk "BEGIN { print (($1) ? \"PASS\" : \"FAIL\") }"
}
echo "target:"
printf '  %s  first page >= %d req/s   measured %.0f req/s (%s the target)\n' \
  "$(verdict "$first_rate >= $kFirstPageTargetPerSecond")" "$kFirstPageTargetPerSecond" \
  "$first_rate" "$(ratio "$first_rate" "$kFirstPageTargetPerSecond")"
echo
echo "server: exit status $server_status after SIGTERM, $server_error_lines error log lines"
if ((server_error_lines > 0)); then
  grep '"level":"error"' "$work_dir/server.err" | head -n 5 >&2
fi
if ((errors_total > 0 || server_status != 0 || server_error_lines > 0)); then
  echo "search_bench: FAILED: the server gave errors (see above)" >&2
  exit 1
fi
