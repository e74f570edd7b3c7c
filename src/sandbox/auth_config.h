#pragma once

// A tenant's authorization settings, from its [tenants.auth] table:
//
//   required                 true: every FHIR request needs a bearer token (401 without one);
//                            false (default): a token is checked only when one is sent
//   access_token_seconds     access token lifetime, 60 to 86400 (default 3600, as at Epic)
//   auto_approve             approve authorization requests without the login form (CI)
//   default_patient          patient picked by auto-approval of a launch/patient request
//   user_practitioner        the test user's Practitioner id (fhirUser, id_token sub)

#include <cstdint>
#include <string>

namespace fhirbridge::sandbox {

struct TenantAuthSettings {
  bool required = false;
  std::int64_t access_token_seconds = 3600;
  bool auto_approve = false;
  std::string default_patient;
  std::string user_practitioner;
};

}  // namespace fhirbridge::sandbox
