#!/usr/bin/env bash
# Seeding benchmark: how fast the synthetic data generator's patients get into a sandbox.
#   1. generation alone (`fhirbridge synth`, NDJSON into /dev/shm): the baseline;
#   2. seeding over HTTP (`fhirbridge seed`: transaction Bundles of conditional creates) into
#      the open-lab tenant (r4-open) of a release sandbox on loopback, then the same run again
#      (idempotent: it must create nothing);
#   3. bulk loading (`fhirbridge seed --bulk`: NDJSON to POST /admin/tenants/{t}/bulk-load)
#      into another r4-open tenant of the same sandbox, then again (must create nothing), and
#      into an epic-2024-aug tenant (which indexes only the parameters that level offers).
# Each in resources/s, with its ratio to generation, resources per second of the sandbox's CPU
# time, and the targets.
#
# Usage: bench/seed_bench.sh            (from anywhere; builds build/release if needed)
#
# Settings (environment variables, all optional):
#   BENCH_PATIENTS=2000       patients per run (about 72 resources each)
#   BENCH_SEED=1              generator seed
#   BENCH_PROFILE=realistic   clean, realistic or negative
#   BENCH_ENTRIES=500         entries per transaction Bundle (fhirbridge seed --entries-per-request)
#   BENCH_SERVER_THREADS=1    sandbox worker threads (the machine this was written for has 2
#                             cores: one for the sandbox, one for the seeder)
#   BENCH_BUILD=1             0 skips the build and uses build/release/fhirbridge as it is
#
# Exit status: 0 when every run completed and the second runs created nothing, whether or not
# the targets are met; 1 otherwise.

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly kGenerationTarget=100000
readonly kBulkTarget=20000
readonly kRunTimeoutSeconds=600

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"
binary="$repo_dir/build/release/fhirbridge"

patients="${BENCH_PATIENTS:-2000}"
seed="${BENCH_SEED:-1}"
profile="${BENCH_PROFILE:-realistic}"
entries="${BENCH_ENTRIES:-500}"
server_threads="${BENCH_SERVER_THREADS:-1}"
build="${BENCH_BUILD:-1}"

fail() {
  echo "seed_bench: $*" >&2
  exit 1
}

[[ "$patients" =~ ^[0-9]+$ ]] && ((patients >= 1 && patients <= 200000)) ||
  fail "BENCH_PATIENTS must be a whole number from 1 to 200000, not '$patients'"
[[ "$seed" =~ ^[0-9]+$ ]] || fail "BENCH_SEED must be a whole number, not '$seed'"
[[ "$profile" =~ ^(clean|realistic|negative)$ ]] ||
  fail "BENCH_PROFILE must be clean, realistic or negative, not '$profile'"
[[ "$entries" =~ ^[0-9]+$ ]] && ((entries >= 1 && entries <= 100000)) ||
  fail "BENCH_ENTRIES must be a whole number from 1 to 100000"
[[ "$server_threads" =~ ^[0-9]+$ ]] && ((server_threads <= 256)) ||
  fail "BENCH_SERVER_THREADS must be a whole number from 0 to 256"
command -v curl >/dev/null || fail "curl is not installed (Debian: apt-get install curl)"

out_root=/dev/shm
[[ -d "$out_root" && -w "$out_root" ]] || out_root="${TMPDIR:-/tmp}"
work_dir="$(mktemp -d "$out_root/fhirbridge-seed-bench.XXXXXX")"
server_pid=""

stop_server() {
  [[ -n "$server_pid" ]] || return 0
  local pid="$server_pid"
  server_pid=""
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_server
  rm -rf "$work_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Step 1: build the release binary incrementally.
cd "$repo_dir"
if [[ "$build" != "0" ]]; then
  echo "Building build/release (cmake --build --preset release -j 2) ..."
  if [[ ! -f build/release/CMakeCache.txt ]]; then
    cmake --preset release >"$work_dir/configure.log" 2>&1 ||
      { tail -n 30 "$work_dir/configure.log" >&2; fail "cmake --preset release failed"; }
  fi
  cmake --build --preset release -j 2 --target fhirbridge >"$work_dir/build.log" 2>&1 ||
    { grep -E '^FAILED|error:' "$work_dir/build.log" | head -n 20 >&2; fail "the build failed"; }
fi
[[ -x "$binary" ]] || fail "$binary is missing; run without BENCH_BUILD=0"

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# Step 2: generation alone, the baseline.
summary="$(timeout "$kRunTimeoutSeconds" "$binary" synth --patients "$patients" --seed "$seed" \
  --profile "$profile" --format ndjson --out "$work_dir/ndjson")" || fail "generation failed"
pattern='([0-9]+) resources \(.* in ([0-9.]+) s \(([0-9]+) resources/s'
[[ "$summary" =~ $pattern ]] || fail "unexpected synth summary: $summary"
resources="${BASH_REMATCH[1]}"
generation_rate="${BASH_REMATCH[3]}"
rm -rf "$work_dir/ndjson"

# Step 3: a release sandbox on a free loopback port, with the built-in build levels and three
# empty-but-for-the-baseline tenants: two plain R4 (every search parameter indexed), one
# Epic-like (only what that level offers is indexed).
config="$work_dir/tenants.toml"
sed -n '1,/^\[\[tenants\]\]/p' "$repo_dir/data/sandbox/tenants.toml" | sed '$d' >"$config"
for tenant in open-lab:r4-open open-lab-bulk:r4-open epic-bulk:epic-2024-aug; do
  printf '[[tenants]]\nname = "%s"\nbuild_level = "%s"\nstorage = ":memory:"\n\n' \
    "${tenant%%:*}" "${tenant##*:}" >>"$config"
done
"$binary" sandbox serve --config "$config" --port 0 --threads "$server_threads" --log-level warning \
  >"$work_dir/server.out" 2>"$work_dir/server.err" &
server_pid=$!
port=""
for _ in $(seq 100); do
  port="$(sed -nE 's|^fhirbridge sandbox is serving .* at http://127\.0\.0\.1:([0-9]+).*|\1|p' \
    "$work_dir/server.out")"
  [[ -n "$port" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work_dir/server.err" >&2; fail "the sandbox exited"; }
  sleep 0.1
done
[[ -n "$port" ]] || fail "the sandbox printed no port in 10 s"
origin="http://127.0.0.1:$port"

# CPU time (clock ticks) the sandbox has used so far.
server_cpu_ticks() { process_cpu_ticks "$server_pid"; }
clock_ticks="$(getconf CLK_TCK)"

# Runs one `fhirbridge seed` and prints "created already_present failed seconds cpu_seconds",
# read from its summary line ("seed: N created, N already present, N failed; ... in S s (...)")
# and the sandbox's CPU time over the run.
seed_run() {
  local before after
  before="$(server_cpu_ticks)"
  local output
  output="$(timeout "$kRunTimeoutSeconds" "$binary" seed --sandbox "$origin" --patients "$patients" \
    --seed "$seed" --profile "$profile" --entries-per-request "$entries" "$@")" ||
    { echo "$output" | tail -n 5 >&2; fail "fhirbridge seed $* failed"; }
  local pattern='seed: ([0-9]+) created, ([0-9]+) already present, ([0-9]+) failed;.* in ([0-9.]+) s'
  [[ "$output" =~ $pattern ]] || fail "unexpected seed summary: $output"
  after="$(server_cpu_ticks)"
  echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]} ${BASH_REMATCH[4]}" \
    "$(awk -v t=$((after - before)) -v hz="$clock_ticks" 'BEGIN { printf "%.2f", t / hz }')"
}

# An assignment from a failed command substitution stops the script (set -e).
result="$(seed_run --tenant open-lab)"
read -r http_created _ http_failed http_seconds http_cpu <<<"$result"
result="$(seed_run --tenant open-lab)"
read -r http2_created _ _ http2_seconds http2_cpu <<<"$result"
result="$(seed_run --tenant open-lab-bulk --bulk)"
read -r bulk_created _ bulk_failed bulk_seconds bulk_cpu <<<"$result"
result="$(seed_run --tenant open-lab-bulk --bulk)"
read -r bulk2_created _ _ bulk2_seconds bulk2_cpu <<<"$result"
result="$(seed_run --tenant epic-bulk --bulk)"
read -r epic_created _ epic_failed epic_seconds epic_cpu <<<"$result"
stop_server
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3fx", a / b; else printf "-" }'; }
http_rate="$(rate "$resources" "$http_seconds")"
bulk_rate="$(rate "$resources" "$bulk_seconds")"
commit="$(git -C "$repo_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "fhirbridge seeding benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
echo "machine: $(nproc) cores; load average $load_before before, $load_after after"
echo "data: $patients patients, seed $seed, profile $profile: $resources resources;" \
  "sandbox --threads $server_threads; $entries entries per transaction"
echo
printf '%-36s %12s %9s %14s %12s %10s\n' run resources/s seconds "vs generation" "per srv cpu-s" created
printf '%-36s %12s %9s %14s %12s %10s\n' "generate (synth, NDJSON)" "$generation_rate" "-" "1.000x" "-" "-"
row() {
  local name="$1" seconds="$2" cpu="$3" created="$4" resources_per_second
  resources_per_second="$(rate "$resources" "$seconds")"
  printf '%-36s %12s %9.2f %14s %12s %10s\n' "$name" "$resources_per_second" "$seconds" \
    "$(ratio "$resources_per_second" "$generation_rate")" "$(rate "$resources" "$cpu")" "$created"
}
row "seed over HTTP (r4-open)" "$http_seconds" "$http_cpu" "$http_created"
row "  again (all already present)" "$http2_seconds" "$http2_cpu" "$http2_created"
row "seed --bulk (r4-open)" "$bulk_seconds" "$bulk_cpu" "$bulk_created"
row "  again (all already present)" "$bulk2_seconds" "$bulk2_cpu" "$bulk2_created"
row "seed --bulk (epic-2024-aug)" "$epic_seconds" "$epic_cpu" "$epic_created"
echo "per srv cpu-s: resources per second of the sandbox's CPU time, which a busy machine"
echo "               changes less than the wall-clock figure"
echo "bulk load vs HTTP seeding: $(ratio "$bulk_rate" "$http_rate")"
echo
verdict() { awk "BEGIN { print (($1) ? \"PASS\" : \"FAIL\") }"; }
echo "targets:"
echo "  $(verdict "$generation_rate >= $kGenerationTarget")  generation >= $kGenerationTarget" \
  "resources/s: $generation_rate ($(ratio "$generation_rate" "$kGenerationTarget") the target)"
echo "  $(verdict "$bulk_rate >= $kBulkTarget")  bulk load >= $kBulkTarget resources/s:" \
  "$bulk_rate ($(ratio "$bulk_rate" "$kBulkTarget") the target)"

status=0
if ((http_created != resources || bulk_created != resources || epic_created != resources)); then
  echo "seed_bench: a first run created $http_created (HTTP), $bulk_created and" \
    "$epic_created (bulk) of $resources resources" >&2
  status=1
fi
if ((http2_created != 0 || bulk2_created != 0 || http_failed + bulk_failed + epic_failed != 0))
then
  echo "seed_bench: a second run created resources or a run failed some" >&2
  status=1
fi
exit "$status"
