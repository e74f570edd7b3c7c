#pragma once

// Verifies SMART backend-services client assertions (private_key_jwt) the way Epic and SMART
// App Launch 2.x do, and caches the JWK Sets it fetches from registered URLs.
//
// Rules enforced: alg RS256/RS384/RS512, or ES256/ES384 only with a JWK Set URL (Epic stores no
// static EC keys); the key found by kid (or the only fitting key when there is no kid); jku, when
// present, equal to the registered URL; iss = sub = client_id; aud = the token URL; exp in the
// future and at most five minutes ahead; nbf and iat not in the future; jti a string of at most
// 151 characters never seen before for this client while it is valid.

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "jose/jose.h"
#include "sandbox/app_registration.h"

namespace fhirbridge::sandbox {

struct FetchedJwks {
  fhir::Json jwks;
  std::chrono::seconds max_age{0};  // from Cache-Control; 0 means do not reuse
};

// Fetches a JWK Set; the default uses libcurl and reads Cache-Control.
using JwksFetcher = std::function<base::Result<FetchedJwks>(const std::string& url)>;
JwksFetcher HttpJwksFetcher();

// A JWK Set cache keyed by URL. Entries live as long as their Cache-Control allows, never past
// 29 hours (Epic's cap). Thread-safe.
class JwksCache {
 public:
  explicit JwksCache(JwksFetcher fetcher);

  // The keys at `url`, fetched when absent or expired, or when `refresh` asks for it (used once
  // when a kid is unknown, in case the client rotated its keys).
  base::Result<std::vector<jose::JwkSetEntry>> Keys(const std::string& url, bool refresh,
                                                    base::SystemTime now);

  // The keys of a JWK Set registered inline (its JSON text), parsed once and then reused.
  base::Result<std::vector<jose::JwkSetEntry>> InlineKeys(const std::string& jwks_text);

  static constexpr std::chrono::hours kMaximumAge{29};

 private:
  struct Entry {
    std::vector<jose::JwkSetEntry> keys;
    base::SystemTime expires;
  };
  JwksFetcher fetcher_;
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;                               // guarded by mutex_
  std::map<std::string, std::vector<jose::JwkSetEntry>> inline_sets_;  // guarded by mutex_
};

class ClientAssertionVerifier {
 public:
  explicit ClientAssertionVerifier(JwksCache& cache) : cache_(cache) {}

  // Verifies `assertion` for `app` presented at `token_url`. Failures are kOAuthInvalidClient
  // with a description that names the rule broken (never the token itself).
  base::Status Verify(std::string_view assertion, const AppRegistration& app,
                      std::string_view token_url, base::SystemTime now);

  // Longest a client assertion may live, from SMART and Epic.
  static constexpr std::chrono::seconds kMaximumLifetime{300};
  static constexpr std::size_t kMaximumJtiLength = 151;

 private:
  base::Status RememberJti(const std::string& client_id, const std::string& jti,
                           base::SystemTime expires, base::SystemTime now);

  JwksCache& cache_;
  std::mutex mutex_;
  // client id -> jti -> when the assertion that used it expires. Guarded by mutex_.
  std::map<std::string, std::map<std::string, base::SystemTime>> seen_jti_;
  base::SystemTime next_sweep_;  // guarded by mutex_
};

}  // namespace fhirbridge::sandbox
