#include "base/sha256.h"

#include <gtest/gtest.h>

namespace fhirbridge::base {
namespace {

TEST(Sha256Test, MatchesTheStandardVectorsAndIsReusable) {
  Sha256 hasher;
  // FIPS 180-2 examples.
  EXPECT_EQ(hasher.Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hasher.Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // Fed in pieces, after a digest left unfinished: Begin starts afresh.
  hasher.Begin();
  hasher.Update("left unfinished");
  hasher.Begin();
  hasher.Update("a");
  hasher.Update("bc");
  EXPECT_EQ(hasher.FinishHex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace fhirbridge::base
