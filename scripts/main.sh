#!/usr/bin/env bash
# The main job: sets up what is missing, builds fhirbridge (release) and runs the sandbox on its
# built-in configuration, printing where each simulated organisation is served. Ctrl-C stops it.
# Extra arguments go to `fhirbridge sandbox serve` (for example --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release
exec ./build/release/fhirbridge sandbox serve "$@"
