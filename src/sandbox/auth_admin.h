#pragma once

// The admin routes of a tenant's authorization server (plain JSON), under
// /admin/tenants/{tenant}/:
//   GET  apps                                  registered apps (secrets masked)
//   POST apps                                  register or replace an app (see
//   ParseAppRegistration) PUT  apps/{client_id}/mapping              {"mapped_to_user": bool}:
//   Epic's user mapping POST apps/{client_id}/revoke-refresh-tokens GET  auth-errors, PUT
//   auth-errors          the simulated errors (SimulatedAuthErrors as JSON) PUT  auto-approve
//   {"auto_approve": bool}: skip the login form (CI) POST launch {"patient", "encounter",
//   "launch_url"}: simulate
//                                              the EHR opening the app; returns iss, launch, url

#include <optional>
#include <span>
#include <string>

#include "http/message.h"
#include "sandbox/auth_server.h"

namespace fhirbridge::sandbox {

struct AuthAdminAnswer {
  http::Response response;
  std::string route;                 // route template for logs and metrics
  std::optional<base::Error> error;  // set when the answer is a refusal
};

// `segments` are the path segments after /admin/tenants/{tenant}; nullopt when they name no
// authorization route (so the caller can try its other routes). `fhir_base` is the tenant's
// absolute FHIR base, the `iss` of an EHR launch.
std::optional<AuthAdminAnswer> HandleAuthAdminCall(AuthorizationServer& server,
                                                   const http::Request& request,
                                                   std::span<const std::string> segments,
                                                   const std::string& fhir_base);

}  // namespace fhirbridge::sandbox
