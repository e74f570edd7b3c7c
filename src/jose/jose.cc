#include "jose/jose.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <nlohmann/json.hpp>

namespace fhirbridge::jose {
namespace {

using base::ErrorCode;
using base::Fail;

// Owners for OpenSSL objects, so every early return frees what was allocated.
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyContextFree {
  void operator()(EVP_PKEY_CTX* context) const { EVP_PKEY_CTX_free(context); }
};
struct DigestContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct BignumFree {
  void operator()(BIGNUM* number) const { BN_free(number); }
};
struct EcdsaSignatureFree {
  void operator()(ECDSA_SIG* signature) const { ECDSA_SIG_free(signature); }
};
struct ParamBuildFree {
  void operator()(OSSL_PARAM_BLD* build) const { OSSL_PARAM_BLD_free(build); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyContextPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyContextFree>;
using DigestContextPtr = std::unique_ptr<EVP_MD_CTX, DigestContextFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using BignumPtr = std::unique_ptr<BIGNUM, BignumFree>;
using EcdsaSignaturePtr = std::unique_ptr<ECDSA_SIG, EcdsaSignatureFree>;
using ParamBuildPtr = std::unique_ptr<OSSL_PARAM_BLD, ParamBuildFree>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, ParamFree>;

struct AlgorithmInfo {
  Algorithm algorithm;
  std::string_view name;
  bool rsa;
  std::string_view curve;          // JWK "crv" for EC algorithms
  std::string_view openssl_group;  // OpenSSL's group name for that curve
  std::size_t coordinate_bytes;    // size of R and S in a JWS EC signature
};

constexpr std::array kAlgorithms = {
    AlgorithmInfo{Algorithm::kRS256, "RS256", true, "", "", 0},
    AlgorithmInfo{Algorithm::kRS384, "RS384", true, "", "", 0},
    AlgorithmInfo{Algorithm::kRS512, "RS512", true, "", "", 0},
    AlgorithmInfo{Algorithm::kES256, "ES256", false, "P-256", "prime256v1", 32},
    AlgorithmInfo{Algorithm::kES384, "ES384", false, "P-384", "secp384r1", 48},
};

const AlgorithmInfo& InfoOf(Algorithm algorithm) {
  return kAlgorithms[static_cast<std::size_t>(algorithm)];
}

const EVP_MD* DigestOf(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kRS256:
    case Algorithm::kES256:
      return EVP_sha256();
    case Algorithm::kRS384:
    case Algorithm::kES384:
      return EVP_sha384();
    case Algorithm::kRS512:
      return EVP_sha512();
  }
  return EVP_sha384();
}

// Keys below this size are refused for signing and verification, as Epic requires.
constexpr int kMinimumRsaBits = 2048;

std::string CurveOf(const EVP_PKEY* key) {
  char group[64] = {};
  std::size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                     &length) != 1) {
    return {};
  }
  const std::string_view name(group, length);
  for (const AlgorithmInfo& info : kAlgorithms) {
    if (!info.rsa && (name == info.openssl_group || name == info.curve)) {
      return std::string(info.curve);
    }
  }
  return std::string(name);
}

bool KeyFits(const EVP_PKEY* key, Algorithm algorithm) {
  const AlgorithmInfo& info = InfoOf(algorithm);
  if (info.rsa) return EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) >= kMinimumRsaBits;
  return EVP_PKEY_is_a(key, "EC") && CurveOf(key) == info.curve;
}

std::string BignumBytes(const BIGNUM* number, std::size_t width = 0) {
  const std::size_t size = width > 0 ? width : static_cast<std::size_t>(BN_num_bytes(number));
  std::string bytes(size, '\0');
  BN_bn2binpad(number, reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(size));
  return bytes;
}

BignumPtr BignumFrom(std::string_view bytes) {
  return BignumPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                             static_cast<int>(bytes.size()), nullptr));
}

// JWS carries an EC signature as R||S, each padded to the curve's size; OpenSSL uses DER.
base::Result<std::string> DerToRaw(std::string_view der, std::size_t coordinate_bytes) {
  const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSignaturePtr signature(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())));
  if (!signature) return Fail(ErrorCode::kInternal, "OpenSSL produced an unreadable signature.");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(signature.get(), &r, &s);
  return BignumBytes(r, coordinate_bytes) + BignumBytes(s, coordinate_bytes);
}

std::optional<std::string> RawToDer(std::string_view raw, std::size_t coordinate_bytes) {
  if (raw.size() != 2 * coordinate_bytes) return std::nullopt;
  EcdsaSignaturePtr signature(ECDSA_SIG_new());
  BignumPtr r = BignumFrom(raw.substr(0, coordinate_bytes));
  BignumPtr s = BignumFrom(raw.substr(coordinate_bytes));
  if (!signature || !r || !s || ECDSA_SIG_set0(signature.get(), r.get(), s.get()) != 1) {
    return std::nullopt;
  }
  // The signature owns r and s now.
  (void)r.release();
  (void)s.release();
  const int length = i2d_ECDSA_SIG(signature.get(), nullptr);
  if (length <= 0) return std::nullopt;
  std::string der(static_cast<std::size_t>(length), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_ECDSA_SIG(signature.get(), &out);
  return der;
}

PkeyPtr PublicPart(const EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key, &der);
  if (length <= 0) return nullptr;
  const unsigned char* cursor = der;
  PkeyPtr public_key(d2i_PUBKEY(nullptr, &cursor, length));
  OPENSSL_free(der);
  return public_key;
}

base::Result<std::string> JwkMember(const Json& jwk, std::string_view name) {
  const auto member = jwk.find(name);
  if (member == jwk.end() || !member->is_string()) {
    return Fail(ErrorCode::kInvalidParameter,
                "The JWK lacks the string member '" + std::string(name) + "'.", std::string(name));
  }
  auto decoded = Base64UrlDecode(member->get_ref<const std::string&>());
  if (!decoded || decoded->empty()) {
    return Fail(ErrorCode::kInvalidParameter,
                "The JWK member '" + std::string(name) + "' is not base64url.", std::string(name));
  }
  return decoded;
}

base::Result<PkeyPtr> KeyFromParams(const char* type, OSSL_PARAM_BLD* build) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(build));
  PkeyContextPtr context(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return Fail(ErrorCode::kInvalidParameter, "The JWK does not describe a valid public key.");
  }
  return PkeyPtr(key);
}

}  // namespace

std::optional<Algorithm> ParseAlgorithm(std::string_view name) {
  for (const AlgorithmInfo& info : kAlgorithms) {
    if (info.name == name) return info.algorithm;
  }
  return std::nullopt;
}

std::string_view AlgorithmName(Algorithm algorithm) { return InfoOf(algorithm).name; }

bool IsRsa(Algorithm algorithm) { return InfoOf(algorithm).rsa; }

std::string Base64UrlEncode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned value = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    text += kAlphabet[(value >> 18) & 63];
    text += kAlphabet[(value >> 12) & 63];
    text += kAlphabet[(value >> 6) & 63];
    text += kAlphabet[value & 63];
  }
  if (bytes.size() - i == 1) {
    const unsigned value = at(i) << 16;
    text += kAlphabet[(value >> 18) & 63];
    text += kAlphabet[(value >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    const unsigned value = (at(i) << 16) | (at(i + 1) << 8);
    text += kAlphabet[(value >> 18) & 63];
    text += kAlphabet[(value >> 12) & 63];
    text += kAlphabet[(value >> 6) & 63];
  }
  return text;
}

base::Result<std::string> Base64UrlDecode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) {
    return Fail(ErrorCode::kInvalidParameter, "The base64url text has an impossible length.");
  }
  std::string bytes;
  bytes.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : text) {
    int value = -1;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    if (c >= '0' && c <= '9') value = c - '0' + 52;
    if (c == '-') value = 62;
    if (c == '_') value = 63;
    if (value < 0) {
      return Fail(ErrorCode::kInvalidParameter,
                  "The text holds a character that is not base64url.");
    }
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------

struct PrivateKey::Impl {
  PkeyPtr key;
};

struct PublicKey::Impl {
  PkeyPtr key;
};

PrivateKey::PrivateKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PrivateKey::PrivateKey(PrivateKey&&) noexcept = default;
PrivateKey& PrivateKey::operator=(PrivateKey&&) noexcept = default;
PrivateKey::~PrivateKey() = default;

base::Result<PrivateKey> PrivateKey::Generate(Algorithm algorithm) {
  const AlgorithmInfo& info = InfoOf(algorithm);
  EVP_PKEY* key = info.rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA",
                                               static_cast<std::size_t>(kMinimumRsaBits))
                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", info.openssl_group.data());
  if (key == nullptr) {
    return Fail(ErrorCode::kInternal,
                "OpenSSL could not generate a key for " + std::string(info.name) + ".");
  }
  return PrivateKey(std::make_unique<Impl>(Impl{PkeyPtr(key)}));
}

base::Result<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Fail(ErrorCode::kInternal, "OpenSSL could not allocate a buffer.");
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return Fail(ErrorCode::kInvalidParameter,
                "The text is not a PEM private key (PKCS#8 or traditional RSA/EC).");
  }
  PrivateKey result(std::make_unique<Impl>(Impl{PkeyPtr(key)}));
  if (!EVP_PKEY_is_a(key, "RSA") && !EVP_PKEY_is_a(key, "EC")) {
    return Fail(ErrorCode::kInvalidParameter, "Only RSA and EC private keys can sign here.");
  }
  return result;
}

base::Result<std::string> PrivateKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->key.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    return Fail(ErrorCode::kInternal, "OpenSSL could not write the key as PEM.");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

PublicKey PrivateKey::Public() const {
  return PublicKey(
      std::make_shared<const PublicKey::Impl>(PublicKey::Impl{PublicPart(impl_->key.get())}));
}

bool PrivateKey::Fits(Algorithm algorithm) const { return KeyFits(impl_->key.get(), algorithm); }

base::Result<std::string> PrivateKey::Sign(Algorithm algorithm,
                                           std::string_view signing_input) const {
  if (!Fits(algorithm)) {
    return Fail(ErrorCode::kInvalidParameter,
                "This key cannot sign with " + std::string(AlgorithmName(algorithm)) + ".");
  }
  DigestContextPtr context(EVP_MD_CTX_new());
  std::size_t length = 0;
  if (!context ||
      EVP_DigestSignInit(context.get(), nullptr, DigestOf(algorithm), nullptr, impl_->key.get()) !=
          1 ||
      EVP_DigestSign(context.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return Fail(ErrorCode::kInternal, "OpenSSL could not start signing.");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return Fail(ErrorCode::kInternal, "OpenSSL could not sign.");
  }
  signature.resize(length);
  if (IsRsa(algorithm)) return signature;
  return DerToRaw(signature, InfoOf(algorithm).coordinate_bytes);
}

// ---------------------------------------------------------------------------------------------

PublicKey::PublicKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
PublicKey::PublicKey(const PublicKey&) = default;
PublicKey& PublicKey::operator=(const PublicKey&) = default;
PublicKey::PublicKey(PublicKey&&) noexcept = default;
PublicKey& PublicKey::operator=(PublicKey&&) noexcept = default;
PublicKey::~PublicKey() = default;

base::Result<PublicKey> PublicKey::FromJwk(const Json& jwk) {
  if (!jwk.is_object()) return Fail(ErrorCode::kInvalidParameter, "A JWK must be an object.");
  const std::string kty = jwk.value("kty", "");
  ParamBuildPtr build(OSSL_PARAM_BLD_new());
  if (!build) return Fail(ErrorCode::kInternal, "OpenSSL could not allocate parameters.");

  base::Result<PkeyPtr> key = Fail(ErrorCode::kInternal);
  if (kty == "RSA") {
    auto n = JwkMember(jwk, "n");
    if (!n) return Fail(n.error());
    auto e = JwkMember(jwk, "e");
    if (!e) return Fail(e.error());
    BignumPtr modulus = BignumFrom(*n);
    BignumPtr exponent = BignumFrom(*e);
    if (OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()) != 1) {
      return Fail(ErrorCode::kInvalidParameter, "The RSA JWK's n or e is unusable.");
    }
    key = KeyFromParams("RSA", build.get());
  } else if (kty == "EC") {
    const std::string crv = jwk.value("crv", "");
    const AlgorithmInfo* curve = nullptr;
    for (const AlgorithmInfo& info : kAlgorithms) {
      if (!info.rsa && info.curve == crv) curve = &info;
    }
    if (curve == nullptr) {
      return Fail(ErrorCode::kInvalidParameter, "EC JWKs must use crv P-256 or P-384.", "crv");
    }
    auto x = JwkMember(jwk, "x");
    if (!x) return Fail(x.error());
    auto y = JwkMember(jwk, "y");
    if (!y) return Fail(y.error());
    if (x->size() != curve->coordinate_bytes || y->size() != curve->coordinate_bytes) {
      return Fail(ErrorCode::kInvalidParameter, "The EC JWK's x or y has the wrong length.");
    }
    const std::string point = "\x04" + *x + *y;
    if (OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                        curve->openssl_group.data(), 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) != 1) {
      return Fail(ErrorCode::kInvalidParameter, "The EC JWK's point is unusable.");
    }
    key = KeyFromParams("EC", build.get());
  } else {
    return Fail(ErrorCode::kInvalidParameter, "Only RSA and EC JWKs are supported.", "kty");
  }
  if (!key) return Fail(key.error());
  return PublicKey(std::make_shared<const Impl>(Impl{std::move(*key)}));
}

bool PublicKey::Fits(Algorithm algorithm) const {
  return impl_->key && KeyFits(impl_->key.get(), algorithm);
}

Json PublicKey::ToJwk(std::string_view kid, std::optional<Algorithm> algorithm) const {
  Json jwk = Json::object();
  const EVP_PKEY* key = impl_->key.get();
  if (EVP_PKEY_is_a(key, "RSA")) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e);
    BignumPtr modulus(n);
    BignumPtr exponent(e);
    jwk["kty"] = "RSA";
    jwk["n"] = Base64UrlEncode(BignumBytes(modulus.get()));
    jwk["e"] = Base64UrlEncode(BignumBytes(exponent.get()));
  } else {
    unsigned char point[160] = {};
    std::size_t length = 0;
    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &length);
    const std::size_t coordinate = length > 1 ? (length - 1) / 2 : 0;
    const std::string_view raw(reinterpret_cast<const char*>(point), length);
    jwk["kty"] = "EC";
    jwk["crv"] = CurveOf(key);
    jwk["x"] = Base64UrlEncode(raw.substr(1, coordinate));
    jwk["y"] = Base64UrlEncode(raw.substr(1 + coordinate, coordinate));
  }
  jwk["use"] = "sig";
  if (!kid.empty()) jwk["kid"] = kid;
  if (algorithm) jwk["alg"] = AlgorithmName(*algorithm);
  return jwk;
}

std::string PublicKey::Thumbprint() const {
  const Json jwk = ToJwk();
  // RFC 7638: the required members only, in lexicographic order, without whitespace.
  const std::string canonical =
      jwk["kty"] == "RSA"
          ? R"({"e":")" + jwk["e"].get<std::string>() + R"(","kty":"RSA","n":")" +
                jwk["n"].get<std::string>() + R"("})"
          : R"({"crv":")" + jwk["crv"].get<std::string>() + R"(","kty":"EC","x":")" +
                jwk["x"].get<std::string>() + R"(","y":")" + jwk["y"].get<std::string>() + R"("})";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(canonical.data(), canonical.size(), digest, &length, EVP_sha256(), nullptr);
  return Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

bool PublicKey::Verify(Algorithm algorithm, std::string_view signing_input,
                       std::string_view signature) const {
  if (!Fits(algorithm)) return false;
  std::string der;
  if (!IsRsa(algorithm)) {
    auto converted = RawToDer(signature, InfoOf(algorithm).coordinate_bytes);
    if (!converted) return false;
    der = std::move(*converted);
    signature = der;
  }
  DigestContextPtr context(EVP_MD_CTX_new());
  return context &&
         EVP_DigestVerifyInit(context.get(), nullptr, DigestOf(algorithm), nullptr,
                              impl_->key.get()) == 1 &&
         EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
}

// ---------------------------------------------------------------------------------------------

base::Result<DecodedJwt> DecodeJwt(std::string_view token) {
  const std::size_t first = token.find('.');
  const std::size_t second =
      first == std::string_view::npos ? std::string_view::npos : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidParameter,
                "A JWT has three base64url parts separated by dots; this one does not.");
  }
  const auto decode_object = [](std::string_view part,
                                std::string_view what) -> base::Result<Json> {
    auto bytes = Base64UrlDecode(part);
    if (!bytes) {
      return Fail(ErrorCode::kInvalidParameter,
                  "The JWT " + std::string(what) + " is not base64url.");
    }
    Json parsed = Json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object()) {
      return Fail(ErrorCode::kInvalidParameter,
                  "The JWT " + std::string(what) + " is not a JSON object.");
    }
    return parsed;
  };

  DecodedJwt jwt;
  auto header = decode_object(token.substr(0, first), "header");
  if (!header) return Fail(header.error());
  auto claims = decode_object(token.substr(first + 1, second - first - 1), "payload");
  if (!claims) return Fail(claims.error());
  auto signature = Base64UrlDecode(token.substr(second + 1));
  if (!signature) {
    return Fail(ErrorCode::kInvalidParameter, "The JWT signature is not base64url.");
  }

  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string()) {
    return Fail(ErrorCode::kInvalidParameter, "The JWT header has no alg.", "alg");
  }
  const auto algorithm = ParseAlgorithm(alg->get_ref<const std::string&>());
  if (!algorithm) {
    return Fail(ErrorCode::kInvalidParameter,
                "JWT alg '" + alg->get<std::string>().substr(0, 16) +
                    "' is not accepted; use RS256, RS384, RS512, ES256 or ES384.",
                "alg");
  }
  jwt.header = std::move(*header);
  jwt.claims = std::move(*claims);
  jwt.algorithm = *algorithm;
  jwt.signing_input = std::string(token.substr(0, second));
  jwt.signature = std::move(*signature);
  return jwt;
}

base::Result<std::string> SignJwt(const Json& claims, const PrivateKey& key, Algorithm algorithm,
                                  const Json& extra_header) {
  Json header = {{"alg", AlgorithmName(algorithm)}, {"typ", "JWT"}};
  for (const auto& [name, value] : extra_header.items()) header[name] = value;
  const std::string signing_input =
      Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
  auto signature = key.Sign(algorithm, signing_input);
  if (!signature) return Fail(signature.error());
  return signing_input + "." + Base64UrlEncode(*signature);
}

base::Result<std::vector<JwkSetEntry>> ParseJwkSet(const Json& jwks) {
  if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array()) {
    return Fail(ErrorCode::kInvalidParameter, "A JWK Set is an object with a \"keys\" array.",
                "keys");
  }
  std::vector<JwkSetEntry> entries;
  for (const Json& jwk : jwks["keys"]) {
    if (!jwk.is_object()) continue;
    // Keys for encryption, or of other types, are not ours to verify with.
    if (jwk.contains("use") && jwk["use"] != "sig") continue;
    auto key = PublicKey::FromJwk(jwk);
    if (!key) continue;
    std::optional<Algorithm> algorithm;
    if (jwk.contains("alg") && jwk["alg"].is_string()) {
      algorithm = ParseAlgorithm(jwk["alg"].get<std::string>());
      if (!algorithm) continue;
    }
    entries.push_back(JwkSetEntry{jwk.value("kid", ""), algorithm, std::move(*key)});
  }
  return entries;
}

}  // namespace fhirbridge::jose
