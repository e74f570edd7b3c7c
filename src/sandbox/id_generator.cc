#include "sandbox/id_generator.h"

#include <array>
#include <atomic>
#include <cassert>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>

namespace fhirbridge::sandbox {
namespace {

constexpr std::string_view kAlphanumerics =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// About one id in three of Epic's 24-character ids carries a separator; one chance in 64 per
// position gives a similar mix.
constexpr std::uint64_t kSeparatorOdds = 64;

// A random engine shared by all copies of one generator. std::mt19937_64 is not thread-safe, so
// a mutex guards it; ids are not secrets, so a non-cryptographic engine is enough once seeded
// from std::random_device.
class SharedRandom {
 public:
  SharedRandom() {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(),
                       device(), device(), device(), device()};
    engine_.seed(seed);
  }

  // Calls `consume` with `count` values, each uniform in [0, bound), under one lock.
  template <typename Consumer>
  void Draw(std::size_t count, std::uint64_t bound, Consumer&& consume) {
    std::uniform_int_distribution<std::uint64_t> distribution(0, bound - 1);
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < count; ++i) consume(distribution(engine_));
  }

  std::array<std::uint64_t, 2> Draw128() {
    std::lock_guard lock(mutex_);
    return {engine_(), engine_()};
  }

 private:
  std::mutex mutex_;
  std::mt19937_64 engine_;
};

std::string MakeEpicId(SharedRandom& random, std::size_t length) {
  std::string id = "e";
  id.reserve(length);
  if (length == 1) return id;

  // The public sandbox's ids all end in '3'; imitate that once there is room for a body.
  const bool ends_in_three = length >= 3;
  const std::size_t body_length = length - 1 - (ends_in_three ? 1 : 0);

  // One draw per position: the lowest 1/kSeparatorOdds of the range asks for a separator, the
  // rest maps uniformly onto the alphanumerics.
  random.Draw(body_length, kSeparatorOdds * kAlphanumerics.size(), [&](std::uint64_t value) {
    const bool is_last = id.size() == length - 1;
    const bool follows_separator = id.back() == '.' || id.back() == '-';
    if (value < kAlphanumerics.size() && !is_last && !follows_separator) {
      id.push_back(value % 2 == 0 ? '.' : '-');
    } else {
      id.push_back(kAlphanumerics[value % kAlphanumerics.size()]);
    }
  });

  if (ends_in_three) id.push_back('3');
  return id;
}

std::string MakeUuid(SharedRandom& random) {
  auto [high, low] = random.Draw128();
  // RFC 4122 section 4.4: version 4 in the high nibble of time_hi, variant 10xx in clock_seq.
  high = (high & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;
  low = (low & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;

  constexpr std::string_view kHex = "0123456789abcdef";
  std::string uuid;
  uuid.reserve(36);
  for (int nibble = 0; nibble < 32; ++nibble) {
    if (nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20) uuid.push_back('-');
    const std::uint64_t word = nibble < 16 ? high : low;
    const int shift = 60 - 4 * (nibble % 16);
    uuid.push_back(kHex[(word >> shift) & 0xF]);
  }
  return uuid;
}

}  // namespace

IdGenerator MakeIdGenerator(IdStyle style, std::size_t length) {
  switch (style) {
    case IdStyle::kEpic: {
      assert(length >= kMinIdLength && length <= kMaxIdLength &&
             "id length must be validated by the tenant configuration");
      auto random = std::make_shared<SharedRandom>();
      return [random, length] { return MakeEpicId(*random, length); };
    }
    case IdStyle::kUuid: {
      auto random = std::make_shared<SharedRandom>();
      return [random] { return MakeUuid(*random); };
    }
    case IdStyle::kSequential: {
      auto counter = std::make_shared<std::atomic<std::uint64_t>>(0);
      return [counter] { return std::to_string(counter->fetch_add(1) + 1); };
    }
  }
  assert(false && "every IdStyle is handled above");
  return {};
}

}  // namespace fhirbridge::sandbox
