#include "auth/renewing_token_source.h"

#include <algorithm>

#include "observe/log.h"

namespace fhirbridge::auth {

RenewingTokenSource::RenewingTokenSource(RenewalPolicy policy, Clock clock)
    : policy_(policy), clock_(std::move(clock)) {}

bool RenewingTokenSource::IsPermanent(const base::Error&) const { return false; }

base::Result<std::string> RenewingTokenSource::AccessToken() {
  std::unique_lock lock(mutex_);
  base::SystemTime now = clock_();
  while (true) {
    const bool usable = token_ && now < token_->expires;
    if (token_ && now < token_->renew_after) return token_->response.access_token;

    if (renewing_) {
      // Another thread renews: a token that is still valid serves until it is done.
      if (usable) return token_->response.access_token;
      renewal_done_.wait(lock, [&] { return !renewing_; });
      now = clock_();
      if (token_ && now < token_->expires) return token_->response.access_token;
      if (failure_) return base::Fail(*failure_);
      continue;
    }

    if (failure_ && (failure_permanent_ || now < failure_until_)) {
      if (usable) return token_->response.access_token;
      return base::Fail(*failure_);
    }
    break;
  }

  renewing_ = true;
  ++token_requests_;
  lock.unlock();
  base::Result<TokenResponse> renewed = Renew();
  lock.lock();
  renewing_ = false;

  if (renewed) {
    Store(std::move(*renewed), now);
    failure_.reset();
    failure_permanent_ = false;
  } else {
    failure_ = renewed.error();
    failure_permanent_ = IsPermanent(renewed.error());
    failure_until_ = clock_() + policy_.failure_hold;
    observe::LogEvent event;
    event.level = observe::LogLevel::kWarning;
    event.event = "auth.token.renewal_failed";
    event.subsystem = "auth";
    event.message =
        "A token renewal failed; callers get this error until the hold passes. Check the "
        "client registration and the token endpoint.";
    event.error = renewed.error();
    observe::Log(event);
  }
  renewal_done_.notify_all();

  if (!renewed) {
    // A token that is still valid keeps serving when a renewal ahead of expiry fails.
    if (token_ && clock_() < token_->expires) return token_->response.access_token;
    return base::Fail(*failure_);
  }
  return token_->response.access_token;
}

void RenewingTokenSource::Seed(TokenResponse response, base::SystemTime obtained) {
  std::lock_guard lock(mutex_);
  Store(std::move(response), obtained);
}

void RenewingTokenSource::Store(TokenResponse response, base::SystemTime obtained) {
  const auto lifetime = response.expires_in;
  const auto margin = std::min<std::chrono::seconds>(
      std::max(policy_.minimum_margin,
               std::chrono::seconds(static_cast<std::int64_t>(
                   static_cast<double>(lifetime.count()) * policy_.margin_fraction))),
      lifetime / 2);
  token_ = CurrentToken{std::move(response), obtained, obtained + lifetime,
                        obtained + lifetime - margin};
}

void RenewingTokenSource::Invalidate(std::string_view rejected) {
  std::lock_guard lock(mutex_);
  if (token_ && token_->response.access_token == rejected) token_.reset();
}

TokenStatus RenewingTokenSource::Status() const {
  std::lock_guard lock(mutex_);
  TokenStatus status;
  status.token_requests = token_requests_;
  if (!token_) return status;
  status.has_token = true;
  status.scope = token_->response.scope;
  status.scopes = token_->response.scopes;
  status.obtained = token_->obtained;
  status.expires = token_->expires;
  status.renew_after = token_->renew_after;
  status.expiry_assumed = token_->response.expires_in_assumed;
  status.patient = token_->response.patient;
  status.encounter = token_->response.encounter;
  return status;
}

std::optional<TokenResponse> RenewingTokenSource::LastResponseWithoutTokens() const {
  std::lock_guard lock(mutex_);
  if (!token_) return std::nullopt;
  TokenResponse copy = token_->response;
  copy.access_token.clear();
  copy.refresh_token.clear();
  return copy;
}

}  // namespace fhirbridge::auth
