#include "sandbox/search_config_toml.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sandbox/tenant_config.h"

namespace fhirbridge::sandbox {
namespace {

// A build level "lab" with Patient and Observation searchable, then `search` (TOML appended to
// the level) and one tenant.
std::string FileWith(std::string_view level_keys, std::string_view search_tables) {
  return "[build_levels.lab]\n" + std::string(level_keys) +
         "\n[build_levels.lab.resources]\n"
         "Patient = [\"read\", \"search-type\"]\n"
         "Observation = [\"read\", \"search-type\"]\n"
         "Practitioner = [\"read\"]\n\n" +
         std::string(search_tables) + "\n[[tenants]]\nname = \"t1\"\nbuild_level = \"lab\"\n";
}

TEST(SearchConfigTest, DefaultsAreThoseOfAPlainR4Server) {
  const auto config = ParseSandboxConfig(FileWith("", ""), "test.toml");
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  const SearchSettings& search = config->build_levels.at("lab").search;
  EXPECT_FALSE(search.parameters.has_value());
  EXPECT_EQ(search.default_count, 20);
  EXPECT_EQ(search.max_count, 1000);
  EXPECT_FALSE(search.lenient);
  EXPECT_FALSE(search.require_patient || search.require_category_or_code ||
               search.require_demographics || search.empty_result_outcome || search.strict_meta ||
               search.epic_codes);
  EXPECT_TRUE(search.last_updated);
  EXPECT_TRUE(config->build_levels.at("lab").types_not_enabled.empty());
}

TEST(SearchConfigTest, ReadsEverySwitchAndTheParameterLists) {
  const auto config = ParseSandboxConfig(
      FileWith("types_not_enabled = [\"Goal\"]\n",
               "[build_levels.lab.search]\n"
               "default_count = 10\nmax_count = 30\nunknown_parameters = \"warn\"\n"
               "require_patient = true\nrequire_category_or_code = true\n"
               "require_demographics = true\nempty_result_outcome = true\n"
               "last_updated = false\nstrict_meta = true\nepic_codes = true\n\n"
               "[build_levels.lab.search.parameters]\n"
               "Patient = [\"_id\", \"family\"]\nObservation = [\"patient\", \"code\"]\n"),
      "test.toml");
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  const BuildLevel& level = config->build_levels.at("lab");
  EXPECT_EQ(level.types_not_enabled, (std::set<std::string, std::less<>>{"Goal"}));
  const SearchSettings& search = level.search;
  EXPECT_EQ(search.default_count, 10);
  EXPECT_EQ(search.max_count, 30);
  EXPECT_TRUE(search.lenient && search.require_patient && search.require_category_or_code &&
              search.require_demographics && search.empty_result_outcome && search.strict_meta &&
              search.epic_codes);
  EXPECT_FALSE(search.last_updated);
  ASSERT_TRUE(search.parameters.has_value());
  EXPECT_EQ(search.parameters->at("Patient"),
            (std::set<std::string, std::less<>>{"_id", "family"}));
}

TEST(SearchConfigTest, DefaultCountNeverExceedsTheMaximum) {
  const auto config =
      ParseSandboxConfig(FileWith("", "[build_levels.lab.search]\nmax_count = 5\n"), "test.toml");
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  EXPECT_EQ(config->build_levels.at("lab").search.default_count, 5);
}

struct BadSearchCase {
  std::string name;
  std::string level_keys;
  std::string tables;
  std::string expected;  // a substring of the diagnostic
};

class SearchConfigProblemTest : public ::testing::TestWithParam<BadSearchCase> {};

TEST_P(SearchConfigProblemTest, IsReportedWithItsPath) {
  const auto config =
      ParseSandboxConfig(FileWith(GetParam().level_keys, GetParam().tables), "test.toml");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code, base::ErrorCode::kConfigInvalid);
  EXPECT_NE(config.error().diagnostic.find(GetParam().expected), std::string::npos)
      << config.error().diagnostic;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SearchConfigProblemTest,
    ::testing::Values(
        BadSearchCase{"UnknownKey", "", "[build_levels.lab.search]\npage_size = 3\n",
                      "build_levels.lab.search.page_size: unknown key"},
        BadSearchCase{"CountOutOfRange", "", "[build_levels.lab.search]\nmax_count = 0\n",
                      "build_levels.lab.search.max_count: must be a whole number from 1 to 10000"},
        BadSearchCase{"DefaultAboveMaximum", "",
                      "[build_levels.lab.search]\nmax_count = 10\ndefault_count = 11\n",
                      "default_count: must be a whole number from 1 to 10"},
        BadSearchCase{"SwitchNotBoolean", "", "[build_levels.lab.search]\nstrict_meta = 1\n",
                      "build_levels.lab.search.strict_meta: must be true or false"},
        BadSearchCase{"UnknownHandling", "",
                      "[build_levels.lab.search]\nunknown_parameters = \"ignore\"\n",
                      "unknown_parameters: must be \"warn\" or \"reject\""},
        BadSearchCase{"ParametersNeitherAllNorTable", "",
                      "[build_levels.lab.search]\nparameters = \"some\"\n",
                      "parameters: must be \"all\" or a table"},
        BadSearchCase{"UnknownParameter", "",
                      "[build_levels.lab.search.parameters]\nPatient = [\"shoe-size\"]\n"
                      "Observation = [\"code\"]\n",
                      "parameters.Patient[0]: \"shoe-size\" is not an R4 search parameter of "
                      "Patient"},
        BadSearchCase{"ParameterOfAnotherType", "",
                      "[build_levels.lab.search.parameters]\nPatient = [\"_id\"]\n"
                      "Observation = [\"birthdate\"]\n",
                      "parameters.Observation[0]: \"birthdate\" is not an R4 search parameter"},
        BadSearchCase{"UnsupportedComposite", "",
                      "[build_levels.lab.search.parameters]\nPatient = [\"_id\"]\n"
                      "Observation = [\"code-value-quantity\"]\n",
                      "\"code-value-quantity\" is not an R4 search parameter of Observation that "
                      "this server supports"},
        BadSearchCase{"ParameterListedTwice", "",
                      "[build_levels.lab.search.parameters]\nPatient = [\"_id\", \"_id\"]\n"
                      "Observation = [\"code\"]\n",
                      "Patient[1]: \"_id\" is listed twice"},
        BadSearchCase{"TypeNotSearchable", "",
                      "[build_levels.lab.search.parameters]\nPatient = [\"_id\"]\n"
                      "Observation = [\"code\"]\nPractitioner = [\"_id\"]\n",
                      "parameters.Practitioner: \"Practitioner\" is not searchable"},
        BadSearchCase{"SearchableTypeWithoutList", "",
                      "[build_levels.lab.search.parameters]\nPatient = [\"_id\"]\n",
                      "parameters.Observation: is required: Observation allows search-type"},
        BadSearchCase{"NotEnabledTypeAlsoServed", "types_not_enabled = [\"Patient\"]\n", "",
                      "types_not_enabled[0]: \"Patient\" is also under resources"},
        BadSearchCase{"NotEnabledUnknownType", "types_not_enabled = [\"Spaceship\"]\n", "",
                      "types_not_enabled[0]: \"Spaceship\" is not a FHIR R4 resource type"}),
    [](const ::testing::TestParamInfo<BadSearchCase>& param_info) {
      return param_info.param.name;
    });

}  // namespace
}  // namespace fhirbridge::sandbox
