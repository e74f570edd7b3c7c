#!/usr/bin/env bash
# Ingest benchmark of the local store: records synthetic searchset Bundle pages (src/synth,
# realistic profile, 100 resources a page, one type a page), then, in one process per backend,
# measures a plain simdjson parse of the same bytes (the baseline) and parse + normalise + store
# (one transaction per page with its checkpoint) into SQLite and into PostgreSQL; for SQLite also
# the floor, a plain INSERT of the same rows with nothing else timed (SQLite's own cost), with and
# without the table's primary key, and staged (rows appended, keys merged into an index in
# sorted batches: the floor of a log-structured layout). Prints
# resources/s in wall time and per CPU-second of the ingesting thread, the ratio to the
# baseline, and peak resident memory, with the targets:
#   SQLite ingest >= 100,000 resources/s on one core (per CPU-second, so that other load on a
#   shared machine does not count); peak RSS < 200 MB for a million resources.
#
# Usage: bench/ingest_bench.sh            (from anywhere; builds the release binaries if needed)
#
# Settings (environment variables, all optional):
#   BENCH_PATIENTS=14000     patients (about 72 resources each: 14,000 give about a million)
#   BENCH_PER_PAGE=100       resources per page
#   BENCH_POSTGRES=1         0 skips the PostgreSQL run
#   BENCH_BUILD=1            0 uses the binaries in build/release as they are
#   BENCH_JOBS=2             parallel compile jobs for the build step
#   BENCH_OUT_ROOT=          parent of the working directory (recorded pages and the SQLite
#                            file); default $TMPDIR or /tmp. Say which in any quoted figure:
#                            /tmp on a disk measures SQLite with its real fsyncs.
#
# The PostgreSQL run uses the private throwaway cluster of scripts/postgres.sh (fsync off, Unix
# socket), started and stopped here; its figure is an upper bound for a real server. Exit status
# 0 when every run completed, whether or not a target was met; 1 when the build or a run failed.

set -euo pipefail

readonly kTargetResourcesPerSecond=100000
readonly kTargetPeakRssKb=$((200 * 1024))

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$bench_dir")"
patients="${BENCH_PATIENTS:-14000}"
per_page="${BENCH_PER_PAGE:-100}"
postgres="${BENCH_POSTGRES:-1}"
build="${BENCH_BUILD:-1}"
jobs="${BENCH_JOBS:-2}"
out_root="${BENCH_OUT_ROOT:-${TMPDIR:-/tmp}}"
build_dir="$repo_dir/build/release"

fail() {
  echo "ingest_bench: $*" >&2
  exit 1
}

[[ "$patients" =~ ^[0-9]+$ ]] && ((patients >= 1)) ||
  fail "BENCH_PATIENTS must be a positive whole number, not '$patients'"
[[ "$per_page" =~ ^[0-9]+$ ]] && ((per_page >= 1)) ||
  fail "BENCH_PER_PAGE must be a positive whole number, not '$per_page'"

work_dir="$(mktemp -d "$out_root/fhirbridge-ingest-bench.XXXXXX")"
cleanup() {
  if [[ "$postgres" == 1 ]]; then "$repo_dir/scripts/postgres.sh" stop || true; fi
  rm -rf "$work_dir"
}
trap cleanup EXIT
cd "$repo_dir"

if [[ "$build" != 0 ]]; then
  echo "Building fhirbridge_ingest_bench in $build_dir (Release) ..."
  cmake --preset release >"$work_dir/configure.log" 2>&1 ||
    { tail -n 30 "$work_dir/configure.log" >&2; fail "configuring the release preset failed"; }
  cmake --build --preset release -j "$jobs" --target fhirbridge_ingest_bench \
    >"$work_dir/build.log" 2>&1 ||
    { grep -E '^FAILED|error:' "$work_dir/build.log" | head -n 20 >&2; fail "the build failed"; }
fi
binary="$build_dir/fhirbridge_ingest_bench"
[[ -x "$binary" ]] || fail "$binary does not exist; run without BENCH_BUILD=0"

echo "Recording pages for $patients patients ($per_page resources a page) ..."
"$binary" record "$work_dir/pages.ndjson" "$patients" "$per_page"
echo "Pages: $(du -m "$work_dir/pages.ndjson" | cut -f1) MB under $work_dir"
echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

field() { grep -oE "(^| )$1=[^ ]+" <<<"$2" | cut -d= -f2; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# One line per backend: wall-clock rates (what this machine delivered, other load included), then
# rates per CPU-second of the ingesting thread (what one core does; SQLite runs in that thread,
# a PostgreSQL server in its own processes, so that figure leaves the server out).
report() {
  local line="$1"
  echo "$line"
  printf '  %-10s wall: parse %9s/s  ingest %8s/s  ingest/parse %s\n' "$(field backend "$line")" \
    "$(field parse_resources_per_second "$line")" "$(field ingest_resources_per_second "$line")" \
    "$(ratio "$(field ingest_resources_per_second "$line")" "$(field parse_resources_per_second "$line")")"
  printf '  %-10s cpu:  parse %9s/s  ingest %8s/s  ingest/parse %s   peak RSS %s MB\n' "" \
    "$(field parse_resources_per_cpu_second "$line")" \
    "$(field ingest_resources_per_cpu_second "$line")" \
    "$(ratio "$(field ingest_resources_per_cpu_second "$line")" \
      "$(field parse_resources_per_cpu_second "$line")")" \
    "$(awk -v k="$(field peak_rss_kb "$line")" 'BEGIN { printf "%.0f", k / 1024 }')"
  local floor_rate
  floor_rate="$(field floor_resources_per_cpu_second "$line")"
  if [[ -n "$floor_rate" ]]; then
    printf '  %-10s floor (plain INSERT of the same rows): %s/s per CPU-second (%s/s wall); ' "" \
      "$floor_rate" "$(field floor_resources_per_second "$line")"
    printf 'ingest/floor %s, floor/parse %s\n' \
      "$(ratio "$(field ingest_resources_per_cpu_second "$line")" "$floor_rate")" \
      "$(ratio "$floor_rate" "$(field parse_resources_per_cpu_second "$line")")"
    printf '  %-10s floor without the primary key (append only): %s/s per CPU-second\n' "" \
      "$(field unkeyed_resources_per_cpu_second "$line")"
    printf '  %-10s floor staged (rows appended, keys merged into an index in sorted batches): %s/s per CPU-second\n' "" \
      "$(field staged_resources_per_cpu_second "$line")"
  fi
}

sqlite_line="$("$binary" ingest "$work_dir/pages.ndjson" "sqlite:$work_dir/replica.db")" ||
  fail "the SQLite run failed"
report "$sqlite_line"

postgres_line=""
if [[ "$postgres" == 1 ]]; then
  eval "$("$repo_dir/scripts/postgres.sh" start)"
  postgres_line="$("$binary" ingest "$work_dir/pages.ndjson" "$FHIRBRIDGE_TEST_POSTGRES_DSN" \
    "ingest_bench")" || fail "the PostgreSQL run failed"
  report "$postgres_line"
fi

echo
echo "Load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
rate="$(field ingest_resources_per_cpu_second "$sqlite_line")"
verdict=FAIL
((rate >= kTargetResourcesPerSecond)) && verdict=PASS
echo "target sqlite ingest on one core: >= $kTargetResourcesPerSecond resources/s: $rate $verdict"
resources="$(field resources "$sqlite_line")"
rss="$(field peak_rss_kb "$sqlite_line")"
verdict=FAIL
((rss < kTargetPeakRssKb)) && verdict=PASS
echo "target sqlite peak RSS for $resources resources: < 200 MB: $((rss / 1024)) MB $verdict"
if ((resources < 1000000)); then
  echo "(the memory target is stated for a million resources; BENCH_PATIENTS=14000 gives that)"
fi
