#!/usr/bin/env bash
# Runs the interoperability tests: independent FHIR clients from npm against a real sandbox, or,
# when test files are named as arguments, only those (e.g. oidc_provider_backend.mjs, where an
# independent authorization server issues tokens to the fhirbridge binary). Needs Node 20 or
# newer and, on the first run or after package-lock.json changes, the npm registry.
# FHIRBRIDGE_BINARY selects the fhirbridge binary (default: build/debug/fhirbridge).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

# npm ci writes node_modules/.package-lock.json, so its age tells whether the installed
# packages still match the committed lockfile.
installed_lockfile=node_modules/.package-lock.json
if [[ ! -f "${installed_lockfile}" || package-lock.json -nt "${installed_lockfile}" ]]; then
  npm ci --no-audit --no-fund
fi

status=0
node --test "$@" || status=$?
exit "${status}"
