#include "sandbox/build_level.h"

#include <gtest/gtest.h>

namespace fhirbridge::sandbox {
namespace {

constexpr Interaction kAllInteractions[] = {
    Interaction::kRead,   Interaction::kVread,           Interaction::kUpdate,
    Interaction::kDelete, Interaction::kHistoryInstance, Interaction::kHistoryType,
    Interaction::kCreate, Interaction::kSearchType,      Interaction::kTransaction,
    Interaction::kBatch,  Interaction::kHistorySystem,
};

TEST(BuildLevelTest, EveryInteractionRoundTripsThroughItsCode) {
  for (const auto interaction : kAllInteractions) {
    const auto code = InteractionCode(interaction);
    EXPECT_FALSE(code.empty());
    EXPECT_EQ(ParseInteraction(code), interaction) << code;
  }
}

TEST(BuildLevelTest, UsesTheFhirCodes) {
  EXPECT_EQ(InteractionCode(Interaction::kHistoryInstance), "history-instance");
  EXPECT_EQ(InteractionCode(Interaction::kSearchType), "search-type");
  EXPECT_EQ(ParseInteraction("vread"), Interaction::kVread);
  EXPECT_EQ(ParseInteraction("history-system"), Interaction::kHistorySystem);
}

TEST(BuildLevelTest, RejectsUnknownAndMiscasedCodes) {
  EXPECT_EQ(ParseInteraction("search"), std::nullopt);
  EXPECT_EQ(ParseInteraction("Read"), std::nullopt);
  EXPECT_EQ(ParseInteraction("patch"), std::nullopt);
  EXPECT_EQ(ParseInteraction(""), std::nullopt);
}

TEST(BuildLevelTest, OnlyTransactionBatchAndHistorySystemAreSystemInteractions) {
  for (const auto interaction : kAllInteractions) {
    const bool expected = interaction == Interaction::kTransaction ||
                          interaction == Interaction::kBatch ||
                          interaction == Interaction::kHistorySystem;
    EXPECT_EQ(IsSystemInteraction(interaction), expected) << InteractionCode(interaction);
  }
}

TEST(BuildLevelTest, SupportsOnlyListedTypesAndInteractions) {
  BuildLevel level;
  level.resources["Patient"] = {Interaction::kRead, Interaction::kSearchType};
  level.resources["Observation"] = {Interaction::kRead, Interaction::kCreate};
  level.system_interactions = {Interaction::kBatch};

  EXPECT_TRUE(level.SupportsType("Patient"));
  EXPECT_FALSE(level.SupportsType("Condition"));
  EXPECT_TRUE(level.Supports("Observation", Interaction::kCreate));
  EXPECT_FALSE(level.Supports("Patient", Interaction::kCreate));
  EXPECT_FALSE(level.Supports("Condition", Interaction::kRead));
  EXPECT_TRUE(level.SupportsSystem(Interaction::kBatch));
  EXPECT_FALSE(level.SupportsSystem(Interaction::kTransaction));
}

}  // namespace
}  // namespace fhirbridge::sandbox
