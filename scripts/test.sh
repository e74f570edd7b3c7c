#!/usr/bin/env bash
# Sets up what is missing, builds the debug preset (AddressSanitizer and UndefinedBehaviorSanitizer,
# warnings as errors), checks formatting, and runs every test: the unit and HTTP-level suites and
# the interoperability test with an independent npm FHIR client. The PostgreSQL store's tests run
# against a private throwaway cluster (scripts/postgres.sh), started here and stopped at the end.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

echo "== formatting"
./scripts/check-format.sh

echo "== build (debug, sanitizers)"
cmake --preset debug >/dev/null
cmake --build --preset debug

echo "== tests"
# A throwaway PostgreSQL cluster for the PostgreSQL store's tests, in the directory ctest's
# postgres fixture uses for this build (so the fixture finds it running); starting it here first
# makes a failure to start it plain.
FHIRBRIDGE_POSTGRES_DIR="/tmp/fhirbridge-postgres-$(printf '%s' "$PWD/build/debug" | md5sum | cut -c1-12)"
export FHIRBRIDGE_POSTGRES_DIR
eval "$(./scripts/postgres.sh start)"
trap './scripts/postgres.sh stop' EXIT
ctest --preset debug --parallel "$(nproc)"
