#!/usr/bin/env bash
# Demo benchmark: the wall time of `fhirbridge demo` (release build), fresh and then incremental
# in the same folder, with each site's share as the demo reports it. Target: under a minute each.
#
# Usage: bench/demo_bench.sh          (from anywhere; builds the release binary if needed)
#
# Settings (environment variables, all optional):
#   BENCH_PATIENTS=25                  fhirbridge demo --patients (the demo's default)
#   BENCH_BUILD_DIR=build/release      where the binary is
#   BENCH_BUILD=1                      0 skips the build step
#
# Exit status: 0 when both runs succeeded, whether or not the target is met; 1 otherwise.

set -euo pipefail
cd "$(dirname "$0")/.."

readonly kTargetSeconds=60
readonly patients="${BENCH_PATIENTS:-25}"
readonly build_dir="${BENCH_BUILD_DIR:-build/release}"

if [[ "${BENCH_BUILD:-1}" != 0 ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release -j 2 --target fhirbridge >/dev/null
fi
folder="$(mktemp -d /tmp/fhirbridge-demo-bench.XXXXXX)"
trap 'rm -rf "$folder"' EXIT

# Runs the demo once; prints its wall time, then each site's line with its time.
run() {
  local label="$1"
  shift
  local started ended output
  started="$(date +%s.%N)"
  if ! output="$("$build_dir/fhirbridge" demo --dir "$folder" --patients "$patients" --port 0 "$@")"; then
    echo "$output"
    echo "demo_bench: the $label run failed" >&2
    exit 1
  fi
  ended="$(date +%s.%N)"
  local seconds
  seconds="$(awk -v a="$started" -v b="$ended" 'BEGIN { print b - a }')"
  printf '%-12s %6.1f s (target < %d s)\n' "$label" "$seconds" "$kTargetSeconds"
  # Per site: "name - display name [build level], 1.2 s", later "  synced (N requests, ...)".
  echo "$output" | awk '
    /^[a-z0-9-]+ - / { site = $1; seconds = $(NF - 1) }
    /^  synced \(/ { sub(/^  synced \(/, ""); sub(/\).*/, ""); printf "    %-20s %6.1f s, %s\n", site, seconds, $0 }'
}

echo "fhirbridge demo, $patients patients per site, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
run fresh --fresh
run incremental
