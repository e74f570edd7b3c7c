#pragma once

// SHA-256 with a digest context that is set up once and reused, for hashing many small inputs
// (one per stored resource) without OpenSSL's per-call algorithm lookup and allocation.
//
// Thread safety: a Sha256 is not thread-safe; use one per thread or guard it.

#include <string>
#include <string_view>

struct evp_md_ctx_st;
struct evp_md_st;

namespace fhirbridge::base {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  // Starts a new digest, dropping anything fed since the last Begin or Finish.
  void Begin();
  void Update(std::string_view bytes);
  // The digest of everything fed since Begin, as 64 lowercase hex digits.
  std::string FinishHex();

  // Begin, Update(bytes), FinishHex.
  std::string Hex(std::string_view bytes);

 private:
  evp_md_st* algorithm_ = nullptr;
  evp_md_ctx_st* context_ = nullptr;
};

// SHA-256 of `bytes` as 64 lowercase hex digits, for one-off hashes (a context per call).
std::string Sha256Hex(std::string_view bytes);

}  // namespace fhirbridge::base
