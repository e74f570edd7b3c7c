#include "sync/plan.h"

#include <gtest/gtest.h>

namespace fhirbridge::sync {
namespace {

ServerCapabilities Capabilities() {
  auto parsed = ParseCapabilityStatement(R"({"resourceType":"CapabilityStatement","rest":[
    {"mode":"server","resource":[
      {"type":"Observation","interaction":[{"code":"read"},{"code":"search-type"},
                                           {"code":"history-type"}],
       "searchParam":[{"name":"_lastUpdated","type":"date"},{"name":"patient","type":"reference"}]},
      {"type":"Condition","interaction":[{"code":"search-type"},{"code":"history-type"}],
       "searchParam":[{"name":"subject","type":"reference"}]},
      {"type":"Encounter","interaction":[{"code":"read"},{"code":"search-type"}],
       "searchParam":[{"name":"patient","type":"reference"}]},
      {"type":"Patient","interaction":[{"code":"read"}]},
      {"type":"Binary","interaction":[{"code":"read"}]}]}]})");
  EXPECT_TRUE(parsed) << parsed.error().ToString();
  return parsed.value_or(ServerCapabilities{});
}

TEST(SyncPlanTest, ChoosesTheBestStrategyEachTypeAllows) {
  PlanInputs inputs;
  inputs.types = {"Observation", "Condition", "Encounter", "Patient", "Binary", "Goal"};
  inputs.capabilities = Capabilities();
  inputs.patient_cohort = {"p1"};
  const std::vector<TypePlan> plan = PlanSync(inputs);
  ASSERT_EQ(plan.size(), 6u);
  EXPECT_EQ(plan[0].strategy, Strategy::kLastUpdatedWindows);
  EXPECT_EQ(plan[1].strategy, Strategy::kHistorySince);
  EXPECT_EQ(plan[2].strategy, Strategy::kPerPatientRefresh);
  EXPECT_EQ(plan[2].patient_parameter, "patient");
  EXPECT_EQ(plan[3].strategy, Strategy::kPerPatientRefresh);
  EXPECT_EQ(plan[3].patient_parameter, "");
  EXPECT_EQ(plan[4].strategy, Strategy::kNone);
  EXPECT_NE(plan[4].reason.find("no patient or subject search"), std::string::npos);
  EXPECT_EQ(plan[5].strategy, Strategy::kNone);
  EXPECT_NE(plan[5].reason.find("does not list this type"), std::string::npos);
}

TEST(SyncPlanTest, PermissionsAndAMissingCohortNarrowTheChoiceWithReasons) {
  PlanInputs inputs;
  inputs.types = {"Observation", "Encounter"};
  inputs.capabilities = Capabilities();
  inputs.permissions["Observation"] = {false, true, true, "scope system/Observation.rs missing"};
  const std::vector<TypePlan> plan = PlanSync(inputs);
  EXPECT_EQ(plan[0].strategy, Strategy::kHistorySince);
  EXPECT_NE(plan[0].reason.find("scope system/Observation.rs missing"), std::string::npos);
  EXPECT_EQ(plan[1].strategy, Strategy::kNone);
  EXPECT_NE(plan[1].reason.find("no patient cohort given"), std::string::npos);
}

TEST(SyncPlanTest, AForcedStrategyIsUsedOnlyWherePossible) {
  PlanInputs inputs;
  inputs.types = {"Observation", "Encounter"};
  inputs.capabilities = Capabilities();
  inputs.forced = Strategy::kHistorySince;
  const std::vector<TypePlan> plan = PlanSync(inputs);
  EXPECT_EQ(plan[0].strategy, Strategy::kHistorySince);
  EXPECT_EQ(plan[1].strategy, Strategy::kNone);
  EXPECT_EQ(FormatPlan(plan).find("Observation  history"), 0u);
}

TEST(SyncPlanTest, RefusesWhatIsNotACapabilityStatement) {
  EXPECT_EQ(ParseCapabilityStatement("{").error().code, base::ErrorCode::kMalformedResponse);
  EXPECT_EQ(ParseCapabilityStatement(R"({"resourceType":"Patient"})").error().location,
            "resourceType");
  const auto bad = ParseCapabilityStatement(
      R"({"resourceType":"CapabilityStatement","rest":[{"mode":"server","resource":[{}]}]})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().location, "CapabilityStatement.rest[0].resource[0]");
}

TEST(SyncPlanTest, StrategyNamesRoundTrip) {
  for (Strategy strategy :
       {Strategy::kLastUpdatedWindows, Strategy::kHistorySince, Strategy::kPerPatientRefresh}) {
    EXPECT_EQ(ParseStrategy(StrategyName(strategy)), strategy);
  }
  EXPECT_FALSE(ParseStrategy("bulk"));
}

}  // namespace
}  // namespace fhirbridge::sync
