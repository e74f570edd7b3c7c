#include "auth/capabilities.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

namespace fhirbridge::auth {
namespace {

using smart::Context;

// A CapabilityStatement offering read and search on Patient, read, vread and instance history
// on Observation, and search only on MedicationStatement; no export.
fhir::Json Statement() {
  return fhir::Json::parse(R"({
    "resourceType": "CapabilityStatement",
    "fhirVersion": "4.0.1",
    "rest": [{
      "mode": "server",
      "resource": [
        {"type": "Patient", "interaction": [{"code": "read"}, {"code": "search-type"}]},
        {"type": "Observation", "interaction": [
          {"code": "read"}, {"code": "vread"}, {"code": "history-instance"},
          {"code": "search-type"}, {"code": "create"}]},
        {"type": "MedicationStatement", "interaction": [{"code": "read"}]}
      ]
    }]
  })");
}

CapabilityMatrix Build(std::string_view scopes, const fhir::Json* statement,
                       std::vector<Context> contexts = {Context::kSystem}) {
  CapabilityOptions options;
  options.contexts = std::move(contexts);
  auto matrix = CapabilityMatrix::Build(smart::ParseScopes(scopes), statement, options);
  EXPECT_TRUE(matrix.has_value()) << matrix.error().diagnostic;
  return std::move(*matrix);
}

TEST(CapabilityMatrixTest, V1ReadGrantsReadAndSearchAndRefusalsNameV1Scopes) {
  const auto matrix = Build("system/Patient.read system/Observation.read", nullptr);
  EXPECT_TRUE(matrix.Check("Patient", Interaction::kRead).allowed);
  EXPECT_TRUE(matrix.Check("Patient", Interaction::kSearch).allowed);
  EXPECT_EQ(matrix.Check("Patient", Interaction::kSearch).scope, "system/Patient.read");
  const auto create = matrix.Check("Patient", Interaction::kCreate);
  EXPECT_FALSE(create.allowed);
  EXPECT_EQ(create.reason, "the site did not grant system/Patient.write");
  EXPECT_EQ(matrix.Check("Condition", Interaction::kRead).reason,
            "the site did not grant system/Condition.read");
}

TEST(CapabilityMatrixTest, V2LettersAreCheckedOneByOne) {
  const auto matrix =
      Build("patient/MedicationRequest.rs patient/Observation.cu", nullptr, {Context::kPatient});
  EXPECT_TRUE(matrix.Check("MedicationRequest", Interaction::kRead).allowed);
  EXPECT_TRUE(matrix.Check("MedicationRequest", Interaction::kHistoryType).allowed);
  EXPECT_EQ(matrix.Check("MedicationRequest", Interaction::kDelete).reason,
            "the site did not grant patient/MedicationRequest.d");
  EXPECT_TRUE(matrix.Check("Observation", Interaction::kUpdate).allowed);
  EXPECT_EQ(matrix.Check("Observation", Interaction::kSearch).reason,
            "the site did not grant patient/Observation.s");
  EXPECT_EQ(matrix.Check("Condition", Interaction::kSearch).reason,
            "the site did not grant patient/Condition.s");
}

TEST(CapabilityMatrixTest, GranularScopesAllowWithTheirFiltersAsARestriction) {
  const auto matrix = Build(
      "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
      "observation-category|laboratory",
      nullptr, {Context::kPatient});
  const auto search = matrix.Check("Observation", Interaction::kSearch);
  ASSERT_TRUE(search.allowed);
  ASSERT_EQ(search.filters.size(), 1u);
  EXPECT_EQ(search.filters[0].first, "category");
  EXPECT_EQ(search.RestrictionNote(),
            "only category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory");

  // An unfiltered scope for the same type wins over the filtered one.
  const auto wider = Build("patient/Observation.rs?category=laboratory patient/Observation.rs",
                           nullptr, {Context::kPatient});
  EXPECT_TRUE(wider.Check("Observation", Interaction::kSearch).filters.empty());
  EXPECT_EQ(wider.Check("Observation", Interaction::kSearch).scope, "patient/Observation.rs");
}

TEST(CapabilityMatrixTest, WildcardCoversEveryType) {
  const auto matrix = Build("system/*.rs", nullptr);
  for (const char* type : {"Patient", "Observation", "Encounter"}) {
    EXPECT_TRUE(matrix.Check(type, Interaction::kRead).allowed) << type;
    EXPECT_FALSE(matrix.Check(type, Interaction::kCreate).allowed) << type;
  }
  EXPECT_EQ(matrix.Check("Patient", Interaction::kRead).scope, "system/*.rs");
}

TEST(CapabilityMatrixTest, OnlyTheContextsTheSiteActsInCount) {
  // A user/ scope does nothing for a backend-services client, which acts in system context.
  const auto backend = Build("user/Patient.rs", nullptr, {Context::kSystem});
  EXPECT_EQ(backend.Check("Patient", Interaction::kRead).reason,
            "the site did not grant system/Patient.r");

  // A launch acts for a patient and a user; the preferred context names the missing scope.
  const auto launch = Build("user/Patient.rs", nullptr, {Context::kPatient, Context::kUser});
  EXPECT_TRUE(launch.Check("Patient", Interaction::kRead).allowed);
  EXPECT_EQ(launch.Check("Observation", Interaction::kRead).reason,
            "the site did not grant patient/Observation.r");
  const auto provider = Build("patient/Patient.rs", nullptr, {Context::kUser, Context::kPatient});
  EXPECT_TRUE(provider.Check("Patient", Interaction::kSearch).allowed);
  EXPECT_EQ(provider.Check("Encounter", Interaction::kSearch).reason,
            "the site did not grant user/Encounter.s");
}

TEST(CapabilityMatrixTest, CapabilityStatementLimitsWhatScopesAllow) {
  const fhir::Json statement = Statement();
  const auto matrix = Build("system/*.cruds", &statement);

  EXPECT_TRUE(matrix.Check("Observation", Interaction::kCreate).allowed);
  EXPECT_EQ(matrix.Check("MedicationStatement", Interaction::kSearch).reason,
            "the site's CapabilityStatement does not offer search on MedicationStatement");
  EXPECT_EQ(matrix.Check("Observation", Interaction::kHistoryType).reason,
            "the site's CapabilityStatement does not offer type history on Observation");
  EXPECT_EQ(matrix.Check("Encounter", Interaction::kRead).reason,
            "the site's CapabilityStatement does not list Encounter");
  EXPECT_EQ(matrix.Check("Patient", Interaction::kExport).reason,
            "the site's CapabilityStatement offers no Bulk Data $export");

  // The rows are the statement's types (the wildcard names none).
  ASSERT_EQ(matrix.rows().size(), 3u);
  EXPECT_EQ(matrix.rows()[0].resource_type, "MedicationStatement");
}

TEST(CapabilityMatrixTest, BothReasonsAreGivenWhenBothAreMissing) {
  const fhir::Json statement = Statement();
  const auto matrix = Build("system/Patient.rs", &statement);
  EXPECT_EQ(matrix.Check("MedicationStatement", Interaction::kSearch).reason,
            "the site's CapabilityStatement does not offer search on MedicationStatement; and the "
            "site did not grant system/MedicationStatement.s");
}

TEST(CapabilityMatrixTest, ExportNeedsTheOperationAndSystemReadAndSearch) {
  fhir::Json statement = Statement();
  statement["rest"][0]["resource"].push_back(
      {{"type", "Group"},
       {"interaction", {{{"code", "read"}}}},
       {"operation",
        {{{"name", "export"},
          {"definition", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"}}}}});
  const auto matrix = Build("system/Patient.rs system/Observation.r", &statement);
  const auto patient = matrix.Check("Patient", Interaction::kExport);
  EXPECT_TRUE(patient.allowed) << patient.reason;
  EXPECT_EQ(patient.scope, "system/Patient.rs");
  EXPECT_EQ(matrix.Check("Observation", Interaction::kExport).reason,
            "the site did not grant system/Observation.rs");

  // A launch's patient/ scopes never allow export.
  const auto launch = Build("patient/Patient.rs", &statement, {Context::kPatient});
  EXPECT_EQ(launch.Check("Patient", Interaction::kExport).reason,
            "the site did not grant system/Patient.rs");
}

TEST(CapabilityMatrixTest, WhatIsNotACapabilityStatementIsRefused) {
  for (const char* text :
       {R"({"resourceType": "Patient"})", R"([1, 2])",
        R"({"resourceType": "CapabilityStatement", "rest": [{"mode": "client"}]})"}) {
    const fhir::Json json = fhir::Json::parse(text);
    const auto matrix = CapabilityMatrix::Build(smart::ParseScopes("system/*.rs"), &json);
    ASSERT_FALSE(matrix.has_value()) << text;
    EXPECT_EQ(matrix.error().code, base::ErrorCode::kCapabilityUnavailable);
  }
}

TEST(CapabilityMatrixTest, NotesSayWhatTheMatrixCouldNotUse) {
  fhir::Json statement = Statement();
  statement["fhirVersion"] = "3.0.2";
  const auto matrix = Build("openid system/Patient.xyz", &statement);
  const auto& notes = matrix.notes();
  const auto has = [&](std::string_view text) {
    return std::ranges::any_of(
        notes, [&](const auto& note) { return note.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("\"system/Patient.xyz\" is not a valid SMART scope"));
  EXPECT_TRUE(has("no clinical scope was granted"));
  EXPECT_TRUE(has("\"3.0.2\", not R4"));
  EXPECT_TRUE(Build("system/Patient.rs", nullptr).notes().back().find("was not read") !=
              std::string::npos);
}

TEST(CapabilityMatrixTest, ScopeReviewListsGrantedScopesNeverUsed) {
  auto matrix =
      Build("system/Patient.rs system/Observation.rs system/Condition.rs offline_access", nullptr);
  EXPECT_TRUE(matrix.Ask("Patient", Interaction::kRead).allowed);
  EXPECT_TRUE(matrix.Ask("Patient", Interaction::kSearch).allowed);
  EXPECT_TRUE(matrix.Ask("Observation", Interaction::kSearch).allowed);
  EXPECT_FALSE(matrix.Ask("Encounter", Interaction::kSearch).allowed);
  // Check() alone is not a use.
  EXPECT_TRUE(matrix.Check("Condition", Interaction::kRead).allowed);

  const ScopeReview review = matrix.Review();
  EXPECT_EQ(review.used, (std::vector<std::pair<std::string, std::uint64_t>>{
                             {"system/Patient.rs", 2}, {"system/Observation.rs", 1}}));
  EXPECT_EQ(review.unused, (std::vector<std::string>{"system/Condition.rs"}));
  EXPECT_EQ(review.not_reviewed, (std::vector<std::string>{"offline_access"}));
}

TEST(CapabilityMatrixTest, UsageCountsAreExactUnderConcurrency) {
  auto matrix = Build("system/Patient.rs", nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) matrix.Ask("Patient", Interaction::kRead);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(matrix.Review().used.at(0).second, 2000u);
}

TEST(CapabilityMatrixTest, RendersTextAndJsonWithReasons) {
  const fhir::Json statement = Statement();
  auto matrix =
      Build("system/Patient.rs system/Observation.rs?category=laboratory system/Condition.rs",
            &statement);
  matrix.Ask("Patient", Interaction::kRead);

  const std::string text = matrix.ToText();
  EXPECT_NE(text.find("Observation"), std::string::npos);
  EXPECT_NE(text.find("yes*"), std::string::npos) << text;
  EXPECT_NE(text.find("Observation search-type: only category=laboratory"), std::string::npos)
      << text;
  EXPECT_NE(text.find("MedicationStatement search-type: the site's CapabilityStatement does not "
                      "offer search on MedicationStatement"),
            std::string::npos)
      << text;

  const fhir::Json json = matrix.ToJson();
  ASSERT_EQ(json["resourceTypes"].size(),
            4u);  // Condition, MedicationStatement, Observation, Patient
  const auto& condition = json["resourceTypes"][0];
  EXPECT_EQ(condition["resourceType"], "Condition");
  EXPECT_EQ(condition["interactions"]["read"]["reason"],
            "the site's CapabilityStatement does not list Condition");
  EXPECT_EQ(json["resourceTypes"][2]["interactions"]["search-type"]["restriction"],
            "category=laboratory");
  EXPECT_EQ(
      json["scopeReview"]["unused"],
      fhir::Json::array({"system/Observation.rs?category=laboratory", "system/Condition.rs"}));
}

TEST(CapabilityMatrixTest, InteractionNamesRoundTrip) {
  for (const Interaction interaction : AllInteractions()) {
    EXPECT_EQ(ParseInteractionName(InteractionName(interaction)), interaction);
  }
  EXPECT_EQ(ParseInteractionName("search"), Interaction::kSearch);
  EXPECT_FALSE(ParseInteractionName("patch").has_value());
}

}  // namespace
}  // namespace fhirbridge::auth
