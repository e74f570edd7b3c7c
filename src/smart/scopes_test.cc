#include "smart/scopes.h"

#include <gtest/gtest.h>

namespace fhirbridge::smart {
namespace {

TEST(ScopesTest, ReadsV1AndV2ClinicalScopes) {
  const ParsedScopes parsed =
      ParseScopes("patient/Observation.read user/*.write system/Patient.rs launch openid");
  ASSERT_TRUE(parsed.rejected.empty());
  ASSERT_EQ(parsed.scopes.size(), 5u);

  const ClinicalScope& v1_read = *parsed.scopes[0].clinical;
  EXPECT_EQ(v1_read.context, Context::kPatient);
  EXPECT_EQ(v1_read.resource_type, "Observation");
  EXPECT_EQ(PermissionLetters(v1_read.permissions), "rs") << ".read is read and search";
  EXPECT_FALSE(v1_read.v2);

  EXPECT_EQ(PermissionLetters(parsed.scopes[1].clinical->permissions), "cud");
  EXPECT_EQ(parsed.scopes[1].clinical->resource_type, "*");
  EXPECT_TRUE(parsed.scopes[2].clinical->v2);
  EXPECT_FALSE(parsed.scopes[3].clinical.has_value());
  EXPECT_TRUE(parsed.Has("openid"));
}

TEST(ScopesTest, ToleratesOddSpacingAndTheCaseOfV1Suffixes) {
  const ParsedScopes parsed =
      ParseScopes("  patient/Immunization.Read\t\npatient/Immunization.read ");
  ASSERT_EQ(parsed.scopes.size(), 2u);
  EXPECT_EQ(PermissionLetters(parsed.scopes[0].clinical->permissions), "rs");
}

TEST(ScopesTest, KeepsGranularFiltersOfV2Scopes) {
  const ParsedScopes parsed = ParseScopes(
      "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
      "observation-category|laboratory");
  ASSERT_EQ(parsed.scopes.size(), 1u);
  const auto& filters = parsed.scopes[0].clinical->filters;
  ASSERT_EQ(filters.size(), 1u);
  EXPECT_EQ(filters[0].first, "category");
  EXPECT_EQ(filters[0].second,
            "http://terminology.hl7.org/CodeSystem/observation-category|laboratory");
}

TEST(ScopesTest, RejectsMalformedClinicalScopesInsteadOfGuessing) {
  const ParsedScopes parsed = ParseScopes(
      "patient/Observation.sr patient/Observation.x patient/.rs "
      "patient/observation.rs patient/Observation patient/Observation.read?x=1 "
      "launch/patient");
  EXPECT_EQ(parsed.rejected.size(), 6u);
  ASSERT_EQ(parsed.scopes.size(), 1u) << "launch/patient is a launch scope";
  EXPECT_FALSE(parsed.scopes[0].clinical.has_value());
}

TEST(ScopesTest, DecideNamesTheAllowingScopeOrTheMissingOne) {
  const ParsedScopes parsed =
      ParseScopes("patient/Observation.rs?category=laboratory patient/Patient.r system/*.rs");
  const Decision read_patient =
      Decide(parsed.scopes, "Patient", Permission::kRead, {Context::kPatient});
  EXPECT_TRUE(read_patient.allowed);
  EXPECT_EQ(read_patient.scope, "patient/Patient.r");

  const Decision search_patient =
      Decide(parsed.scopes, "Patient", Permission::kSearch, {Context::kPatient});
  EXPECT_FALSE(search_patient.allowed);
  EXPECT_EQ(search_patient.scope, "patient/Patient.s");

  const Decision observations =
      Decide(parsed.scopes, "Observation", Permission::kSearch, {Context::kPatient});
  EXPECT_TRUE(observations.allowed);
  ASSERT_EQ(observations.filters.size(), 1u) << "the granular filter restricts the search";

  const Decision system =
      Decide(parsed.scopes, "Condition", Permission::kSearch, {Context::kSystem});
  EXPECT_TRUE(system.allowed);
  EXPECT_TRUE(system.filters.empty());
}

TEST(ScopesTest, AnUnfilteredScopeWinsOverAFilteredOne) {
  const ParsedScopes parsed =
      ParseScopes("patient/Observation.rs?category=vital-signs patient/Observation.read");
  const Decision decision =
      Decide(parsed.scopes, "Observation", Permission::kSearch, {Context::kPatient});
  EXPECT_TRUE(decision.allowed);
  EXPECT_TRUE(decision.filters.empty());
  EXPECT_EQ(decision.scope, "patient/Observation.read");
}

}  // namespace
}  // namespace fhirbridge::smart
