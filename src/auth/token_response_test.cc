#include "auth/token_response.h"

#include <gtest/gtest.h>

namespace fhirbridge::auth {
namespace {

using base::ErrorCode;

struct ParseCase {
  const char* name;
  const char* body;
  bool ok;
  const char* scope;  // expected normalised scope when ok
  long long expires_in;
  bool assumed;
};

class TokenResponseParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(TokenResponseParseTest, ReadsWhatRealServersSend) {
  const ParseCase& c = GetParam();
  auto parsed = ParseTokenResponse(c.body);
  ASSERT_EQ(parsed.has_value(), c.ok) << c.name;
  if (!c.ok) {
    EXPECT_EQ(parsed.error().code, ErrorCode::kMalformedResponse) << c.name;
    EXPECT_EQ(parsed.error().ToString().find("SECRET"), std::string::npos) << c.name;
    return;
  }
  EXPECT_EQ(parsed->access_token, "SECRET-AT") << c.name;
  EXPECT_EQ(parsed->token_type, "Bearer") << c.name;
  EXPECT_EQ(parsed->scope, c.scope) << c.name;
  EXPECT_EQ(parsed->expires_in.count(), c.expires_in) << c.name;
  EXPECT_EQ(parsed->expires_in_assumed, c.assumed) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TokenResponseParseTest,
    ::testing::Values(
        ParseCase{"epic_lowercase_bearer",
                  R"({"access_token":"SECRET-AT","token_type":"bearer","expires_in":3600,)"
                  R"("scope":"Patient.read Patient.search"})",
                  true, "Patient.read Patient.search", 3600, false},
        ParseCase{"upper_case_type_and_odd_spacing",
                  R"({"access_token":"SECRET-AT","token_type":"BEARER","expires_in":300,)"
                  R"("scope":"  system/Patient.rs \t\n system/Observation.rs+launch  "})",
                  true, "system/Patient.rs system/Observation.rs launch", 300, false},
        ParseCase{"missing_optional_fields", R"({"access_token":"SECRET-AT"})", true, "",
                  kDefaultTokenLifetime.count(), true},
        ParseCase{"expires_in_as_string",
                  R"({"access_token":"SECRET-AT","token_type":"Bearer","expires_in":"3240"})", true,
                  "", 3240, false},
        ParseCase{"expires_in_zero_is_unusable",
                  R"({"access_token":"SECRET-AT","token_type":"Bearer","expires_in":0})", true, "",
                  kDefaultTokenLifetime.count(), true},
        ParseCase{"mac_token_refused", R"({"access_token":"SECRET-AT","token_type":"mac"})", false,
                  "", 0, false},
        ParseCase{"no_access_token", R"({"token_type":"Bearer","expires_in":60})", false, "", 0,
                  false},
        ParseCase{"array_body", R"(["SECRET-AT"])", false, "", 0, false},
        ParseCase{"html_body", "<html>SECRET-AT</html>", false, "", 0, false}),
    [](const ::testing::TestParamInfo<ParseCase>& param_info) {
      return std::string(param_info.param.name);
    });

TEST(TokenResponseTest, KeepsLaunchContextAndExtraMembersButNotTheTokens) {
  auto parsed = ParseTokenResponse(
      R"({"access_token":"SECRET-AT","token_type":"Bearer","expires_in":3600,)"
      R"("refresh_token":"SECRET-RT","patient":"p1","encounter":"e1","id_token":"a.b.c",)"
      R"("need_patient_banner":true,"smart_style_url":"https://ehr/style.json",)"
      R"("__epic.dstu2.patient":"T1"})");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->refresh_token, "SECRET-RT");
  EXPECT_EQ(parsed->patient, "p1");
  EXPECT_EQ(parsed->encounter, "e1");
  EXPECT_EQ(parsed->id_token, "a.b.c");
  EXPECT_EQ(parsed->need_patient_banner, true);
  EXPECT_EQ(parsed->smart_style_url, "https://ehr/style.json");
  EXPECT_NE(parsed->other_members_json.find("__epic.dstu2.patient"), std::string::npos);
  EXPECT_EQ(parsed->other_members_json.find("SECRET"), std::string::npos);
}

TEST(TokenResponseTest, OAuthErrorsMapToCatalogueCodes) {
  const struct {
    int status;
    const char* body;
    ErrorCode code;
  } cases[] = {
      {400, R"({"error":"invalid_client","error_description":"bad signature"})",
       ErrorCode::kOAuthInvalidClient},
      {401, R"({"error":"invalid_client"})", ErrorCode::kOAuthInvalidClient},
      {400, R"({"error":"invalid_grant"})", ErrorCode::kOAuthInvalidGrant},
      {400, R"({"error":"unauthorized_client"})", ErrorCode::kOAuthUnauthorizedClient},
      {400, R"({"error":"invalid_scope"})", ErrorCode::kOAuthInvalidScope},
      {400, R"({"error":"something_new"})", ErrorCode::kTokenRequestFailed},
      {503, R"({"error":"invalid_request","error_description":"down"})",
       ErrorCode::kTokenRequestFailed},
      {502, "<html>Bad gateway</html>", ErrorCode::kTokenRequestFailed},
  };
  for (const auto& c : cases) {
    const base::Error error = TokenRequestError(c.status, c.body, "the token request");
    EXPECT_EQ(error.code, c.code) << c.body;
    EXPECT_NE(error.diagnostic.find(std::to_string(c.status)), std::string::npos);
  }
  const base::Error described = TokenRequestError(
      400, R"({"error":"invalid_client","error_description":"bad signature\n"})", "x");
  EXPECT_EQ(described.diagnostic, "x failed: HTTP 400, invalid_client: bad signature?");
}

TEST(TokenResponseTest, SplitScopesDropsEmptyPieces) {
  EXPECT_EQ(SplitScopes(""), std::vector<std::string>{});
  EXPECT_EQ(SplitScopes(" + \t"), std::vector<std::string>{});
  EXPECT_EQ(SplitScopes("a  b"), (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace fhirbridge::auth
