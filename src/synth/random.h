#pragma once

// Deterministic pseudo-random numbers for the synthetic data generator. The generator promises
// byte-identical output for the same seed and options on every platform and standard library, so
// it cannot use std::uniform_*_distribution or std::normal_distribution (their algorithms are
// unspecified) nor anything from <cmath> whose last bit may differ between libm versions. Every
// draw here is integer arithmetic or exactly rounded IEEE operations.
//
// Limitation: clinical values are computed in double precision and then rounded. They are
// identical wherever IEEE 754 operations are not fused; a build that contracts a * b + c into
// one fused multiply-add (GCC's -ffp-contract=fast on a target with FMA, such as aarch64 in a GNU
// dialect) could differ in the last bit and, rarely, in a rounded value. The named-set test
// would show it.

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace fhirbridge::synth {

// One step of splitmix64: a bijective 64-bit mixer, used to expand seeds and to hash keys.
std::uint64_t SplitMix64(std::uint64_t value);

// Combines a key with further values into one well-mixed 64-bit key, so that, for example,
// (seed, patient 7, record 3) and (seed, patient 3, record 7) give unrelated streams.
std::uint64_t MixKey(std::uint64_t key, std::uint64_t value);

template <typename... Values>
std::uint64_t MixKey(std::uint64_t key, std::uint64_t value, Values... more) {
  return MixKey(MixKey(key, value), more...);
}

// 64-bit FNV-1a of `text`, then mixed; a stable hash of a string across platforms.
std::uint64_t HashText(std::string_view text);

// xoshiro256** seeded through splitmix64. Not thread-safe; each patient gets its own instance.
class Random {
 public:
  explicit Random(std::uint64_t seed);

  std::uint64_t Next();

  // Uniform in [0, bound). Requires bound > 0. Unbiased (rejection sampling).
  std::uint64_t Below(std::uint64_t bound);

  // Uniform in [low, high], both included. Requires low <= high.
  std::int64_t Between(std::int64_t low, std::int64_t high);

  // Uniform in [0, 1) with 53 bits of precision.
  double Unit();

  // True with probability `probability` (0 never, 1 always).
  bool Chance(double probability);

  // Approximately normal with the given mean and standard deviation: the Irwin-Hall sum of four
  // uniforms, which is bounded (mean +- 3.46 standard deviations) and needs no libm.
  double Normal(double mean, double deviation);

  template <typename T>
  const T& Pick(std::span<const T> items) {
    assert(!items.empty() && "Pick needs at least one item");
    return items[static_cast<std::size_t>(Below(items.size()))];
  }

 private:
  std::uint64_t state_[4];
};

}  // namespace fhirbridge::synth
