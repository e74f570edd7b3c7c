#pragma once

// JSON Object Signing and Encryption primitives on OpenSSL 3, as SMART backend services and
// Epic use them: base64url, JWK and JWK Sets (RSA and EC P-256/P-384 public keys), key pairs,
// and compact JWS signing and verification with RS256/384/512 and ES256/384.
//
// Deliberately absent: "none", HMAC algorithms and encryption (JWE). A token naming any of them
// fails to decode with a clear error, so an "alg: none" or HMAC-with-a-public-key token can never
// pass as verified.
//
// Thread safety: keys are immutable after construction and may be shared between threads.

#include <memory>
#include <nlohmann/json.hpp>  // DecodedJwt holds JSON values; only auth code includes this header
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "fhir/json_value.h"

namespace fhirbridge::jose {

using Json = fhir::Json;

enum class Algorithm { kRS256, kRS384, kRS512, kES256, kES384 };

// "RS384" and so on; nullopt for anything else, including "none" and "HS256".
std::optional<Algorithm> ParseAlgorithm(std::string_view name);
std::string_view AlgorithmName(Algorithm algorithm);
bool IsRsa(Algorithm algorithm);

// Base64url without padding (RFC 7515 section 2).
std::string Base64UrlEncode(std::string_view bytes);
// Accepts input with or without padding; kInvalidParameter on any other character.
base::Result<std::string> Base64UrlDecode(std::string_view text);

class PublicKey;

// A private key (RSA or EC). Never logged; PEM output is for writing key files with mode 0600.
class PrivateKey {
 public:
  // A fresh key for `algorithm`: RSA 2048 bits for RS*, the matching curve for ES*.
  static base::Result<PrivateKey> Generate(Algorithm algorithm);
  // Reads a PKCS#8 or traditional PEM private key; kInvalidParameter if it is not one.
  static base::Result<PrivateKey> FromPem(std::string_view pem);

  PrivateKey(PrivateKey&&) noexcept;
  PrivateKey& operator=(PrivateKey&&) noexcept;
  ~PrivateKey();

  // PKCS#8 PEM of the private key.
  base::Result<std::string> ToPem() const;
  PublicKey Public() const;
  // True if this key can sign with `algorithm` (RSA for RS*, the right curve for ES*).
  bool Fits(Algorithm algorithm) const;
  // The JWS signature of `signing_input` (for ES*, the raw R||S form JWS requires).
  base::Result<std::string> Sign(Algorithm algorithm, std::string_view signing_input) const;

 private:
  struct Impl;
  explicit PrivateKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class PublicKey {
 public:
  // Reads a JWK: kty RSA (n, e) or EC (crv P-256/P-384, x, y). kInvalidParameter with the
  // member at fault otherwise. Private members, if present, are ignored.
  static base::Result<PublicKey> FromJwk(const Json& jwk);

  PublicKey(const PublicKey&);
  PublicKey& operator=(const PublicKey&);
  PublicKey(PublicKey&&) noexcept;
  PublicKey& operator=(PublicKey&&) noexcept;
  ~PublicKey();

  bool Fits(Algorithm algorithm) const;
  // The public JWK with "kid" and "alg" when given, and "use": "sig".
  Json ToJwk(std::string_view kid = {}, std::optional<Algorithm> algorithm = std::nullopt) const;
  // The RFC 7638 thumbprint (base64url of SHA-256 over the required members), a stable kid.
  std::string Thumbprint() const;
  // True when `signature` is a valid `algorithm` signature of `signing_input` by this key;
  // false for a wrong signature or a key that does not fit the algorithm.
  bool Verify(Algorithm algorithm, std::string_view signing_input,
              std::string_view signature) const;

 private:
  friend class PrivateKey;
  struct Impl;
  explicit PublicKey(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// A compact JWS split and decoded, not yet verified.
struct DecodedJwt {
  Json header;
  Json claims;
  Algorithm algorithm = Algorithm::kRS384;
  std::string signing_input;  // "header.payload" as received
  std::string signature;      // raw bytes
};

// Splits and decodes a compact JWS. Fails (kInvalidParameter, naming the part at fault) unless it
// has three base64url parts, a JSON object header with a supported "alg", and a JSON object
// payload. The signature is not checked.
base::Result<DecodedJwt> DecodeJwt(std::string_view token);

// Signs `claims` with `key`: the header gets "alg", "typ": "JWT" and the members of
// `extra_header` (for example "kid" or "jku").
base::Result<std::string> SignJwt(const Json& claims, const PrivateKey& key, Algorithm algorithm,
                                  const Json& extra_header = Json::object());

// A JWK Set's keys that could be read, with their kid ("" when absent) and alg (when given).
struct JwkSetEntry {
  std::string kid;
  std::optional<Algorithm> algorithm;
  PublicKey key;
};
// Reads {"keys": [...]}; keys that are not RSA or EC signing keys are skipped, a malformed set
// is kInvalidParameter.
base::Result<std::vector<JwkSetEntry>> ParseJwkSet(const Json& jwks);

}  // namespace fhirbridge::jose
