#include "base/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace fhirbridge::base {

// A failure here means OpenSSL cannot allocate or has no SHA-256 (a broken installation);
// there is no meaningful way on, so it aborts rather than returning a hash that is not one.
Sha256::Sha256()
    : algorithm_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), context_(EVP_MD_CTX_new()) {
  if (algorithm_ == nullptr || context_ == nullptr) std::abort();
  Begin();
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(context_);
  EVP_MD_free(algorithm_);
}

void Sha256::Begin() {
  if (EVP_DigestInit_ex(context_, algorithm_, nullptr) != 1) std::abort();
}

void Sha256::Update(std::string_view bytes) {
  if (EVP_DigestUpdate(context_, bytes.data(), bytes.size()) != 1) std::abort();
}

std::string Sha256::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_, digest, &length) != 1) std::abort();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(static_cast<std::size_t>(length) * 2, '0');
  for (unsigned int i = 0; i < length; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return hex;
}

std::string Sha256::Hex(std::string_view bytes) {
  Begin();
  Update(bytes);
  return FinishHex();
}

std::string Sha256Hex(std::string_view bytes) {
  Sha256 hasher;
  return hasher.Hex(bytes);
}

}  // namespace fhirbridge::base
