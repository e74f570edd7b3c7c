#include "synth/random.h"

namespace fhirbridge::synth {
namespace {

constexpr std::uint64_t RotateLeft(std::uint64_t value, int bits) {
  return (value << bits) | (value >> (64 - bits));
}

}  // namespace

std::uint64_t SplitMix64(std::uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

std::uint64_t MixKey(std::uint64_t key, std::uint64_t value) {
  return SplitMix64(key ^ SplitMix64(value + 0x632be59bd9b4e019ULL));
}

std::uint64_t HashText(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char character : text) {
    hash ^= static_cast<unsigned char>(character);
    hash *= 0x100000001b3ULL;
  }
  return SplitMix64(hash);
}

Random::Random(std::uint64_t seed) {
  // splitmix64 never yields four zero words in a row, which xoshiro's state must avoid.
  for (auto& word : state_) {
    seed += 0x9e3779b97f4a7c15ULL;
    word = SplitMix64(seed);
  }
}

std::uint64_t Random::Next() {
  const std::uint64_t result = RotateLeft(state_[1] * 5, 7) * 9;
  const std::uint64_t shifted = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= shifted;
  state_[3] = RotateLeft(state_[3], 45);
  return result;
}

std::uint64_t Random::Below(std::uint64_t bound) {
  assert(bound > 0 && "Below needs a positive bound");
  // Values under `threshold` would make the low residues more likely; draw again instead.
  const std::uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const std::uint64_t value = Next();
    if (value >= threshold) return value % bound;
  }
}

std::int64_t Random::Between(std::int64_t low, std::int64_t high) {
  assert(low <= high && "Between needs low <= high");
  const std::uint64_t span = static_cast<std::uint64_t>(high) - static_cast<std::uint64_t>(low);
  if (span == UINT64_MAX) return static_cast<std::int64_t>(Next());
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(low) + Below(span + 1));
}

double Random::Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

bool Random::Chance(double probability) {
  if (probability <= 0) return false;
  if (probability >= 1) return true;
  return Unit() < probability;
}

double Random::Normal(double mean, double deviation) {
  // The sum of four U(0,1) has mean 2 and variance 4/12; scale it to unit variance.
  const double sum = Unit() + Unit() + Unit() + Unit();
  constexpr double kScale = 1.7320508075688772;  // sqrt(12 / 4)
  return mean + (sum - 2.0) * kScale * deviation;
}

}  // namespace fhirbridge::synth
