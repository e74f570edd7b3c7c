#!/usr/bin/env bash
# The main job: sets up what is missing, builds fhirbridge (release) and runs `fhirbridge demo`:
# the embedded sandbox with three differing organisations, seeded, synced into a local SQLite
# store and smoke-tested, with a summary per site. Everything goes to ./fhirbridge-demo; a second
# run reuses it. Extra arguments go to `fhirbridge demo` (for example --fresh or --json).
#
# To serve the sandbox instead (until Ctrl-C), pass `serve` first; the rest goes to
# `fhirbridge sandbox serve`: ./scripts/main.sh serve --port 9000
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release
if [[ "${1:-}" == "serve" ]]; then
  shift
  exec ./build/release/fhirbridge sandbox serve "$@"
fi
exec ./build/release/fhirbridge demo "$@"
