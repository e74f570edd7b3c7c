#pragma once

// The caching and renewal machinery shared by the token sources that can obtain a new token on
// their own (backend services, refresh tokens). A token is reused until shortly before it
// expires and renewed ahead of expiry; at most one renewal is in flight per source however many
// threads ask (the others wait for it and share its result, or keep using the current token
// while it is still valid); a failed renewal is reported to every waiter and held for a short
// while, so that a failing server is not hammered by every caller.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/token_response.h"
#include "auth/token_source.h"
#include "base/clock.h"

namespace fhirbridge::auth {

struct RenewalPolicy {
  // A token is renewed once less than max(minimum_margin, margin_fraction of its lifetime)
  // remains, but never in the first half of its life (so a 1 s token is not renewed at once).
  std::chrono::seconds minimum_margin{30};
  double margin_fraction = 0.1;
  // After a failed renewal, callers get the same failure for this long before another request
  // is sent.
  std::chrono::milliseconds failure_hold{2000};
};

// What the current token grants and when it lapses; never the token itself.
struct TokenStatus {
  bool has_token = false;
  std::string scope;  // granted scopes, single-space separated
  std::vector<std::string> scopes;
  base::SystemTime obtained{};
  base::SystemTime expires{};
  base::SystemTime renew_after{};
  bool expiry_assumed = false;  // the server sent no expires_in (see kDefaultTokenLifetime)
  std::string patient;          // launch context, when the grant has one
  std::string encounter;
  std::uint64_t token_requests = 0;  // renewals attempted by this source, successful or not
};

class RenewingTokenSource : public TokenSource {
 public:
  using Clock = std::function<base::SystemTime()>;

  base::Result<std::string> AccessToken() final;
  void Invalidate(std::string_view rejected) final;

  TokenStatus Status() const;
  // The last token response's extra members (launch context, id_token, ...), without tokens.
  std::optional<TokenResponse> LastResponseWithoutTokens() const;

 protected:
  RenewingTokenSource(RenewalPolicy policy, Clock clock);

  // Starts with a token obtained elsewhere (the code exchange), as if renewed at `obtained`.
  void Seed(TokenResponse response, base::SystemTime obtained);

  // Obtains a new token. Called by one thread at a time, without the lock held; the token's
  // lifetime is counted from the source's clock reading just before the call.
  virtual base::Result<TokenResponse> Renew() = 0;
  // True for failures that no retry can cure (a refused refresh token): they are held until the
  // source is replaced instead of for failure_hold.
  virtual bool IsPermanent(const base::Error& error) const;

 private:
  void Store(TokenResponse response, base::SystemTime obtained);  // needs mutex_

  struct CurrentToken {
    TokenResponse response;
    base::SystemTime obtained;
    base::SystemTime expires;
    base::SystemTime renew_after;
  };

  const RenewalPolicy policy_;
  const Clock clock_;

  mutable std::mutex mutex_;
  std::condition_variable renewal_done_;
  std::optional<CurrentToken> token_;   // guarded by mutex_
  bool renewing_ = false;               // guarded by mutex_
  std::optional<base::Error> failure_;  // guarded by mutex_; the last renewal's failure
  base::SystemTime failure_until_{};    // guarded by mutex_
  bool failure_permanent_ = false;      // guarded by mutex_
  std::uint64_t token_requests_ = 0;    // guarded by mutex_
};

}  // namespace fhirbridge::auth
