#pragma once

// A tenant's SMART on FHIR authorization server (App Launch 2.x, with Epic's rules): discovery,
// backend services (client_credentials with private_key_jwt), authorization code with PKCE for
// EHR and standalone launch (a login form and a patient picker a script can complete), refresh
// tokens rotated on use with reuse detection, introspection (RFC 7662) and revocation
// (RFC 7009). It also answers the FHIR API's question: what does this bearer token allow?
//
// Tokens and codes are opaque random strings held in memory; a restart forgets them, as a real
// server's key rotation would. Errors follow RFC 6749: 400 with {"error", "error_description"}.
//
// Thread safety: every method may be called from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "http/message.h"
#include "sandbox/app_registration.h"
#include "sandbox/client_assertion.h"
#include "smart/scopes.h"

namespace fhirbridge::sandbox {

struct AuthSettings {
  std::chrono::seconds access_token_lifetime{3600};
  std::chrono::seconds code_lifetime{60};
  std::chrono::seconds refresh_token_lifetime{std::chrono::hours(24)};
  // Approve authorization requests at once (CI): no login form, the default patient picked.
  bool auto_approve = false;
  std::string default_patient;    // picked by auto-approval of a launch/patient request
  std::string user_practitioner;  // the test user's Practitioner id, for fhirUser
};

// Errors the admin API can switch on to rehearse what production does to clients.
struct SimulatedAuthErrors {
  bool expire_tokens_early = false;          // new access tokens live for 1 second
  bool reject_issued_tokens = false;         // the FHIR API answers 401 even for valid tokens
  bool reject_codes = false;                 // every authorization code is invalid_grant
  bool replay_every_jti = false;             // every client assertion is treated as a jti replay
  bool token_endpoint_unavailable = false;   // the token endpoint answers 503
  std::int64_t token_endpoint_delay_ms = 0;  // the token endpoint answers this much later
};

// Absolute URLs of one tenant, from the request's Host.
struct AuthUrls {
  std::string fhir_base;   // e.g. http://127.0.0.1:8090/alpine-health/api/FHIR/R4
  std::string oauth_base;  // e.g. http://127.0.0.1:8090/alpine-health/oauth2
};

// What a valid access token grants.
struct AccessGrant {
  std::string client_id;
  std::vector<smart::Scope> scopes;
  std::string patient;    // launch context; "" when none
  std::string encounter;  // launch context; "" when none
  bool backend = false;   // issued by client_credentials
};

// Test user of the login form; documented for scripts.
inline constexpr std::string_view kTestUsername = "clinician";
inline constexpr std::string_view kTestPassword = "sandbox";

class AuthorizationServer {
 public:
  using Clock = std::function<base::SystemTime()>;

  AuthorizationServer(
      std::string tenant, AuthSettings settings, JwksFetcher fetcher,
      Clock clock = [] { return std::chrono::system_clock::now(); });
  ~AuthorizationServer();

  // Registers `app`, replacing any registration with the same client id.
  void Register(AppRegistration app);
  std::optional<AppRegistration> FindApp(std::string_view client_id) const;
  std::vector<AppRegistration> Apps() const;
  // kNotFound if no such client.
  base::Status SetMappedToUser(std::string_view client_id, bool mapped);
  // Revokes every refresh token the client holds (a simulated error as much as an admin act).
  std::size_t RevokeRefreshTokens(std::string_view client_id);

  SimulatedAuthErrors simulated_errors() const;
  void SetSimulatedErrors(const SimulatedAuthErrors& errors);
  AuthSettings settings() const;
  void SetAutoApprove(bool auto_approve);

  // EHR launch: a single-use launch id bound to a patient (and encounter), as if the EHR had
  // opened the app from that chart.
  std::string CreateLaunch(std::string patient, std::string encounter);

  // The .well-known/smart-configuration document.
  fhir::Json SmartConfiguration(const AuthUrls& urls) const;
  // The JWK Set with the key that signs id_tokens.
  fhir::Json Jwks() const;

  // Handles [tenant]/oauth2/{endpoint}: "token", "authorize", "introspect", "revoke".
  http::Response Handle(const http::Request& request, std::string_view endpoint,
                        const AuthUrls& urls);

  // Checks an Authorization header for the FHIR API. kUnauthenticated (with a reason: missing,
  // malformed, unknown, expired, revoked) or the grant.
  base::Result<AccessGrant> Authenticate(const std::string* authorization_header) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fhirbridge::sandbox
