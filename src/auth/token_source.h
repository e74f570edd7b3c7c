#pragma once

// Where a client's bearer tokens come from. Everything that sends requests to a site (the
// seeder, the traffic layer, sync, smoke checks) asks a TokenSource for the token to send and
// tells it when the site refused one; the source decides whether to reuse a cached token,
// refresh it, or obtain a new one (backend services, a refresh token, a fixed token).
//
// Implementations are thread-safe: many threads may ask at once, and a source renews at most
// once for all of them.

#include <atomic>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"

namespace fhirbridge::auth {

class TokenSource {
 public:
  virtual ~TokenSource() = default;

  // A token to send now in "Authorization: Bearer ...". Fails with kTokenRequestFailed (or the
  // OAuth error the server gave) when no token can be had.
  virtual base::Result<std::string> AccessToken() = 0;

  // The site answered 401 to a request that carried `rejected`: the next AccessToken() must not
  // return it again. Calling this with a token that was already replaced does nothing, so that
  // many threads seeing the same 401 cause one renewal.
  virtual void Invalidate(std::string_view rejected) = 0;
};

// A token given from outside (a flag, an environment variable); it cannot be renewed, so after
// Invalidate every AccessToken() fails with kTokenRequestFailed.
class FixedTokenSource final : public TokenSource {
 public:
  explicit FixedTokenSource(std::string token) : token_(std::move(token)) {}

  base::Result<std::string> AccessToken() override;
  void Invalidate(std::string_view rejected) override;

 private:
  std::string token_;
  std::atomic<bool> rejected_{false};
};

}  // namespace fhirbridge::auth
