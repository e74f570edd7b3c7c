#include "sandbox/client_assertion.h"

#include <algorithm>
#include <charconv>

#include "http/client.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;
using base::Fail;

base::Status Refuse(std::string description) {
  return Fail(ErrorCode::kOAuthInvalidClient, std::move(description));
}

// Reads "max-age=N" (and no-store / no-cache, which forbid reuse) from Cache-Control.
std::chrono::seconds MaxAgeOf(const std::string* cache_control) {
  if (cache_control == nullptr) return JwksCache::kMaximumAge;
  if (cache_control->find("no-store") != std::string::npos ||
      cache_control->find("no-cache") != std::string::npos) {
    return std::chrono::seconds(0);
  }
  const std::size_t at = cache_control->find("max-age=");
  if (at == std::string::npos) return JwksCache::kMaximumAge;
  long long seconds = 0;
  const char* begin = cache_control->data() + at + 8;
  const auto [end, error] =
      std::from_chars(begin, cache_control->data() + cache_control->size(), seconds);
  if (error != std::errc() || seconds < 0) return std::chrono::seconds(0);
  return std::min<std::chrono::seconds>(std::chrono::seconds(seconds), JwksCache::kMaximumAge);
}

std::optional<std::int64_t> NumericClaim(const fhir::Json& claims, const char* name) {
  const auto found = claims.find(name);
  if (found == claims.end() || !found->is_number()) return std::nullopt;
  return found->get<std::int64_t>();
}

std::int64_t EpochSeconds(base::SystemTime time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

}  // namespace

JwksFetcher HttpJwksFetcher() {
  return [](const std::string& url) -> base::Result<FetchedJwks> {
    // Limitation: the fetch blocks the worker thread that handles the token request, for at most
    // the timeout below; the cache keeps that to the first request and to key rotations.
    http::Client client;
    http::ClientRequest request;
    request.url = url;
    request.headers = {{"Accept", "application/json"}};
    request.timeout = std::chrono::milliseconds(5000);
    auto response = client.Send(request);
    if (!response) return Fail(response.error());
    if (response->status != 200) {
      return Fail(ErrorCode::kOAuthInvalidClient, "The registered JWK Set URL answered HTTP " +
                                                      std::to_string(response->status) + ".");
    }
    fhir::Json jwks = fhir::Json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (jwks.is_discarded()) {
      return Fail(ErrorCode::kOAuthInvalidClient, "The registered JWK Set URL returned no JSON.");
    }
    return FetchedJwks{std::move(jwks), MaxAgeOf(response->FindHeader("cache-control"))};
  };
}

JwksCache::JwksCache(JwksFetcher fetcher) : fetcher_(std::move(fetcher)) {}

base::Result<std::vector<jose::JwkSetEntry>> JwksCache::Keys(const std::string& url, bool refresh,
                                                             base::SystemTime now) {
  {
    std::lock_guard lock(mutex_);
    const auto found = entries_.find(url);
    if (!refresh && found != entries_.end() && found->second.expires > now) {
      return found->second.keys;
    }
  }
  // Fetched without the lock, so one slow URL does not hold up other clients.
  auto fetched = fetcher_(url);
  if (!fetched) return Fail(fetched.error());
  auto keys = jose::ParseJwkSet(fetched->jwks);
  if (!keys) {
    return Fail(
        ErrorCode::kOAuthInvalidClient,
        "The registered JWK Set URL returned an invalid JWK Set: " + keys.error().diagnostic);
  }
  std::lock_guard lock(mutex_);
  entries_[url] = Entry{*keys, now + fetched->max_age};
  return keys;
}

base::Result<std::vector<jose::JwkSetEntry>> JwksCache::InlineKeys(const std::string& jwks_text) {
  std::lock_guard lock(mutex_);
  if (const auto found = inline_sets_.find(jwks_text); found != inline_sets_.end()) {
    return found->second;
  }
  auto keys = jose::ParseJwkSet(fhir::Json::parse(jwks_text, nullptr, false));
  if (!keys) return Fail(ErrorCode::kOAuthInvalidClient, "The registered JWK Set is unusable.");
  // Registrations are few; a replaced registration leaves its old entry, which is harmless.
  inline_sets_.emplace(jwks_text, *keys);
  return keys;
}

base::Status ClientAssertionVerifier::Verify(std::string_view assertion, const AppRegistration& app,
                                             std::string_view token_url, base::SystemTime now) {
  if (app.type != ClientType::kConfidentialAsymmetric) {
    return Refuse("This client is not registered for private_key_jwt authentication.");
  }
  auto jwt = jose::DecodeJwt(assertion);
  if (!jwt) return Refuse("The client assertion is not a usable JWT: " + jwt.error().diagnostic);

  // Keys: a registered JWK Set URL, or a registered JWK Set. EC keys need the URL, as at Epic.
  const bool from_url = !app.jwks_url.empty();
  if (!jose::IsRsa(jwt->algorithm) && !from_url) {
    return Refuse(
        "ES256 and ES384 assertions need a registered JWK Set URL; this client has "
        "static keys, so sign with RS384.");
  }
  if (const auto jku = jwt->header.find("jku"); jku != jwt->header.end()) {
    if (!jku->is_string() || !from_url || jku->get<std::string>() != app.jwks_url) {
      return Refuse("The jku header does not match the registered JWK Set URL.");
    }
  }
  const std::string kid = jwt->header.value("kid", "");

  const auto find_key =
      [&](const std::vector<jose::JwkSetEntry>& keys) -> std::optional<jose::PublicKey> {
    for (const jose::JwkSetEntry& entry : keys) {
      if (!kid.empty() && entry.kid != kid) continue;
      if (entry.algorithm && *entry.algorithm != jwt->algorithm) continue;
      if (entry.key.Fits(jwt->algorithm)) return entry.key;
    }
    return std::nullopt;
  };
  std::optional<jose::PublicKey> key;
  if (from_url) {
    auto keys = cache_.Keys(app.jwks_url, /*refresh=*/false, now);
    if (!keys) return Fail(keys.error());
    key = find_key(*keys);
    if (!key) {
      // The client may have rotated its keys since the cache was filled: fetch once more.
      keys = cache_.Keys(app.jwks_url, /*refresh=*/true, now);
      if (!keys) return Fail(keys.error());
      key = find_key(*keys);
    }
  } else {
    auto keys = cache_.InlineKeys(app.jwks);
    if (!keys) return Fail(keys.error());
    key = find_key(*keys);
  }
  if (!key) {
    return Refuse(kid.empty() ? "No registered key fits the assertion's algorithm."
                              : "No registered key has kid '" + kid.substr(0, 64) +
                                    "' for this algorithm.");
  }
  if (!key->Verify(jwt->algorithm, jwt->signing_input, jwt->signature)) {
    return Refuse("The client assertion's signature does not verify with the registered key.");
  }

  const fhir::Json& claims = jwt->claims;
  if (claims.value("iss", "") != app.client_id || claims.value("sub", "") != app.client_id) {
    return Refuse("The assertion's iss and sub must both be the client_id.");
  }
  const auto aud = claims.find("aud");
  const bool audience_matches =
      aud != claims.end() &&
      ((aud->is_string() && aud->get<std::string>() == token_url) ||
       (aud->is_array() && std::any_of(aud->begin(), aud->end(), [&](const fhir::Json& value) {
          return value.is_string() && value.get<std::string>() == token_url;
        })));
  if (!audience_matches) {
    return Refuse("The assertion's aud must be the token endpoint URL, " + std::string(token_url) +
                  ".");
  }
  const std::int64_t now_seconds = EpochSeconds(now);
  const auto exp = NumericClaim(claims, "exp");
  if (!exp) return Refuse("The assertion has no numeric exp.");
  if (*exp <= now_seconds) return Refuse("The assertion has expired.");
  if (*exp > now_seconds + kMaximumLifetime.count()) {
    return Refuse("The assertion's exp is more than five minutes ahead.");
  }
  for (const char* claim : {"nbf", "iat"}) {
    if (claims.contains(claim)) {
      const auto value = NumericClaim(claims, claim);
      if (!value) return Refuse(std::string("The assertion's ") + claim + " is not a number.");
      if (*value > now_seconds) {
        return Refuse(std::string("The assertion's ") + claim + " is in the future.");
      }
    }
  }
  const auto jti = claims.find("jti");
  if (jti == claims.end() || !jti->is_string() || jti->get_ref<const std::string&>().empty()) {
    return Refuse("The assertion needs a jti string.");
  }
  if (jti->get_ref<const std::string&>().size() > kMaximumJtiLength) {
    return Refuse("The assertion's jti is longer than 151 characters.");
  }
  return RememberJti(app.client_id, jti->get<std::string>(),
                     base::SystemTime(std::chrono::seconds(*exp)), now);
}

base::Status ClientAssertionVerifier::RememberJti(const std::string& client_id,
                                                  const std::string& jti, base::SystemTime expires,
                                                  base::SystemTime now) {
  std::lock_guard lock(mutex_);
  auto& seen = seen_jti_[client_id];
  // Forget assertions that have expired, which can no longer be replayed anyway. The sweep runs
  // at most once a second so that its cost does not grow with every request.
  if (now >= next_sweep_) {
    next_sweep_ = now + std::chrono::seconds(1);
    for (auto& [client, jtis] : seen_jti_) {
      std::erase_if(jtis, [&](const auto& entry) { return entry.second <= now; });
    }
  }
  const auto previous = seen.find(jti);
  if (previous != seen.end() && previous->second <= now) seen.erase(previous);
  if (!seen.emplace(jti, expires).second) {
    return Refuse("This jti was already used; every assertion needs a fresh one.");
  }
  return {};
}

}  // namespace fhirbridge::sandbox
