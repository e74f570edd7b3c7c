#pragma once

// An application registered with a sandbox tenant's authorization server: who it is, how it
// authenticates, where it may be redirected, and which scopes this tenant grants it (tenants
// grant different, sometimes narrower, sets, as real organisations do).

#include <string>
#include <vector>

#include "base/result.h"
#include "fhir/json_value.h"

namespace fhirbridge::sandbox {

enum class ClientType {
  kPublic,                  // no secret; PKCE only
  kConfidentialSymmetric,   // client_secret (HTTP Basic or form)
  kConfidentialAsymmetric,  // private_key_jwt with a registered JWKS or JWK Set URL
};

std::string_view ClientTypeName(ClientType type);  // "public", "confidential-symmetric", ...

struct AppRegistration {
  std::string client_id;
  ClientType type = ClientType::kConfidentialAsymmetric;
  std::string client_secret;               // confidential-symmetric only
  std::vector<std::string> redirect_uris;  // exact matches, case included
  std::string granted_scopes;              // space-separated; what this tenant grants the app
  std::string jwks_url;                    // confidential-asymmetric: a JWK Set URL, or
  std::string jwks;                        // an inline JWK Set as JSON text ("" if none)
  // Epic maps each backend client to a user before it may get tokens; until then the token
  // endpoint answers unauthorized_client.
  bool mapped_to_user = true;
};

// Reads a registration from the admin API's JSON:
//   {"client_id": "...", "type": "confidential-asymmetric", "redirect_uris": [...],
//    "scopes": "system/Patient.rs ...", "jwks_url": "...", "jwks": {...},
//    "client_secret": "...", "mapped_to_user": true}
// Collects every problem (kInvalidParameter, one per line, each naming its member).
base::Result<AppRegistration> ParseAppRegistration(const fhir::Json& body);

// The registration as JSON for the admin API, with the client secret masked.
fhir::Json DescribeApp(const AppRegistration& app);

}  // namespace fhirbridge::sandbox
