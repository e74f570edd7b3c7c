#!/usr/bin/env bash
# Throughput benchmark of the synthetic data generator (`fhirbridge synth`): generates the same
# patients twice, as NDJSON and as transaction Bundles, into a temporary directory, and prints
# resources/s and MB/s for each, then the target with PASS or FAIL.
#
# Usage: bench/synth_bench.sh            (from anywhere; builds the release binary if needed)
#
# Settings (environment variables, all optional):
#   BENCH_PATIENTS=20000     patients per run (about 72 resources each)
#   BENCH_SEED=1             generator seed
#   BENCH_PROFILE=realistic  clean, realistic or negative
#   BENCH_BUILD=1            0 skips the build step and uses the binary as it is
#   BENCH_BUILD_DIR=build/release
#                            where the release binary is built (configured with
#                            -DCMAKE_BUILD_TYPE=Release -DFHIRBRIDGE_TESTS=OFF when missing)
#   BENCH_JOBS=2             parallel compile jobs for the build step
#   BENCH_OUT_ROOT=          parent of the temporary output directory; default /dev/shm when it
#                            is writable (so the figures measure generation, not the disk),
#                            otherwise $TMPDIR or /tmp
#
# Each run is bounded (120 s) and the output is deleted when the script ends. Exit status: 0
# when both runs completed, whether or not the target is met; 1 when the build or a run failed.

set -euo pipefail

readonly kTargetResourcesPerSecond=100000
readonly kRunTimeoutSeconds=120

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"

patients="${BENCH_PATIENTS:-20000}"
seed="${BENCH_SEED:-1}"
profile="${BENCH_PROFILE:-realistic}"
build="${BENCH_BUILD:-1}"
build_dir="${BENCH_BUILD_DIR:-build/release}"
jobs="${BENCH_JOBS:-2}"
out_root="${BENCH_OUT_ROOT:-}"

fail() {
  echo "synth_bench: $*" >&2
  exit 1
}

[[ "$patients" =~ ^[0-9]+$ ]] && ((patients >= 1 && patients <= 1000000)) ||
  fail "BENCH_PATIENTS must be a whole number from 1 to 1000000, not '$patients'"
[[ "$seed" =~ ^[0-9]+$ ]] || fail "BENCH_SEED must be a whole number, not '$seed'"
[[ "$profile" =~ ^(clean|realistic|negative)$ ]] ||
  fail "BENCH_PROFILE must be clean, realistic or negative, not '$profile'"
[[ "$jobs" =~ ^[0-9]+$ ]] && ((jobs >= 1)) || fail "BENCH_JOBS must be a positive whole number"

if [[ -z "$out_root" ]]; then
  if [[ -d /dev/shm && -w /dev/shm ]]; then out_root=/dev/shm; else out_root="${TMPDIR:-/tmp}"; fi
fi
work_dir="$(mktemp -d "$out_root/fhirbridge-synth-bench.XXXXXX")"
trap 'rm -rf "$work_dir"' EXIT

cd "$repo_dir"
binary="$build_dir/fhirbridge"

# Step 1: build the release binary incrementally.
if [[ "$build" != "0" ]]; then
  echo "Building $build_dir (Release, -j $jobs) ..."
  if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFHIRBRIDGE_TESTS=OFF \
      >"$work_dir/configure.log" 2>&1 ||
      { tail -n 30 "$work_dir/configure.log" >&2; fail "configuring $build_dir failed"; }
  fi
  if ! cmake --build "$build_dir" -j "$jobs" --target fhirbridge >"$work_dir/build.log" 2>&1; then
    grep -E '^FAILED|error:' "$work_dir/build.log" | head -n 20 >&2 || true
    fail "the release build failed (rerun: cmake --build $build_dir --target fhirbridge)"
  fi
fi
[[ -x "$binary" ]] || fail "$binary does not exist; run without BENCH_BUILD=0"

echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Output under $work_dir; $patients patients, seed $seed, profile $profile"
echo

# Step 2: one run per format. The generator prints one summary line; its own timing covers
# generation and writing, not process start-up.
declare -A rate
printf '%-8s %12s %10s %8s %14s %10s\n' format resources MB seconds resources/s MB/s
for format in ndjson bundles; do
  out="$work_dir/$format"
  if ! summary="$(timeout "$kRunTimeoutSeconds" "$binary" synth --patients "$patients" \
    --seed "$seed" --profile "$profile" --format "$format" --out "$out" 2>"$work_dir/err")"; then
    cat "$work_dir/err" >&2
    fail "the $format run failed or took longer than $kRunTimeoutSeconds s"
  fi
  pattern='([0-9]+) resources \(.*, ([0-9.]+) MB in ([0-9.]+) s \(([0-9]+) resources/s, ([0-9.]+) MB/s\)'
  [[ "$summary" =~ $pattern ]] || fail "unexpected summary line: $summary"
  printf '%-8s %12s %10s %8s %14s %10s\n' "$format" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" \
    "${BASH_REMATCH[3]}" "${BASH_REMATCH[4]}" "${BASH_REMATCH[5]}"
  rate[$format]="${BASH_REMATCH[4]}"
  rm -rf "$out"
done

echo
echo "Load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
for format in ndjson bundles; do
  verdict=FAIL
  ((rate[$format] >= kTargetResourcesPerSecond)) && verdict=PASS
  echo "target $format: >= $kTargetResourcesPerSecond resources/s: ${rate[$format]} $verdict"
done
