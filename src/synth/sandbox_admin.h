#pragma once

// A client of a running fhirbridge sandbox's admin API, for what the seeder and the commands
// built on it need besides data: registering the application that tests authenticate as.

#include <filesystem>
#include <string>
#include <string_view>

#include "base/result.h"
#include "fhir/json_value.h"

namespace fhirbridge::synth {

// What a backend-services app is granted when no scopes are given: read and search on every
// type, as the seeded data's readers need.
inline constexpr std::string_view kDefaultBackendScopes = "system/*.rs";

// Registers an application with tenant `tenant` of the sandbox at `origin` (for example
// "http://127.0.0.1:8090") through POST /admin/tenants/{tenant}/apps, replacing any
// registration with the same client id, so registering again is harmless. `registration` is
// the route's JSON (sandbox/app_registration.h). Returns the registration as the sandbox
// describes it (secrets masked); kRemoteRejected with the sandbox's diagnostics when it refuses,
// kIoFailure when it cannot be reached.
base::Result<fhir::Json> RegisterSandboxApp(std::string_view origin, std::string_view tenant,
                                            const fhir::Json& registration);

struct BackendAppOptions {
  std::string client_id;
  std::filesystem::path key_folder;  // an auth::KeyRing folder; created when missing
  std::string scopes = std::string(kDefaultBackendScopes);
};

struct BackendAppRegistered {
  std::string kid;            // the key that signs now
  bool created_keys = false;  // the key folder was created
};

// Registers `options.client_id` as a confidential-asymmetric backend-services app mapped to a
// user, with the public JWK Set of the key ring in `options.key_folder` inline. A folder with
// no key ring gets one with a fresh RS384 key (as `fhirbridge keys generate` would make).
base::Result<BackendAppRegistered> RegisterBackendApp(std::string_view origin,
                                                      std::string_view tenant,
                                                      const BackendAppOptions& options);

}  // namespace fhirbridge::synth
