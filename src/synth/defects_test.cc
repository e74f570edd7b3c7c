#include "synth/defects.h"

#include <gtest/gtest.h>

#include <set>

namespace fhirbridge::synth {
namespace {

TEST(SynthDefectsTest, CatalogueNamesAreUniqueAndFindable) {
  std::set<std::string_view> names;
  for (const auto& info : DefectCatalogue()) {
    EXPECT_TRUE(names.insert(info.name).second) << info.name;
    EXPECT_EQ(DefectFromName(info.name), info.defect);
    EXPECT_GE(info.realistic_rate, 0);
    EXPECT_LE(info.realistic_rate, info.negative_rate) << info.name;
    EXPECT_LE(info.negative_rate, 1);
  }
  EXPECT_EQ(names.size(), kDefectCount);
  EXPECT_FALSE(DefectFromName("no-such-defect").has_value());
}

TEST(SynthDefectsTest, CleanProfileHasEveryRateZeroAndOthersSomeAboveZero) {
  const DefectRates clean = DefectRates::ForProfile(Profile::kClean);
  const DefectRates realistic = DefectRates::ForProfile(Profile::kRealistic);
  const DefectRates negative = DefectRates::ForProfile(Profile::kNegative);
  for (const auto& info : DefectCatalogue()) {
    EXPECT_EQ(clean.rate(info.defect), 0) << info.name;
    EXPECT_GT(realistic.rate(info.defect), 0) << info.name;
    EXPECT_GT(negative.rate(info.defect), realistic.rate(info.defect) - 1e-12) << info.name;
  }
}

TEST(SynthDefectsTest, ProfilesRoundTripThroughTheirNames) {
  for (const Profile profile : {Profile::kClean, Profile::kRealistic, Profile::kNegative}) {
    EXPECT_EQ(ProfileFromName(ProfileName(profile)), profile);
  }
  EXPECT_FALSE(ProfileFromName("messy").has_value());
}

TEST(SynthDefectsTest, OverrideSetsOneRate) {
  DefectRates rates;
  ASSERT_TRUE(rates.ApplyOverride("duplicate-demographics=0.25").has_value());
  EXPECT_EQ(rates.rate(Defect::kDuplicateDemographics), 0.25);
  ASSERT_TRUE(rates.ApplyOverride("long-id=1").has_value());
  EXPECT_EQ(rates.rate(Defect::kLongId), 1);
  EXPECT_EQ(rates.rate(Defect::kMergedRecord), 0);
}

TEST(SynthDefectsTest, OverrideRejectsUnknownNamesAndBadRates) {
  DefectRates rates;
  for (const char* bad : {"duplicate-demographics", "nonsense=0.1", "long-id=1.5", "long-id=-0.1",
                          "long-id=abc", "long-id=0.1x", "long-id="}) {
    const auto applied = rates.ApplyOverride(bad);
    ASSERT_FALSE(applied.has_value()) << bad;
    EXPECT_EQ(applied.error().code, base::ErrorCode::kInvalidParameter) << bad;
    EXPECT_EQ(applied.error().location, "--defect");
  }
  const auto unknown = rates.ApplyOverride("nonsense=0.1");
  EXPECT_NE(unknown.error().diagnostic.find("duplicate-demographics"), std::string::npos)
      << "the message lists the known defects";
}

}  // namespace
}  // namespace fhirbridge::synth
