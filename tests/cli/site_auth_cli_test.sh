#!/usr/bin/env bash
# Drives `fhirbridge auth token|login SITE`, `sites capabilities SITE --live` and the vault's
# runtime home as a user would, against a sandbox served by the same binary: a site folder whose
# bundles point at a sandbox tenant, backend services by site name, a narrowed grant refusing
# MedicationRequest search with its reason, a standalone login (the tenant approves without the
# form, so curl plays the browser) stored in the vault and refreshed by a later run without a
# login, and a scan of everything printed for secrets. FHIRBRIDGE_BINARY selects the binary
# (default: build/debug/fhirbridge).
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- a sandbox whose tenant approves logins at once and issues one-minute access tokens --------
cat >"${work}/tenants.toml" <<'TOML'
[build_levels.open]
[build_levels.open.resources]
Patient = ["read", "search-type"]
Observation = ["read", "search-type"]
MedicationRequest = ["read", "search-type"]

[[tenants]]
name = "clinic"
build_level = "open"
[tenants.auth]
required = true
auto_approve = true
access_token_seconds = 60
default_patient = "e86izff4laD1mVsXVTNHrrl3"
user_practitioner = "e0aBRM4-LQA2a3ObnQnNsKY3"
TOML
start_sandbox --config "${work}/tenants.toml" || finish
base="${origin}/clinic/api/FHIR/R4"
admin() { curl -s -o "${work}/admin.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data-binary "$2" "${origin}/admin/tenants/clinic/$1"; }

# --- backend services by site name ----------------------------------------------------------
run 0 keys generate --dir "${work}/keys"
jwks="$("${binary}" keys jwks --dir "${work}/keys")"
status="$(admin apps "{\"client_id\":\"backend\",\"type\":\"confidential-asymmetric\",\"scopes\":\"system/Patient.rs system/Observation.rs\",\"jwks\":${jwks}}")"
[[ "${status}" == 201 ]] || fail "registering the backend app answered ${status}: $(cat "${work}/admin.out")"

mkdir -p "${work}/sites"
cat >"${work}/sites/clinic.toml" <<TOML
[site]
environment = "sandbox"
base_url = "${base}"
[auth]
mode = "backend-services"
client_id = "backend"
key = "file:${work}/keys"
scopes = ["system/Patient.rs", "system/Observation.rs", "system/MedicationRequest.rs"]
[traffic]
allow_plain_http = true
TOML
home="${work}/home"
export FHIRBRIDGE_HOME="${home}"

# No vault key yet: backend services work without a vault.
run 0 auth token clinic --sites "${work}/sites" --json
expect_in '"stored_in_vault": false' "${out}" "auth token without a vault"
expect_in '"system/Patient.rs"' "${out}" "auth token --json scopes"

run 0 vault init-key
expect_in "${home}/vault.key" "${out}" "vault init-key in the runtime home"
run 0 auth token clinic --sites "${work}/sites"
expect_in "Site clinic (backend-services): token obtained with a signed assertion" "${out}" "auth token"
expect_in "granted scopes: system/Patient.rs system/Observation.rs" "${out}" "auth token"
expect_in "stored for user system" "${out}" "auth token with a vault"
run 0 auth token clinic --sites "${work}/sites" --check-url "${base}/Patient/e86izff4laD1mVsXVTNHrrl3"
expect_in "answered HTTP 200" "${out}" "auth token --check-url"
run 0 vault list
expect_in "clinic  system" "${out}" "vault list in the runtime home"

# The grant is narrower than the bundle's request: the live matrix says why.
run 0 sites capabilities clinic --dir "${work}/sites" --live
expect_in "live: granted scopes system/Patient.rs system/Observation.rs" "${out}" "capabilities --live"
expect_in "the site did not grant system/MedicationRequest.s" "${out}" "capabilities --live"
run 0 sites capabilities clinic --dir "${work}/sites" --live --json
expect_in '"live": true' "${out}" "capabilities --live --json"
run 2 sites capabilities clinic --dir "${work}/sites" --live --granted "system/Patient.rs"

# Wrong use: a site name and explicit flags together; an unknown site; a missing site folder.
run 2 auth token clinic --sites "${work}/sites" --client-id other
run 3 auth token nowhere --sites "${work}/sites"
expect_in "nowhere" "${err}" "auth token of an unknown site"
run 2 auth token
run 0 auth token --help
expect_in "--sites" "${out}" "auth token --help"
run 0 auth login --help
expect_in "--home" "${out}" "auth login --help"
run 2 auth login clinic --sites "${work}/sites"
expect_in "backend services" "${err}" "auth login of a backend-services site"

# --- standalone launch by site name -----------------------------------------------------------
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
redirect="http://127.0.0.1:${port}/callback"
status="$(admin apps "{\"client_id\":\"viewer\",\"type\":\"public\",\"scopes\":\"patient/Patient.rs patient/Observation.rs\",\"redirect_uris\":[\"${redirect}\"]}")"
[[ "${status}" == 201 ]] || fail "registering the viewer app answered ${status}: $(cat "${work}/admin.out")"
cat >"${work}/sites/viewer.toml" <<TOML
[site]
environment = "sandbox"
base_url = "${base}"
[auth]
mode = "standalone"
client_id = "viewer"
redirect_uri = "${redirect}"
scopes = ["launch/patient", "openid", "fhirUser", "offline_access", "patient/Patient.rs", "patient/Observation.rs"]
[traffic]
allow_plain_http = true
TOML

run 1 auth token viewer --sites "${work}/sites" --user alice
expect_in "log in first: fhirbridge auth login viewer" "${err}" "auth token before a login"

"${binary}" auth login viewer --sites "${work}/sites" --user alice --timeout 30 --json \
  >"${work}/login.out" 2>"${work}/login.err" &
login_pid=$!
background_pids+=("${login_pid}")
authorize=""
for _ in $(seq 1 100); do
  authorize="$(grep -o 'http://127.0.0.1:[0-9]*/clinic/oauth2/authorize?[^ ]*' "${work}/login.err" | head -n 1)"
  [[ -n "${authorize}" ]] && break
  sleep 0.1
done
if [[ -z "${authorize}" ]]; then
  fail "auth login printed no authorize URL: $(cat "${work}/login.err")"
else
  # The browser: the tenant approves at once and redirects to the command's listener.
  curl -s -L -o "${work}/landing.html" "${authorize}"
fi
wait "${login_pid}"
login_status=$?
login_pid=""
[[ "${login_status}" == 0 ]] || fail "auth login exited ${login_status}: $(cat "${work}/login.err")"
login_out="$(cat "${work}/login.out")"
expect_in '"refresh_token_issued": true' "${login_out}" "auth login --json"
expect_in '"stored_in_vault": true' "${login_out}" "auth login --json"
expect_in '"user": "alice"' "${login_out}" "auth login --json"
cat "${work}/login.out" >>"${work}/transcript"
# The login's standard error holds the authorize URL (state and PKCE challenge are public by
# design); everything else it printed is scanned.
grep -v 'oauth2/authorize?' "${work}/login.err" >>"${work}/transcript"

run 0 vault list --json
expect_in '"has_refresh_token": true' "${out}" "vault list after the login"
expect_in '"user": "alice"' "${out}" "vault list after the login"

# A later process: the stored access token (one minute) is too close to expiry to reuse, so it
# refreshes with the stored refresh token, without a login.
run 0 auth token viewer --sites "${work}/sites" --user alice
expect_in "Site viewer (standalone): token refreshed with the stored refresh token" "${out}" "auth token after a login"
expect_in "granted scopes: launch/patient openid fhirUser offline_access patient/Patient.rs" "${out}" "auth token after a login"
run 0 auth token viewer --sites "${work}/sites" --user alice --json --check-url "${base}/Patient/e86izff4laD1mVsXVTNHrrl3"
expect_in '"check_status": 200' "${out}" "auth token --check-url after a refresh"
run 1 auth token viewer --sites "${work}/sites" --user bob
run 0 sites capabilities viewer --dir "${work}/sites" --live --user alice --json
run 2 auth login viewer --sites "${work}/sites" --print-token

# --- nothing secret in anything printed or logged ----------------------------------------------
cat "${work}/sandbox.out" "${work}/sandbox.err" >>"${work}/transcript"
vault_key="$(cat "${home}/vault.key")"
if grep -qF -- "${vault_key}" "${work}/transcript"; then fail "the vault key was printed"; fi
if grep -q "PRIVATE KEY" "${work}/transcript"; then fail "a private key was printed"; fi
# Sandbox tokens, codes and refresh tokens are 43-character base64url strings; fingerprints and
# correlation ids are hex, and the key's kid (its public thumbprint) is printed by keys generate.
kid="$(basename "$(ls "${work}/keys/keys/"*.pem | head -n 1)" .pem)"
token_like() {
  grep -oE '[A-Za-z0-9_-]{40,}' "$1" | grep -vE '^[0-9a-f]+$' | grep -vxF -- "${kid}" | sort -u
}
# The scan finds a token when one is printed: the ad-hoc form prints one on request.
"${binary}" auth token --fhir-base "${base}" --client-id backend --key-dir "${work}/keys" \
  --print-token >"${work}/control" 2>&1
[[ -n "$(token_like "${work}/control")" ]] || fail "the scan misses a printed access token"
leaks="$(token_like "${work}/transcript")"
if [[ -n "${leaks}" ]]; then fail "token-like strings were printed: $(echo "${leaks}" | head -c 200 | tr -c 'A-Za-z0-9\n' '.')..."; fi

finish
echo "site auth CLI: all checks passed"
