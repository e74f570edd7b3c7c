#include "auth/key_ring.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace fhirbridge::auth {
namespace {

std::filesystem::path FreshFolder(const std::string& name) {
  const auto folder = std::filesystem::path(::testing::TempDir()) / ("key-ring-" + name);
  std::filesystem::remove_all(folder);
  return folder;
}

fhir::Json ReadJson(const std::filesystem::path& path) {
  std::ifstream file(path);
  return fhir::Json::parse(file);
}

TEST(KeyRingTest, GenerateWritesAPrivateKeyOnlyTheOwnerCanReadAndAPublicJwks) {
  const auto folder = FreshFolder("generate");
  const auto now = std::chrono::system_clock::now();
  auto ring = KeyRing::Create(folder, jose::Algorithm::kRS384, now);
  ASSERT_TRUE(ring.has_value()) << ring.error().ToString();

  const auto pem = folder / "keys" / (ring->current().kid + ".pem");
  struct stat info {};
  ASSERT_EQ(::stat(pem.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  const fhir::Json jwks = ReadJson(folder / "jwks.json");
  ASSERT_EQ(jwks["keys"].size(), 1u);
  EXPECT_EQ(jwks["keys"][0]["kid"], ring->current().kid);
  EXPECT_EQ(jwks["keys"][0]["alg"], "RS384");
  EXPECT_FALSE(jwks["keys"][0].contains("d")) << "no private member is published";

  auto key = ring->LoadCurrentKey();
  ASSERT_TRUE(key.has_value());
  auto token = jose::SignJwt({{"iss", "x"}}, *key, jose::Algorithm::kRS384);
  auto decoded = jose::DecodeJwt(*token);
  auto published = jose::PublicKey::FromJwk(jwks["keys"][0]);
  EXPECT_TRUE(published->Verify(decoded->algorithm, decoded->signing_input, decoded->signature));

  EXPECT_FALSE(KeyRing::Create(folder, jose::Algorithm::kRS384, now).has_value())
      << "generating twice must not overwrite the keys";
}

TEST(KeyRingTest, RotationKeepsTheOldKeyPublishedForTheGracePeriodThenDropsIt) {
  const auto folder = FreshFolder("rotate");
  const auto start = std::chrono::system_clock::now();
  auto ring = KeyRing::Create(folder, jose::Algorithm::kRS384, start);
  ASSERT_TRUE(ring.has_value());
  const std::string old_kid = ring->current().kid;

  ASSERT_TRUE(ring->Rotate(jose::Algorithm::kES384, std::chrono::minutes(10), start).has_value());
  EXPECT_NE(ring->current().kid, old_kid);
  EXPECT_EQ(ring->current().algorithm, jose::Algorithm::kES384);
  EXPECT_EQ(ReadJson(folder / "jwks.json")["keys"].size(), 2u) << "both keys during the grace";

  // Reopened later, past the grace, a further rotation drops the first key.
  auto reopened = KeyRing::Open(folder);
  ASSERT_TRUE(reopened.has_value());
  const auto later = start + std::chrono::minutes(11);
  ASSERT_TRUE(
      reopened->Rotate(jose::Algorithm::kRS384, std::chrono::minutes(10), later).has_value());
  const fhir::Json jwks = ReadJson(folder / "jwks.json");
  ASSERT_EQ(jwks["keys"].size(), 2u);
  for (const auto& key : jwks["keys"]) EXPECT_NE(key["kid"], old_kid);
  EXPECT_FALSE(std::filesystem::exists(folder / "keys" / (old_kid + ".pem")));
}

TEST(KeyRingTest, OpeningAFolderWithoutARingSaysHowToMakeOne) {
  auto ring = KeyRing::Open(FreshFolder("missing"));
  ASSERT_FALSE(ring.has_value());
  EXPECT_NE(ring.error().diagnostic.find("fhirbridge keys generate"), std::string::npos);
}

}  // namespace
}  // namespace fhirbridge::auth
