#include "sandbox/access_control.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace fhirbridge::sandbox {
namespace {

AccessGrant Grant(const std::string& scopes, const std::string& patient = "",
                  bool backend = false) {
  return AccessGrant{"app", smart::ParseScopes(scopes).scopes, patient, "", backend};
}

TEST(AccessControlTest, ScopesAreCheckedPerInteractionAndNameWhatIsMissing) {
  const AccessGrant grant = Grant("patient/Observation.rs patient/Patient.r", "p1");
  EXPECT_TRUE(CheckScope(grant, "Observation", Interaction::kSearchType).has_value());
  EXPECT_TRUE(CheckScope(grant, "Patient", Interaction::kRead).has_value());
  EXPECT_TRUE(CheckScope(grant, "Patient", Interaction::kVread).has_value());

  const auto denied = CheckScope(grant, "Patient", Interaction::kSearchType);
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().code, base::ErrorCode::kInsufficientScope);
  EXPECT_EQ(denied.error().location, "patient/Patient.s");
  EXPECT_FALSE(CheckScope(grant, "Observation", Interaction::kCreate).has_value());
}

TEST(AccessControlTest, BackendGrantsUseSystemScopesOnly) {
  const AccessGrant backend = Grant("system/Patient.rs patient/Observation.rs", "", true);
  EXPECT_TRUE(CheckScope(backend, "Patient", Interaction::kSearchType).has_value());
  EXPECT_FALSE(CheckScope(backend, "Observation", Interaction::kSearchType).has_value());
}

TEST(AccessControlTest, PatientTokensStayInTheirPatientsCompartment) {
  const AccessGrant grant = Grant("patient/*.rs", "p1");
  EXPECT_TRUE(CheckCompartment(grant, {{"resourceType", "Patient"}, {"id", "p1"}}).has_value());
  EXPECT_FALSE(CheckCompartment(grant, {{"resourceType", "Patient"}, {"id", "p2"}}).has_value());
  EXPECT_TRUE(CheckCompartment(grant, {{"resourceType", "Observation"},
                                       {"subject", {{"reference", "Patient/p1"}}}})
                  .has_value());
  EXPECT_FALSE(CheckCompartment(grant, {{"resourceType", "Observation"},
                                        {"subject", {{"reference", "Patient/p2"}}}})
                   .has_value());
  EXPECT_TRUE(CheckCompartment(grant, {{"resourceType", "Practitioner"}, {"id", "gp"}}).has_value())
      << "shared resources are readable";

  EXPECT_TRUE(CheckSearchCompartment(grant, "Observation", {{"patient", "p1"}}).has_value());
  EXPECT_TRUE(
      CheckSearchCompartment(grant, "Observation", {{"subject", "Patient/p1"}}).has_value());
  EXPECT_FALSE(CheckSearchCompartment(grant, "Observation", {{"patient", "p2"}}).has_value());
  EXPECT_FALSE(CheckSearchCompartment(grant, "Observation", {{"code", "x"}}).has_value());
  EXPECT_TRUE(CheckSearchCompartment(Grant("user/*.rs"), "Observation", {}).has_value());
}

TEST(AccessControlTest, ChallengesFollowRfc6750) {
  http::Response response;
  AddAuthenticateChallenge(
      response,
      base::MakeError(base::ErrorCode::kInsufficientScope, "needs more", "patient/Patient.s"),
      "alpine");
  EXPECT_EQ(*response.FindHeader("WWW-Authenticate"),
            "Bearer realm=\"alpine\", error=\"insufficient_scope\", error_description=\"needs "
            "more\", scope=\"patient/Patient.s\"");
  AddAuthenticateChallenge(response, base::MakeError(base::ErrorCode::kUnauthenticated, "expired"),
                           "alpine");
  EXPECT_NE(response.FindHeader("WWW-Authenticate")->find("invalid_token"), std::string::npos);
}

}  // namespace
}  // namespace fhirbridge::sandbox
