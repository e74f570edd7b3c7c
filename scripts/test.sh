#!/usr/bin/env bash
# Sets up what is missing, builds the debug preset (AddressSanitizer and UndefinedBehaviorSanitizer,
# warnings as errors), checks formatting, and runs every test: the unit and HTTP-level suites and
# the interoperability test with an independent npm FHIR client. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

echo "== formatting"
./scripts/check-format.sh

echo "== build (debug, sanitizers)"
cmake --preset debug >/dev/null
cmake --build --preset debug

echo "== tests"
ctest --preset debug --parallel "$(nproc)"
