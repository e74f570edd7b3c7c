#include "sandbox/rate_limiter.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace fhirbridge::sandbox {

RateLimiter::Decision RateLimiter::Take(std::string_view client, double rate, double capacity,
                                        std::chrono::steady_clock::time_point now) {
  assert(rate > 0 && capacity >= 1 && "a rate limit needs a positive rate and a capacity");
  const std::lock_guard lock(mutex_);
  auto found = buckets_.find(std::string(client));
  if (found == buckets_.end()) {
    if (buckets_.size() >= kMaxClients) ForgetRefilledBuckets(rate, capacity, now);
    found = buckets_.emplace(std::string(client), Bucket{capacity, now}).first;
  }
  Bucket& bucket = found->second;

  // Settings may have changed since the bucket was last used: a smaller capacity caps it at once.
  const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
  bucket.tokens = std::min(capacity, bucket.tokens + std::max(0.0, elapsed) * rate);
  bucket.updated = std::max(bucket.updated, now);
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return {};
  }
  const double wait = (1 - bucket.tokens) / rate;
  return {false, std::chrono::seconds(std::max<std::int64_t>(1, std::llround(std::ceil(wait))))};
}

std::size_t RateLimiter::client_count() const {
  const std::lock_guard lock(mutex_);
  return buckets_.size();
}

void RateLimiter::ForgetRefilledBuckets(double rate, double capacity,
                                        std::chrono::steady_clock::time_point now) {
  // A full bucket behaves exactly like a client never seen, so forgetting it changes nothing.
  std::erase_if(buckets_, [&](const auto& entry) {
    const double elapsed = std::chrono::duration<double>(now - entry.second.updated).count();
    return entry.second.tokens + elapsed * rate >= capacity;
  });
  if (buckets_.size() >= kMaxClients) buckets_.clear();
}

}  // namespace fhirbridge::sandbox
