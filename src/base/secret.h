#pragma once

// Secret bytes in memory: a private key, a client secret, a token, a vault key. The bytes are
// overwritten (OPENSSL_cleanse) when the Secret is destroyed or assigned over, and a Secret has
// no way to be printed or logged by accident: reading it takes an explicit call to reveal().
//
// Limitation: what a caller copies out of reveal() (into an HTTP header, a std::string) is that
// caller's to clear; the Secret cannot follow copies.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace fhirbridge::base {

class Secret {
 public:
  Secret() = default;
  // Copies `bytes` into a buffer of exactly their size, so that no reallocation leaves a copy.
  explicit Secret(std::string_view bytes);
  // Takes `bytes` and clears the string it came from.
  static Secret Take(std::string& bytes);

  Secret(Secret&& other) noexcept = default;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret();

  std::string_view reveal() const { return {bytes_.data(), bytes_.size()}; }
  std::size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

 private:
  void Clear();

  std::vector<char> bytes_;
};

// Stops this process from writing core dumps (RLIMIT_CORE 0) and from being inspected by other
// processes of the same user (PR_SET_DUMPABLE 0), so that secrets in memory cannot end up in a
// core file. Call it before reading keys or tokens. kInternal if the kernel refuses.
Status DisableCoreDumps();

// Overwrites a string's bytes (its whole capacity) before it is released.
void CleanseString(std::string& text);

}  // namespace fhirbridge::base
