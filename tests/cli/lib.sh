# Sourced by the CLI tests: the binary under test, a scratch folder removed at exit, a sandbox
# served by the same binary, and checks that count failures instead of stopping at the first.
# FHIRBRIDGE_BINARY selects the binary (default: build/debug/fhirbridge).

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binary="${FHIRBRIDGE_BINARY:-${root}/build/debug/fhirbridge}"
work="$(mktemp -d)"
background_pids=()  # processes stopped at exit; a test adds its own
cleanup() {
  local pid
  for pid in "${background_pids[@]}"; do
    kill "${pid}" 2>/dev/null
    wait "${pid}" 2>/dev/null
  done
  rm -rf "${work}"
}
trap cleanup EXIT

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run EXPECTED_EXIT ARGS...: runs the binary, keeps stdout and stderr in $out and $err, and adds
# both to ${work}/transcript (for tests that scan everything printed).
run() {
  local expected="$1"
  shift
  "${binary}" "$@" >"${work}/out" 2>"${work}/err"
  local status=$?
  out="$(cat "${work}/out")"
  err="$(cat "${work}/err")"
  cat "${work}/out" "${work}/err" >>"${work}/transcript"
  if [[ "${status}" != "${expected}" ]]; then
    fail "fhirbridge $* exited ${status}, expected ${expected}; stderr: ${err}"
  fi
}

expect_in() {  # expect_in TEXT HAYSTACK WHAT
  if [[ "$2" != *"$1"* ]]; then fail "$3 lacks: $1"; fi
}
expect_not_in() {  # expect_not_in TEXT HAYSTACK WHAT
  if [[ "$2" == *"$1"* ]]; then fail "$3 contains: $1"; fi
}

# start_sandbox [ARGS...]: serves the sandbox on a free port (ARGS go to `sandbox serve`) and
# sets $origin (http://127.0.0.1:PORT). Returns 1, with the server's stderr counted as a failure,
# when it does not print its address within ten seconds.
start_sandbox() {
  "${binary}" sandbox serve --port 0 "$@" >"${work}/sandbox.out" 2>"${work}/sandbox.err" &
  background_pids+=($!)
  origin=""
  local attempt
  for attempt in $(seq 1 100); do
    origin="$(grep -o 'http://127.0.0.1:[0-9]*' "${work}/sandbox.out" | head -n 1)"
    [[ -n "${origin}" ]] && return 0
    sleep 0.1
  done
  fail "the sandbox did not start: $(cat "${work}/sandbox.err")"
  return 1
}

# finish: the test's exit status, after naming how many checks failed.
finish() {
  if ((failures > 0)); then
    echo "${failures} check(s) failed" >&2
    exit 1
  fi
  exit 0
}
