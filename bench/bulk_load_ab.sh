#!/usr/bin/env bash
# Bulk load A/B: the sandbox CPU time and wall time of `fhirbridge seed --bulk` (a first load
# and the same load again) for two or more fhirbridge binaries, run one after the other in
# rounds, so that a busy machine disturbs every binary alike. Each run starts its own sandbox
# (one r4-open tenant in memory, --threads 1) on a free loopback port.
#
# Usage: bench/bulk_load_ab.sh BINARY [BINARY ...]
#   e.g. cp build/release/fhirbridge /tmp/fhirbridge-before; (change, rebuild);
#        bench/bulk_load_ab.sh /tmp/fhirbridge-before build/release/fhirbridge
#
# Settings (environment variables, all optional):
#   BENCH_PATIENTS=1000   patients per load (about 72 resources each)
#   BENCH_ROUNDS=2        rounds over the binaries

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

patients="${BENCH_PATIENTS:-1000}"
rounds="${BENCH_ROUNDS:-2}"
(($# >= 1)) || { echo "usage: bench/bulk_load_ab.sh BINARY [BINARY ...]" >&2; exit 1; }
repo_dir="$(dirname "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)")"
work_dir="$(mktemp -d "${TMPDIR:-/tmp}/fhirbridge-bulk-ab.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work_dir"
}
trap cleanup EXIT

config="$work_dir/tenants.toml"
sed -n '1,/^\[\[tenants\]\]/p' "$repo_dir/data/sandbox/tenants.toml" | sed '$d' >"$config"
printf '[[tenants]]\nname = "bulk"\nbuild_level = "r4-open"\nstorage = ":memory:"\n' >>"$config"
clock_ticks="$(getconf CLK_TCK)"

# CPU time (clock ticks) the sandbox has used so far.
server_cpu_ticks() { process_cpu_ticks "$server_pid"; }

run_binary() {
  local binary="$1"
  : >"$work_dir/server.out"
  "$binary" sandbox serve --config "$config" --port 0 --threads 1 --log-level warning \
    >"$work_dir/server.out" 2>"$work_dir/server.err" &
  server_pid=$!
  local port=""
  for _ in $(seq 100); do
    port="$(sed -nE 's|^fhirbridge sandbox is serving .* at http://127\.0\.0\.1:([0-9]+).*|\1|p' \
      "$work_dir/server.out")"
    [[ -n "$port" ]] && break
    sleep 0.1
  done
  [[ -n "$port" ]] || { cat "$work_dir/server.err" >&2; echo "the sandbox did not start" >&2; exit 1; }
  local line="$binary:"
  for run in first again; do
    local cpu_before start end cpu_after
    cpu_before="$(server_cpu_ticks)"
    start="$(date +%s.%N)"
    "$binary" seed --sandbox "http://127.0.0.1:$port" --tenant bulk --patients "$patients" \
      --seed 1 --profile realistic --bulk >/dev/null
    end="$(date +%s.%N)"
    cpu_after="$(server_cpu_ticks)"
    line+="$(awk -v run="$run" -v s="$start" -v e="$end" -v t=$((cpu_after - cpu_before)) \
      -v hz="$clock_ticks" 'BEGIN { printf "  %s: %.2f s wall, %.2f s srv cpu", run, e - s, t / hz }')"
  done
  echo "$line"
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

echo "bulk load A/B: $patients patients, $rounds rounds; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for ((round = 1; round <= rounds; ++round)); do
  for binary in "$@"; do run_binary "$binary"; done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
