#!/usr/bin/env bash
# Drives `fhirbridge smoke SITE...`, `sync SITE...` and `seed SITE` as a user would, against the
# default sandbox served by the same binary: backend-services apps registered with a key folder,
# a sites/ folder whose bundles name the tenants, one smoke report for two sites with a narrowed
# grant's step skipped with the capability matrix's reason, a sync plan that names a type the
# site did not grant, a sync into a SQLite replica store, a seed with the bundle's token, and a
# site in a maintenance window refused with the window's end. FHIRBRIDGE_BINARY selects the
# binary (default: build/debug/fhirbridge).
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_sandbox || finish

# Backend apps: alpine-health grants everything the journey needs but AllergyIntolerance;
# open-lab grants Patient, Observation and Condition (a token that is sent is enforced there).
run 0 seed --sandbox "${origin}" --tenant alpine-health --bulk --patients 1 \
  --register-app runtime-alpine --key-dir "${work}/keys-alpine" \
  --scopes "system/Patient.rs system/Observation.rs system/Condition.rs system/MedicationRequest.rs system/MedicationStatement.rs system/Encounter.rs"
run 0 seed --sandbox "${origin}" --tenant open-lab --bulk --patients 1 \
  --register-app runtime-lab --key-dir "${work}/keys-lab" \
  --scopes "system/Patient.rs system/Observation.rs system/Condition.rs"
run 0 seed --sandbox "${origin}" --tenant open-lab --bulk --patients 1 \
  --register-app runtime-writer --key-dir "${work}/keys-writer" --scopes "system/*.cruds"

mkdir -p "${work}/sites" "${work}/home"
bundle() {  # bundle NAME TENANT CLIENT KEYS EXTRA
  printf '[site]\nenvironment = "sandbox"\nbase_url = "%s/%s/api/FHIR/R4"\n\n[auth]\nmode = "backend-services"\nclient_id = "%s"\nkey = "file:%s"\n\n[traffic]\nallow_plain_http = true\nrequests_per_second = 200\nburst = 50\n%b' \
    "${origin}" "$2" "$3" "$4" "$5" >"${work}/sites/$1.toml"
}
bundle alpine alpine-health runtime-alpine "${work}/keys-alpine" ""
bundle lab open-lab runtime-lab "${work}/keys-lab" \
  '\n[sync]\nresource_types = ["Patient", "Observation", "Condition", "Encounter"]\n'
bundle writer open-lab runtime-writer "${work}/keys-writer" ""
bundle closed open-lab runtime-lab "${work}/keys-lab" \
  '\n[schedule]\nmaintenance_windows = ["daily 00:00-24:00"]\n'
where=(--sites "${work}/sites" --home "${work}/home")

# --- smoke: two sites, one report; the ungranted step skipped with the matrix's reason --------
run 0 smoke alpine lab "${where[@]}" --out "${work}/smoke" --json
expect_in '"site": "alpine"' "${out}" "smoke JSON"
expect_in '"site": "lab"' "${out}" "smoke JSON"
expect_in 'AllergyIntolerance' "$(grep -o '"skip_reason": *"[^"]*' "${work}/smoke/smoke-report.json" | sort -u)" \
  "smoke skip reasons"
[[ -s "${work}/smoke/smoke-report.md" && -s "${work}/smoke/smoke-report.xml" ]] || fail "smoke reports missing"

# --- sync: the plan names the ungranted type; the store fills ----------------------------------
run 0 sync lab "${where[@]}" --plan
expect_in 'Encounter' "${out}" "sync plan"
expect_in 'Encounter.s' "${out}" "sync plan's reason for Encounter"
run 1 sync lab "${where[@]}" --store "${work}/replica.db" --log-level error
expect_in 'lab Patient: ok' "${out}" "sync output"
expect_in 'lab Observation: ok' "${out}" "sync output"
expect_in 'lab Encounter: FAILED' "${out}" "sync output (the ungranted type)"
run 0 sync lab "${where[@]}" --types Patient,Observation,Condition --store "${work}/replica.db" \
  --log-level error
[[ "${out}" == *"lab Condition: ok"* ]] || fail "second sync: ${out}"
run 2 sync lab "${where[@]}" --store "${work}/replica.txt" --log-level error
run 2 sync lab --fhir-base "${origin}/open-lab/api/FHIR/R4" --plan

# --- seed with the bundle's token ------------------------------------------------------------
run 0 seed writer "${where[@]}" --patients 2 --seed 5 --json
expect_in '"created"' "${out}" "seed report"
run 2 seed lab "${where[@]}" --token nope

# --- maintenance window: refused, naming its end -----------------------------------------------
run 1 smoke closed "${where[@]}" --out "${work}/closed" --json
expect_in 'maintenance window until' "${err}${out}" "smoke during maintenance"

finish
echo "site runtime CLI: all checks passed"
