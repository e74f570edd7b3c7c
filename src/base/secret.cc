#include "base/secret.h"

#include <openssl/crypto.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace fhirbridge::base {

Secret::Secret(std::string_view bytes) {
  bytes_.reserve(bytes.size());
  bytes_.assign(bytes.begin(), bytes.end());
}

Secret Secret::Take(std::string& bytes) {
  Secret secret(bytes);
  CleanseString(bytes);
  bytes.clear();
  return secret;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Clear();
    bytes_ = std::move(other.bytes_);
  }
  return *this;
}

Secret::~Secret() { Clear(); }

void Secret::Clear() {
  if (bytes_.capacity() > 0) OPENSSL_cleanse(bytes_.data(), bytes_.capacity());
  bytes_.clear();
}

void CleanseString(std::string& text) {
  // The capacity includes bytes left over from earlier, longer contents.
  if (text.capacity() > 0) OPENSSL_cleanse(text.data(), text.capacity());
}

Status DisableCoreDumps() {
  const rlimit none{0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) {
    return Fail(ErrorCode::kInternal,
                std::string("cannot turn core dumps off (setrlimit): ") + std::strerror(errno));
  }
#if !defined(__SANITIZE_ADDRESS__)
  // Limitation: LeakSanitizer attaches to the process with ptrace when it exits, which a
  // non-dumpable process refuses; sanitizer builds keep only the core-size limit.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return Fail(
        ErrorCode::kInternal,
        std::string("cannot mark the process not dumpable (prctl): ") + std::strerror(errno));
  }
#endif
  return {};
}

}  // namespace fhirbridge::base
