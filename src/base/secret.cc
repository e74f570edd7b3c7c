#include "base/secret.h"

#include <openssl/crypto.h>

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

}  // namespace fhirbridge::base
