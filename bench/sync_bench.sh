#!/usr/bin/env bash
# Sync benchmark: `fhirbridge sync` from the sandbox over loopback HTTP into a SQLite store.
#
#   full sync:        resources/s end to end (HTTP, page checks, content hashes, SQLite commits
#                     with their checkpoints), per strategy; target 20,000 resources/s;
#   incremental sync: after 1 % of the resources changed (of every five changes three updates,
#                     one delete, one create), its requests as a share of the full sync's;
#                     target at most 3 %;
#   repeat:           a third sync with nothing changed, past the overlap window: its requests
#                     (what each strategy needs to learn that nothing changed).
#
# Three strategies the tenant allows are measured in the same run: _lastUpdated windows (the
# planner's choice on a plain R4 server), _history with _since (--strategy history) and Bulk
# Data $export with _since (--strategy bulk-export; its files raised to 10,000 resources for the
# benchmark, as a real server's are, from the 5 the r4-open level uses to make clients page).
# A fourth, per-patient refresh (--strategy per-patient over every loaded patient, as on an
# Epic site where nothing incremental exists), is measured when BENCH_STRATEGIES names it:
# one search per patient and type on every run, so its figures show the store's cost of
# comparing each patient's compartment, not a saving in requests.
#
# The tenant is on the r4-open build level (pages of up to 1000) with a store file filled by
# bench/search_bench_loader.cc through the ResourceStore API: PATIENTS patients with
# RESOURCES_PER_PATIENT - 1 resources each (Observation, Condition, Encounter,
# MedicationRequest). The loaded file is kept between runs and copied for each run, because the
# run changes it. Before the full syncs, one resource per type is updated after the overlap
# window has passed (bench/sync_bench_changer.cc settle), so that the checkpoint sits on a lone
# resource, as it does on a site whose data was not all written within the last second; without
# it, every incremental window would read again the loader's last batch, which shares one
# timestamp.
#
# Usage: bench/sync_bench.sh          (from anywhere; builds the release binaries if needed)
#
# Settings (environment variables, all optional):
#   BENCH_PATIENTS=1000                patients in the store
#   BENCH_RESOURCES_PER_PATIENT=200    resources per patient, the patient included
#   BENCH_SERVER_THREADS=1             fhirbridge sandbox serve --threads
#   BENCH_PAGE_SIZE=1000               fhirbridge sync --page-size
#   BENCH_BUILD_DIR=build/release      where the binaries are
#   BENCH_BUILD=1                      0 skips the build step
#   BENCH_STORE_DIR=$BENCH_BUILD_DIR/sync-bench   where the loaded store file is kept
#   BENCH_STRATEGIES="lastupdated history export"  the strategies to measure, in that order
#                                      (also: patient, per-patient refresh)
#
# Exit status: 0 when every step completed, whether or not the targets are met; 1 otherwise.

set -euo pipefail

readonly kResourcesPerSecondTarget=20000
readonly kIncrementalShareTarget=3
readonly kTenant="bench"
readonly kTypes="Patient,Observation,Condition,Encounter,MedicationRequest"

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"
patients="${BENCH_PATIENTS:-1000}"
per_patient="${BENCH_RESOURCES_PER_PATIENT:-200}"
server_threads="${BENCH_SERVER_THREADS:-1}"
page_size="${BENCH_PAGE_SIZE:-1000}"
build_dir="${BENCH_BUILD_DIR:-build/release}"
build="${BENCH_BUILD:-1}"
[[ "$build_dir" = /* ]] || build_dir="$repo_dir/$build_dir"
store_dir="${BENCH_STORE_DIR:-$build_dir/sync-bench}"
strategies="${BENCH_STRATEGIES:-lastupdated history export}"

fail() {
  echo "sync_bench: $*" >&2
  exit 1
}

for setting in patients per_patient server_threads page_size; do
  [[ "${!setting}" =~ ^[0-9]+$ ]] || fail "$setting must be a whole number, not '${!setting}'"
done
((patients >= 1 && per_patient >= 2 && page_size >= 1)) || fail "the settings are out of range"
for strategy in $strategies; do
  [[ "$strategy" =~ ^(lastupdated|history|export|patient)$ ]] ||
    fail "BENCH_STRATEGIES holds lastupdated, history, export or patient, not '$strategy'"
done
command -v curl >/dev/null || fail "curl is not installed (Debian: apt-get install curl)"

work_dir="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Step 1: build.
if [[ "$build" != "0" ]]; then
  echo "Building the release binaries in $build_dir ..."
  if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    cmake -S "$repo_dir" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DFHIRBRIDGE_TESTS=OFF >"$work_dir/configure.log" 2>&1 ||
      { tail -n 30 "$work_dir/configure.log" >&2; fail "configuring $build_dir failed"; }
  fi
  cmake --build "$build_dir" -j 2 --target fhirbridge fhirbridge_search_bench_loader \
    fhirbridge_sync_bench_changer >"$work_dir/build.log" 2>&1 ||
    { grep -E '^FAILED|error:' "$work_dir/build.log" | head -n 20 >&2; fail "the build failed"; }
fi
binary="$build_dir/fhirbridge"
loader="$build_dir/fhirbridge_search_bench_loader"
changer="$build_dir/fhirbridge_sync_bench_changer"
for file in "$binary" "$loader" "$changer"; do
  [[ -x "$file" ]] || fail "$file is missing; run with BENCH_BUILD=1"
done

# Step 2: the store, loaded once and kept; each run works on a copy.
kept="$store_dir/store-${patients}x${per_patient}.sqlite"
mkdir -p "$store_dir"
if [[ ! -f "$kept" ]]; then
  echo "Loading $((patients * per_patient)) resources into $kept (once; kept for later runs) ..."
  rm -f "$kept.loading"*
  "$loader" "$kept.loading" "$patients" "$per_patient" 2>"$work_dir/load.err" ||
    { tail -n 5 "$work_dir/load.err" >&2; rm -f "$kept.loading"*; fail "loading the store failed"; }
  for suffix in "" -wal -shm; do
    [[ -f "$kept.loading$suffix" ]] && mv "$kept.loading$suffix" "$kept$suffix"
  done
fi
for suffix in "" -wal -shm; do
  [[ -f "$kept$suffix" ]] && cp "$kept$suffix" "$work_dir/tenant.sqlite$suffix"
done

sed -n '/^\[\[tenants\]\]/q;p' "$repo_dir/data/sandbox/tenants.toml" |
  sed '/^\[build_levels.r4-open.bulk_export\]/,/^$/ s/^max_resources_per_file = .*/max_resources_per_file = 10000/' \
    >"$work_dir/tenants.toml"
cat >>"$work_dir/tenants.toml" <<EOF
[[tenants]]
name = "$kTenant"
display_name = "Sync benchmark"
build_level = "r4-open"
storage = "$work_dir/tenant.sqlite"
EOF

# The loader's patients (bench/search_bench_loader.cc names them), for per-patient refresh.
for ((number = 1; number <= patients; ++number)); do echo "bench-patient-$number"; done \
  >"$work_dir/cohort.txt"

# Step 3: the server on a free loopback port.
"$binary" sandbox serve --config "$work_dir/tenants.toml" --port 0 --threads "$server_threads" \
  --log-level warning >"$work_dir/server.out" 2>"$work_dir/server.err" &
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
[[ -n "$port" ]] || fail "the server did not start in 60 s"
base="http://127.0.0.1:$port/$kTenant/api/FHIR/R4"

json_number() {
  sed -nE "s/^  \"$1\": ([0-9.]+),?$/\1/p" "$2" | head -n 1
}

# Runs one strategy's sync; its JSON report goes to $work_dir/$1.json.
run_sync() {
  local name="$1"
  local -a strategy_option=()
  case "$name" in
    history) strategy_option=(--strategy history) ;;
    export) strategy_option=(--strategy bulk-export) ;;
    patient) strategy_option=(--strategy per-patient --patients-file "$work_dir/cohort.txt") ;;
  esac
  "$binary" sync --fhir-base "$base" --store "$work_dir/$name.db" --site "$kTenant" \
    --types "$kTypes" --page-size "$page_size" --json --log-level warning "${strategy_option[@]}" \
    >"$work_dir/$name.json" 2>"$work_dir/$name.err" ||
    { tail -n 5 "$work_dir/$name.err" >&2; fail "the $name sync failed"; }
}

# Step 4: settle, full syncs, 1 % change, incremental syncs, then syncs with nothing changed.
# The store stamps each write with max(now, previous + 1 ms), so a store the loader has just
# filled (faster than one resource per millisecond) carries instants ahead of the wall clock.
# Changes written before the clock catches up would be stamped 1 ms apart right after the
# loader's last resources, and every incremental window would read those again. So wait until
# the newest instant is past, plus the overlap window.
newest="$(curl -sf "$base/_history?_count=1" | grep -oE '"lastUpdated" *: *"[^"]+"' | head -n 1 |
  sed -E 's/.*"([^"]+)"$/\1/')" || fail "reading the tenant's newest instant failed"
[[ -n "$newest" ]] || fail "the tenant's history has no lastUpdated"
newest_ms="$(date -d "$newest" +%s%3N)" || fail "cannot read the instant '$newest'"
wait_ms=$((newest_ms + 1200 - $(date +%s%3N)))
((wait_ms < 600000)) || fail "the store's newest instant $newest is more than 10 minutes ahead"
if ((wait_ms > 0)); then
  echo "Waiting $((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000))) s for the clock to pass the store's newest instant ($newest) ..."
  sleep "$((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000)))"
fi
"$changer" "$base" settle ${kTypes//,/ } >/dev/null || fail "settling the tenant failed"
echo "Full syncs ..."
for strategy in $strategies; do
  run_sync "$strategy"
  cp "$work_dir/$strategy.json" "$work_dir/$strategy-full.json"
done
changes="$("$changer" "$base" change 0.01 ${kTypes//,/ })" || fail "changing 1 % failed"
echo "Changed the tenant: $changes"
echo "Incremental syncs ..."
for strategy in $strategies; do
  run_sync "$strategy"
  cp "$work_dir/$strategy.json" "$work_dir/$strategy-incremental.json"
done
# Past the overlap window, so that a repeat reads nothing again.
sleep 1.2
echo "Syncs with nothing changed ..."
for strategy in $strategies; do
  run_sync "$strategy"
  cp "$work_dir/$strategy.json" "$work_dir/$strategy-repeat.json"
done

# Step 5: figures.
# The requests of each type in a report, "Type=N ...".
type_requests() {
  tr -d ' \n' <"$1" | grep -oE '"requests":[0-9]+,"resources":[0-9]+,"restarts":[0-9]+,[^}]*"type":"[A-Za-z]+"' |
    sed -E 's/^"requests":([0-9]+),.*"type":"([A-Za-z]+)"$/\2=\1/' | tr '\n' ' '
}
printf '\n%-12s %10s %9s %10s %13s %11s %9s %11s\n' strategy resources seconds "res/s" \
  "full requests" "incr. req." "incr. %" "repeat req."
pass_rate=1
pass_share=1
for strategy in $strategies; do
  resources="$(json_number resources "$work_dir/$strategy-full.json")"
  seconds="$(json_number seconds "$work_dir/$strategy-full.json")"
  full_requests="$(json_number requests "$work_dir/$strategy-full.json")"
  incremental_requests="$(json_number requests "$work_dir/$strategy-incremental.json")"
  repeat_requests="$(json_number requests "$work_dir/$strategy-repeat.json")"
  rate="$(awk -v r="$resources" -v s="$seconds" 'BEGIN { printf "%.0f", r / s }')"
  share="$(awk -v i="$incremental_requests" -v f="$full_requests" 'BEGIN { printf "%.2f", 100 * i / f }')"
  printf '%-12s %10d %9.2f %10d %13d %11d %8s%% %11d\n' "$strategy" "$resources" "$seconds" \
    "$rate" "$full_requests" "$incremental_requests" "$share" "$repeat_requests"
  # The targets are for the search strategies; export's and per-patient refresh's figures are
  # shown beside them.
  [[ "$strategy" == export || "$strategy" == patient ]] && continue
  awk -v r="$rate" -v t="$kResourcesPerSecondTarget" 'BEGIN { exit !(r >= t) }' || pass_rate=0
  awk -v s="$share" -v t="$kIncrementalShareTarget" 'BEGIN { exit !(s <= t) }' || pass_share=0
done
echo
echo "requests per type:"
for strategy in $strategies; do
  for run in full incremental repeat; do
    printf '  %-12s %-12s %s\n' "$strategy" "$run" "$(type_requests "$work_dir/$strategy-$run.json")"
  done
done
verdict() { (($1)) && echo PASS || echo FAIL; }
echo
echo "targets:"
echo "  $(verdict $pass_rate)  full sync >= $kResourcesPerSecondTarget resources/s (both strategies)"
echo "  $(verdict $pass_share)  incremental after 1 % changed <= $kIncrementalShareTarget % of the full sync's requests (both strategies)"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); server threads $server_threads, page size $page_size"
