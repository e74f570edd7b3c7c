#pragma once

// Token buckets, one per client, for one tenant's rate limit. A client's bucket holds up to
// `capacity` tokens and gains `rate` tokens a second; each request takes one, and a request that
// finds the bucket empty is refused with the time until the next token.
//
// Thread-safe. Limitation: at most kMaxClients buckets are kept; past that, buckets that have
// refilled are forgotten first and, if that is not enough, all of them, so a flood of distinct
// client identities is limited less strictly rather than exhausting memory.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace fhirbridge::sandbox {

class RateLimiter {
 public:
  static constexpr std::size_t kMaxClients = 10'000;

  struct Decision {
    bool allowed = true;
    std::chrono::seconds retry_after{0};  // when refused: whole seconds until a token, at least 1
  };

  // Takes a token from `client`'s bucket. A client seen for the first time starts with a full
  // bucket. `rate` must be positive and `capacity` at least 1.
  Decision Take(std::string_view client, double rate, double capacity,
                std::chrono::steady_clock::time_point now);

  std::size_t client_count() const;

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point updated;
  };

  void ForgetRefilledBuckets(double rate, double capacity,
                             std::chrono::steady_clock::time_point now);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace fhirbridge::sandbox
