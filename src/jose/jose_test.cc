#include "jose/jose.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fhirbridge::jose {
namespace {

// Key generation is slow under the sanitizers; each kind of key is made once for the suite.
const PrivateKey& KeyFor(Algorithm algorithm) {
  static const PrivateKey rsa = *PrivateKey::Generate(Algorithm::kRS384);
  static const PrivateKey p256 = *PrivateKey::Generate(Algorithm::kES256);
  static const PrivateKey p384 = *PrivateKey::Generate(Algorithm::kES384);
  if (IsRsa(algorithm)) return rsa;
  return algorithm == Algorithm::kES256 ? p256 : p384;
}

const Json kClaims = {{"iss", "client-1"}, {"sub", "client-1"}, {"exp", 1900000000}};

TEST(Base64UrlTest, MatchesTheRfc4648VectorsWithoutPadding) {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [bytes, text] : vectors) {
    EXPECT_EQ(Base64UrlEncode(bytes), text);
    EXPECT_EQ(Base64UrlDecode(text).value(), bytes);
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64UrlDecode("Zm8=").value(), "fo") << "padding is tolerated";
}

TEST(Base64UrlTest, RejectsCharactersOutsideTheAlphabetAndImpossibleLengths) {
  EXPECT_FALSE(Base64UrlDecode("Zm9v+").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9v/w").has_value());
  EXPECT_FALSE(Base64UrlDecode("Z").has_value());
}

class JwtRoundTripTest : public ::testing::TestWithParam<Algorithm> {};

TEST_P(JwtRoundTripTest, SignedTokenVerifiesWithThePublicJwkAndFailsWhenTampered) {
  const Algorithm algorithm = GetParam();
  const PrivateKey& key = KeyFor(algorithm);
  auto token = SignJwt(kClaims, key, algorithm, {{"kid", "key-1"}});
  ASSERT_TRUE(token.has_value()) << token.error().ToString();

  auto decoded = DecodeJwt(*token);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->algorithm, algorithm);
  EXPECT_EQ(decoded->header["kid"], "key-1");
  EXPECT_EQ(decoded->header["typ"], "JWT");
  EXPECT_EQ(decoded->claims["iss"], "client-1");

  auto public_key = PublicKey::FromJwk(key.Public().ToJwk("key-1", algorithm));
  ASSERT_TRUE(public_key.has_value()) << public_key.error().ToString();
  EXPECT_TRUE(public_key->Verify(algorithm, decoded->signing_input, decoded->signature));

  std::string tampered_input = decoded->signing_input;
  tampered_input.back() = tampered_input.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(public_key->Verify(algorithm, tampered_input, decoded->signature));
  std::string tampered_signature = decoded->signature;
  tampered_signature[0] = static_cast<char>(tampered_signature[0] ^ 1);
  EXPECT_FALSE(public_key->Verify(algorithm, decoded->signing_input, tampered_signature));
}

INSTANTIATE_TEST_SUITE_P(EveryAlgorithm, JwtRoundTripTest,
                         ::testing::Values(Algorithm::kRS256, Algorithm::kRS384, Algorithm::kRS512,
                                           Algorithm::kES256, Algorithm::kES384),
                         [](const ::testing::TestParamInfo<Algorithm>& param_info) {
                           return std::string(AlgorithmName(param_info.param));
                         });

TEST(JwtTest, RefusesAlgNoneAndHmacAtDecoding) {
  for (const std::string alg : {"none", "HS256", "RS383", ""}) {
    const std::string token =
        Base64UrlEncode(Json{{"alg", alg}}.dump()) + "." + Base64UrlEncode(kClaims.dump()) + ".";
    auto decoded = DecodeJwt(token);
    ASSERT_FALSE(decoded.has_value()) << alg;
    EXPECT_EQ(decoded.error().location, "alg");
  }
}

TEST(JwtTest, RefusesMalformedTokensNamingThePart) {
  EXPECT_FALSE(DecodeJwt("only.two").has_value());
  EXPECT_FALSE(DecodeJwt("a.b.c.d").has_value());
  const std::string header = Base64UrlEncode(R"({"alg":"RS384"})");
  EXPECT_NE(DecodeJwt(header + ".bm90IGpzb24.sig").error().diagnostic.find("payload"),
            std::string::npos);
  EXPECT_NE(DecodeJwt("!!!." + header + ".sig").error().diagnostic.find("header"),
            std::string::npos);
}

TEST(JwtTest, AKeyOnlyVerifiesTheAlgorithmsItFits) {
  const PublicKey rsa = KeyFor(Algorithm::kRS384).Public();
  const PublicKey p384 = KeyFor(Algorithm::kES384).Public();
  EXPECT_TRUE(rsa.Fits(Algorithm::kRS256));
  EXPECT_FALSE(rsa.Fits(Algorithm::kES384));
  EXPECT_TRUE(p384.Fits(Algorithm::kES384));
  EXPECT_FALSE(p384.Fits(Algorithm::kES256)) << "ES256 needs P-256";
  auto token = SignJwt(kClaims, KeyFor(Algorithm::kRS384), Algorithm::kRS384);
  ASSERT_TRUE(token.has_value());
  auto decoded = DecodeJwt(*token);
  EXPECT_FALSE(p384.Verify(Algorithm::kRS384, decoded->signing_input, decoded->signature));
  EXPECT_FALSE(KeyFor(Algorithm::kES384).Sign(Algorithm::kRS384, "x").has_value());
}

TEST(KeyTest, PemRoundTripKeepsTheKey) {
  const PrivateKey& original = KeyFor(Algorithm::kES384);
  auto pem = original.ToPem();
  ASSERT_TRUE(pem.has_value());
  EXPECT_NE(pem->find("BEGIN PRIVATE KEY"), std::string::npos);
  auto reread = PrivateKey::FromPem(*pem);
  ASSERT_TRUE(reread.has_value());
  EXPECT_EQ(reread->Public().Thumbprint(), original.Public().Thumbprint());
  EXPECT_FALSE(PrivateKey::FromPem("not a key").has_value());
}

TEST(KeyTest, ThumbprintIsStableAcrossJwkRoundTripsAndDiffersBetweenKeys) {
  const PublicKey rsa = KeyFor(Algorithm::kRS384).Public();
  const std::string thumbprint = rsa.Thumbprint();
  EXPECT_EQ(thumbprint.size(), 43u) << "base64url of 32 bytes";
  EXPECT_EQ(PublicKey::FromJwk(rsa.ToJwk("any-kid"))->Thumbprint(), thumbprint);
  EXPECT_NE(KeyFor(Algorithm::kES384).Public().Thumbprint(), thumbprint);
}

TEST(JwkTest, RefusesIncompleteOrForeignKeys) {
  EXPECT_FALSE(PublicKey::FromJwk(Json{{"kty", "RSA"}, {"e", "AQAB"}}).has_value());
  EXPECT_FALSE(PublicKey::FromJwk(Json{{"kty", "oct"}, {"k", "c2VjcmV0"}}).has_value());
  EXPECT_FALSE(PublicKey::FromJwk(Json{{"kty", "EC"}, {"crv", "P-521"}, {"x", "AA"}, {"y", "AA"}})
                   .has_value());
  Json ec = KeyFor(Algorithm::kES384).Public().ToJwk();
  ec["x"] = Base64UrlEncode(std::string(48, '\x01'));  // not on the curve
  EXPECT_FALSE(PublicKey::FromJwk(ec).has_value());
}

TEST(JwkSetTest, KeepsSigningKeysWithTheirKidsAndSkipsOthers) {
  const Json jwks = {{"keys",
                      {KeyFor(Algorithm::kRS384).Public().ToJwk("rsa-1", Algorithm::kRS384),
                       KeyFor(Algorithm::kES384).Public().ToJwk("ec-1"),
                       {{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}},
                       {{"kty", "RSA"}, {"use", "enc"}, {"kid", "encryption"}}}}};
  auto entries = ParseJwkSet(jwks);
  ASSERT_TRUE(entries.has_value());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].kid, "rsa-1");
  EXPECT_EQ((*entries)[0].algorithm, Algorithm::kRS384);
  EXPECT_EQ((*entries)[1].kid, "ec-1");
  EXPECT_FALSE((*entries)[1].algorithm.has_value());
  EXPECT_FALSE(ParseJwkSet(Json{{"keys", "none"}}).has_value());
}

}  // namespace
}  // namespace fhirbridge::jose
