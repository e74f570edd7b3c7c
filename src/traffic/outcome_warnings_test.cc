#include "traffic/outcome_warnings.h"

#include <gtest/gtest.h>

namespace fhirbridge::traffic {
namespace {

TEST(OutcomeWarningsTest, WarningAndInformationIssuesOfAnOperationOutcome) {
  const auto warnings = ExtractOutcomeWarnings(R"({"resourceType": "OperationOutcome", "issue": [
      {"severity": "error", "code": "invalid", "diagnostics": "not a warning"},
      {"severity": "warning", "code": "processing", "diagnostics": "ignored a parameter",
       "details": {"coding": [{"system": "urn:oid:1.2.3", "code": "4122"}]},
       "expression": ["shoe-size"]},
      {"severity": "information", "code": "informational",
       "details": {"text": "from the details"}}]})");
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0].source, OutcomeWarning::Source::kOperationOutcome);
  EXPECT_EQ(warnings[0].severity, "warning");
  EXPECT_EQ(warnings[0].code, "processing");
  EXPECT_EQ(warnings[0].details_system, "urn:oid:1.2.3");
  EXPECT_EQ(warnings[0].details_code, "4122");
  EXPECT_EQ(warnings[0].diagnostics, "ignored a parameter");
  EXPECT_EQ(warnings[0].expression, std::vector<std::string>{"shoe-size"});
  EXPECT_EQ(warnings[1].severity, "information");
  EXPECT_EQ(warnings[1].diagnostics, "from the details");
}

TEST(OutcomeWarningsTest, SearchOutcomeEntriesAndEntryResponseOutcomes) {
  const auto warnings = ExtractOutcomeWarnings(R"({"resourceType": "Bundle", "type": "searchset",
    "entry": [
      {"resource": {"resourceType": "OperationOutcome",
                    "issue": [{"severity": "warning", "code": "processing"}]},
       "search": {"mode": "match"}},
      {"resource": {"resourceType": "OperationOutcome",
                    "issue": [{"severity": "warning", "code": "processing",
                               "details": {"coding": [{"code": "4101"}]}}]},
       "search": {"mode": "outcome"}},
      {"response": {"status": "200 OK", "outcome": {"resourceType": "OperationOutcome",
                    "issue": [{"severity": "information", "code": "informational"}]}}}
    ]})");
  ASSERT_EQ(warnings.size(), 2u) << "an OperationOutcome found as a match is data, not a warning";
  EXPECT_EQ(warnings[0].source, OutcomeWarning::Source::kSearchOutcomeEntry);
  EXPECT_EQ(warnings[0].details_code, "4101");
  EXPECT_EQ(warnings[1].source, OutcomeWarning::Source::kEntryResponseOutcome);
  EXPECT_EQ(OutcomeWarningSourceName(warnings[1].source), "entry-response-outcome");
}

TEST(OutcomeWarningsTest, BodiesWithoutOutcomesOrNotJsonHaveNone) {
  EXPECT_TRUE(ExtractOutcomeWarnings("").empty());
  EXPECT_TRUE(ExtractOutcomeWarnings(R"({"resourceType": "Patient", "id": "1"})").empty());
  EXPECT_TRUE(ExtractOutcomeWarnings("OperationOutcome {not json").empty());
  EXPECT_TRUE(
      ExtractOutcomeWarnings(R"({"resourceType": "OperationOutcome", "issue": 3})").empty());
  EXPECT_TRUE(ExtractOutcomeWarnings(R"(["OperationOutcome"])").empty());
  EXPECT_TRUE(ExtractOutcomeWarnings(
                  R"({"resourceType": "Bundle", "entry": [3, {"search": "outcome"},
                      {"search": {"mode": "outcome"}, "resource": "OperationOutcome"}]})")
                  .empty());
}

}  // namespace
}  // namespace fhirbridge::traffic
