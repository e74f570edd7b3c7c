#!/usr/bin/env bash
# Drives `fhirbridge sites ...` and `fhirbridge vault ...` as a user would: exit codes, messages
# naming file, line and key, masking, environment overrides, the capability matrix of a sandbox
# served by the same binary, and the vault's key handling. FHIRBRIDGE_BINARY selects the binary
# (default: build/debug/fhirbridge).
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- sites check ---------------------------------------------------------------------------
run 0 sites check --dir "${root}/sites/examples"
expect_in "2 site bundle(s), no problems found" "${out}" "check of the examples"

run 0 sites check --dir "${root}/sites/examples" --json
expect_in '"ok": true' "${out}" "check --json"

mkdir -p "${work}/broken"
cp "${root}/sites/examples/epic-sandbox.toml" "${work}/broken/"
printf '[site]\nenvironment = "sandbox"\nbase_url = "https://a.example.org"\ncolour = "red"\n\n[auth]\nmode = "backend-services"\nclient_id = "a"\nkey = "MIIEvQ-literal-key"\n' \
  >"${work}/broken/clinic.toml"
run 3 sites check --dir "${work}/broken"
expect_in "${work}/broken/clinic.toml:4:1: site.colour: unknown key" "${err}" "check of a broken folder"
expect_in "${work}/broken/clinic.toml:9:7: auth.key: must be a reference" "${err}" "check of a broken folder"
expect_not_in "MIIEvQ" "${err}" "check of a literal key"

FHIRBRIDGE_SITE_EPIC_SANDBOX_TRAFFIC_BURST=many run 3 sites check --dir "${root}/sites/examples"
expect_in "environment variable FHIRBRIDGE_SITE_EPIC_SANDBOX_TRAFFIC_BURST: traffic.burst" "${err}" \
  "check with a bad override"

run 3 sites check --dir "${work}/missing-folder"

# --- sites show ----------------------------------------------------------------------------
FHIRBRIDGE_SITE_NORTHWIND_HEALTH_PROD_TRAFFIC_PROXY="http://svc:hunter2@proxy.example.org:3128" \
  run 0 sites show northwind-health-prod --dir "${root}/sites/examples"
expect_in 'proxy = "http://svc:****@proxy.example.org:3128"    # from FHIRBRIDGE_SITE_NORTHWIND_HEALTH_PROD_TRAFFIC_PROXY' \
  "${out}" "show with an override"
expect_not_in "hunter2" "${out}${err}" "show"
expect_in 'key = "env:NORTHWIND_SIGNING_KEY"    # unavailable' "${out}" "show of an unset key"
expect_in "fingerprint " "${out}" "show"

run 0 sites show epic-sandbox --dir "${root}/sites/examples" --json
expect_in '"fingerprint": "' "${out}" "show --json"
fingerprint_before="$(grep '"fingerprint"' <<<"${out}")"
FHIRBRIDGE_SITE_EPIC_SANDBOX_TRAFFIC_BURST=5 run 0 sites show epic-sandbox --dir "${root}/sites/examples" --json
if [[ "$(grep '"fingerprint"' <<<"${out}")" == "${fingerprint_before}" ]]; then
  fail "an override did not change the fingerprint"
fi

run 3 sites show nowhere --dir "${root}/sites/examples"
expect_in 'no site named "nowhere"' "${err}" "show of an unknown site"

# --- sites capabilities --------------------------------------------------------------------
cat >"${work}/statement.json" <<'JSON'
{"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
 "rest": [{"mode": "server", "resource": [
   {"type": "Patient", "interaction": [{"code": "read"}, {"code": "search-type"}]},
   {"type": "MedicationStatement", "interaction": [{"code": "read"}]}]}]}
JSON
run 0 sites capabilities epic-sandbox --dir "${root}/sites/examples" \
  --granted "system/Patient.rs system/MedicationStatement.rs" --capability-statement "${work}/statement.json"
expect_in "MedicationStatement search-type: the site's CapabilityStatement does not offer search on MedicationStatement" \
  "${out}" "capabilities from a file"
expect_in "Observation read: the site's CapabilityStatement does not list Observation" "${out}" \
  "capabilities from a file"

run 0 sites capabilities epic-sandbox --dir "${root}/sites/examples" --granted "system/Patient.read" --json
expect_in '"the site did not grant system/Observation.read"' "${out}" "capabilities --json"

# Against a sandbox served by the same binary, fetched from BASE/metadata; the site's base URL
# comes from the environment.
if start_sandbox; then
  mkdir -p "${work}/local"
  printf '[site]\nenvironment = "sandbox"\nbase_url = "https://replaced.example.org"\n[auth]\nmode = "backend-services"\nclient_id = "local"\nkey = "env:LOCAL_KEY"\nscopes = ["system/Observation.cruds"]\n[traffic]\nallow_plain_http = true\n' \
    >"${work}/local/local.toml"
  FHIRBRIDGE_SITE_LOCAL_SITE_BASE_URL="${origin}/bayside-medical/api/FHIR/R4" \
    run 0 sites capabilities local --dir "${work}/local" --fetch
  expect_in "Observation create: the site's CapabilityStatement does not offer create on Observation" \
    "${out}" "capabilities fetched from the sandbox"
  expect_in "assuming the site granted what the bundle requests" "${out}" "capabilities without --granted"
fi

# --- vault ---------------------------------------------------------------------------------
run 0 vault init-key --key-file "${work}/vault.key"
if [[ "$(stat -c %a "${work}/vault.key")" != "600" ]]; then fail "the key file is not 0600"; fi
run 3 vault init-key --key-file "${work}/vault.key"
expect_in "already exists" "${err}" "a second init-key"

run 0 vault list --vault "${work}/vault.sqlite" --key-file "${work}/vault.key"
expect_in "The vault holds no tokens." "${out}" "list of a new vault"
if [[ "$(stat -c %a "${work}/vault.sqlite")" != "600" ]]; then fail "the vault file is not 0600"; fi

FHIRBRIDGE_VAULT_KEY="$(cat "${work}/vault.key")" run 0 vault list --vault "${work}/vault.sqlite" --json
expect_in "[]" "${out}" "list --json with the key from the environment"

run 0 vault init-key --key-file "${work}/other.key"
run 3 vault list --vault "${work}/vault.sqlite" --key-file "${work}/other.key"
expect_in "written with another key" "${err}" "list with the wrong key"

run 3 vault list --vault "${work}/vault.sqlite"
expect_in "no vault key" "${err}" "list without a key"

run 1 vault erase --vault "${work}/vault.sqlite" --key-file "${work}/vault.key" --site clinic --user system
expect_in "holds no tokens" "${err}" "erase of nothing"

for command in "sites check" "sites show" "sites capabilities" "vault init-key" "vault list" "vault erase"; do
  # shellcheck disable=SC2086
  run 0 ${command} --help
done

finish
echo "sites and vault commands: all checks passed"
