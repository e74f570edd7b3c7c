#include "sandbox/tenant_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fhirbridge::sandbox {
namespace {

// The smallest valid file; bad inputs below change one thing in a copy of it.
constexpr std::string_view kMinimal = R"([build_levels.basic.resources]
Patient = ["read"]

[[tenants]]
name = "t1"
build_level = "basic"
)";

std::vector<std::string> DiagnosticLines(const base::Error& error) {
  std::vector<std::string> lines;
  std::istringstream stream(error.diagnostic);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

TEST(ConfigTest, DefaultConfigurationParsesWithAtLeastThreeTenants) {
  const auto config = DefaultSandboxConfig();
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  EXPECT_GE(config->tenants.size(), 3u);
  EXPECT_GE(config->build_levels.size(), 3u);
  EXPECT_EQ(config->server.host, "127.0.0.1");
  EXPECT_EQ(config->server.port, 8090);
}

TEST(ConfigTest, DefaultConfigurationUsesEveryBuildLevel) {
  const auto config = DefaultSandboxConfig();
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  std::set<std::string> used;
  for (const auto& tenant : config->tenants) used.insert(tenant.build_level);
  for (const auto& [name, level] : config->build_levels) {
    EXPECT_TRUE(used.contains(name)) << name << " is defined but no tenant uses it";
    EXPECT_EQ(level.name, name);
  }
}

TEST(ConfigTest, DefaultTenantsHaveTheirDocumentedLevels) {
  const auto config = DefaultSandboxConfig();
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  const auto& levels = config->build_levels;

  const auto& strict = levels.at("epic-2024-aug");
  EXPECT_TRUE(strict.Supports("Patient", Interaction::kRead));
  EXPECT_TRUE(strict.Supports("Patient", Interaction::kHistoryInstance));
  EXPECT_TRUE(strict.Supports("Observation", Interaction::kCreate));
  EXPECT_FALSE(strict.Supports("Patient", Interaction::kCreate));
  EXPECT_FALSE(strict.Supports("Observation", Interaction::kDelete));
  EXPECT_FALSE(strict.SupportsSystem(Interaction::kTransaction));
  EXPECT_FALSE(strict.update_as_create);
  EXPECT_EQ(strict.software_version, "August 2024");

  const auto& open = levels.at("r4-open");
  EXPECT_TRUE(open.update_as_create);
  EXPECT_TRUE(open.Supports("Patient", Interaction::kDelete));
  EXPECT_TRUE(open.SupportsSystem(Interaction::kTransaction));
  EXPECT_TRUE(open.SupportsSystem(Interaction::kBatch));

  const auto& old = levels.at("epic-2021-feb");
  EXPECT_LT(old.resources.size(), strict.resources.size());
  for (const auto& [type, interactions] : old.resources) {
    for (const auto interaction : interactions) {
      EXPECT_TRUE(interaction == Interaction::kRead || interaction == Interaction::kSearchType)
          << type << " " << InteractionCode(interaction);
    }
  }

  for (const auto& tenant : config->tenants) {
    EXPECT_EQ(tenant.storage, ":memory:") << tenant.name;
    EXPECT_EQ(tenant.baseline, "default") << tenant.name;
    EXPECT_FALSE(tenant.display_name.empty()) << tenant.name;
    if (tenant.name == "open-lab") {
      EXPECT_EQ(tenant.id_style, IdStyle::kUuid);
    }
  }
}

TEST(ConfigTest, MinimalFileTakesDefaults) {
  const auto config = ParseSandboxConfig(kMinimal, "test.toml");
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  EXPECT_EQ(config->server.port, 8090);
  EXPECT_EQ(config->server.max_body_bytes, 8u * 1024 * 1024);
  ASSERT_EQ(config->tenants.size(), 1u);
  const auto& tenant = config->tenants[0];
  EXPECT_EQ(tenant.name, "t1");
  EXPECT_EQ(tenant.display_name, "t1");
  EXPECT_EQ(tenant.id_style, IdStyle::kEpic);
  EXPECT_EQ(tenant.id_length, 24u);
  EXPECT_EQ(tenant.storage, ":memory:");
  EXPECT_EQ(tenant.baseline, "default");
  EXPECT_TRUE(config->build_levels.at("basic").Supports("Patient", Interaction::kRead));
}

TEST(ConfigTest, ReadsEveryKey) {
  const auto config = ParseSandboxConfig(R"([server]
host = "0.0.0.0"
port = 9000
threads = 4
max_header_bytes = 8192
max_body_bytes = 1024

[build_levels.full]
description = "Everything"
software_version = "1.0"
update_as_create = true
system_interactions = ["batch", "transaction"]
[build_levels.full.resources]
Observation = ["read", "vread", "create", "update", "delete", "history-type", "search-type"]

[[tenants]]
name = "lab-2"
display_name = "Lab Two"
build_level = "full"
id_style = "sequential"
id_length = 88
storage = "var/lab-2.sqlite"
baseline = "default"
)",
                                         "test.toml");
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  EXPECT_EQ(config->server.host, "0.0.0.0");
  EXPECT_EQ(config->server.port, 9000);
  EXPECT_EQ(config->server.threads, 4u);
  EXPECT_EQ(config->server.max_header_bytes, 8192u);
  EXPECT_EQ(config->server.max_body_bytes, 1024u);
  const auto& level = config->build_levels.at("full");
  EXPECT_EQ(level.description, "Everything");
  EXPECT_EQ(level.software_version, "1.0");
  EXPECT_TRUE(level.update_as_create);
  EXPECT_EQ(level.system_interactions, (std::set{Interaction::kBatch, Interaction::kTransaction}));
  EXPECT_EQ(level.resources.at("Observation").size(), 7u);
  const auto& tenant = config->tenants.at(0);
  EXPECT_EQ(tenant.display_name, "Lab Two");
  EXPECT_EQ(tenant.id_style, IdStyle::kSequential);
  EXPECT_EQ(tenant.id_length, 88u);
  EXPECT_EQ(tenant.storage, "var/lab-2.sqlite");
}

struct BadInput {
  std::string_view name;
  std::string text;
  int line;
  std::string_view fragment;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const BadInput& input, std::ostream* out) { *out << input.name; }

// Every case is kMinimal with one mistake; `line` is where the message must point.
std::vector<BadInput> BadInputs() {
  const std::string minimal(kMinimal);
  const auto tenant = [](std::string_view extra) {
    return std::string(R"([build_levels.basic.resources]
Patient = ["read"]

[[tenants]]
name = "t1"
build_level = "basic"
)") + std::string(extra);
  };
  const auto level = [](std::string_view patient_interactions) {
    return "[build_levels.basic.resources]\nPatient = " + std::string(patient_interactions) +
           "\n\n[[tenants]]\nname = \"t1\"\nbuild_level = \"basic\"\n";
  };
  return {
      {"UnknownTopLevelKey", "colour = 1\n" + minimal, 1, "colour: unknown key"},
      {"UnknownServerKey", "[server]\nhots = \"x\"\n" + minimal, 2, "server.hots: unknown key"},
      {"PortZero", "[server]\nport = 0\n" + minimal, 2, "server.port: 0 is out of range"},
      {"PortTooLarge", "[server]\nport = 70000\n" + minimal, 2, "server.port: 70000 is out"},
      {"PortAsString", "[server]\nport = \"8090\"\n" + minimal, 2,
       "server.port: must be an integer, not a string"},
      {"PortAsFloat", "[server]\nport = 8090.0\n" + minimal, 2, "must be an integer, not a float"},
      {"EmptyHost", "[server]\nhost = \"\"\n" + minimal, 2, "server.host: must be a host name"},
      {"ServerNotATable", "server = 8090\n" + minimal, 1, "server: must be a table"},
      {"UnknownInteraction", level(R"(["read", "search"])"), 2,
       "build_levels.basic.resources.Patient[1]: unknown interaction \"search\""},
      {"InteractionsNotAnArray", level("\"read\""), 2, "must be an array of strings"},
      {"InteractionNotAString", level("[\"read\", 3]"), 2, "Patient[1]: must be a string"},
      {"InteractionListedTwice", level(R"(["read", "read"])"), 2, "\"read\" is listed twice"},
      {"NoInteractions", level("[]"), 2, "lists no interactions"},
      {"SystemInteractionOnAType", level(R"(["read", "transaction"])"), 2,
       "applies to the whole server; list it in build_levels.basic.system_interactions"},
      {"UnknownResourceType",
       "[build_levels.basic.resources]\nPatient = [\"read\"]\nPatiant = [\"read\"]\n\n"
       "[[tenants]]\nname = \"t1\"\nbuild_level = \"basic\"\n",
       3, "\"Patiant\" is not a FHIR R4 resource type"},
      {"MiscasedResourceType",
       "[build_levels.basic.resources]\nallergyintolerance = [\"read\"]\n\n"
       "[[tenants]]\nname = \"t1\"\nbuild_level = \"basic\"\n",
       2, "did you mean \"AllergyIntolerance\"?"},
      {"TypeInteractionInSystemList",
       "[build_levels.basic]\nsystem_interactions = [\"batch\", \"read\"]\n" + minimal, 2,
       "system_interactions[1]: \"read\" is a type interaction"},
      {"UnknownBuildLevelKey", "[build_levels.basic]\nupdate_as_creat = true\n" + minimal, 2,
       "build_levels.basic.update_as_creat: unknown key"},
      {"UpdateAsCreateNotBoolean", "[build_levels.basic]\nupdate_as_create = \"yes\"\n" + minimal,
       2, "must be a boolean"},
      {"BuildLevelWithoutResources", "[build_levels.empty]\ndescription = \"x\"\n" + minimal, 1,
       "build_levels.empty.resources: is required"},
      {"BadBuildLevelName",
       "[build_levels.Basic_Level.resources]\nPatient = [\"read\"]\n" + minimal, 1,
       "build level names must match"},
      {"UnknownBuildLevel",
       "[build_levels.basic.resources]\nPatient = [\"read\"]\n\n[[tenants]]\nname = \"t1\"\n"
       "build_level = \"epic-2099\"\n",
       6, "tenants[0].build_level: unknown build level \"epic-2099\"; defined: basic"},
      {"MissingTenantName",
       "[build_levels.basic.resources]\nPatient = [\"read\"]\n\n[[tenants]]\n"
       "build_level = \"basic\"\n",
       4, "tenants[0].name: is required"},
      {"MissingBuildLevel",
       "[build_levels.basic.resources]\nPatient = [\"read\"]\n\n[[tenants]]\nname = \"t1\"\n", 4,
       "tenants[0].build_level: is required"},
      {"TenantNameWithCapitals",
       "[build_levels.basic.resources]\nPatient = [\"read\"]\n\n[[tenants]]\n"
       "name = \"Alpine_Health\"\nbuild_level = \"basic\"\n",
       5, "is not a valid tenant name"},
      {"TenantNameTooLong",
       "[build_levels.basic.resources]\nPatient = [\"read\"]\n\n[[tenants]]\nname = \"" +
           std::string(64, 'a') + "\"\nbuild_level = \"basic\"\n",
       5, "is not a valid tenant name"},
      {"DuplicateTenantName", minimal + "\n[[tenants]]\nname = \"t1\"\nbuild_level = \"basic\"\n",
       9, "tenants[1].name: duplicate tenant name \"t1\"; first used on line 5"},
      {"UnknownTenantKey", tenant("colour = \"blue\"\n"), 7, "tenants[0].colour: unknown key"},
      {"IdLengthZero", tenant("id_length = 0\n"), 7, "tenants[0].id_length: 0 is out of range"},
      {"IdLengthTooLong", tenant("id_length = 201\n"), 7, "201 is out of range; expected 1 to 200"},
      {"UnknownIdStyle", tenant("id_style = \"random\"\n"), 7, "unknown id style \"random\""},
      {"EmptyStorage", tenant("storage = \"\"\n"), 7, "tenants[0].storage: must be \":memory:\""},
      {"MisspelledMemoryStorage", tenant("storage = \":memroy:\"\n"), 7,
       "only \":memory:\" may start with ':'"},
      {"StorageIsADirectory", tenant("storage = \"var/\"\n"), 7, "is a directory"},
      {"UnknownBaseline", tenant("baseline = \"nonexistent\"\n"), 7,
       "no baseline named \"nonexistent\""},
      {"SharedStorageFile",
       tenant("storage = \"a.sqlite\"\n") +
           "\n[[tenants]]\nname = \"t2\"\nbuild_level = \"basic\"\nstorage = \"a.sqlite\"\n",
       12, "already the storage of another tenant (line 7)"},
      {"NoTenants", "[build_levels.basic.resources]\nPatient = [\"read\"]\n", 1,
       "tenants: at least one [[tenants]] table is required"},
      {"TenantsAsATable",
       "[build_levels.basic.resources]\nPatient = [\"read\"]\n\n[tenants]\nname = \"t1\"\n", 4,
       "tenants: must be an array of tables"},
      {"SyntaxError", "[server]\nport = = 1\n" + minimal, 2, "toml: "},
      {"DuplicateKeyIsASyntaxError", "[server]\nport = 1\nport = 2\n" + minimal, 3, "toml: "},
  };
}

class BadConfigTest : public testing::TestWithParam<BadInput> {};

TEST_P(BadConfigTest, ReportsTheLineAndWhatIsWrong) {
  const auto& input = GetParam();
  const auto config = ParseSandboxConfig(input.text, "test.toml");
  ASSERT_FALSE(config.has_value()) << input.text;
  EXPECT_EQ(config.error().code, base::ErrorCode::kConfigInvalid);

  const std::string prefix = "test.toml:" + std::to_string(input.line) + ":";
  bool found = false;
  for (const auto& line : DiagnosticLines(config.error())) {
    if (line.starts_with(prefix) && line.find(input.fragment) != std::string::npos) found = true;
  }
  EXPECT_TRUE(found) << "expected a line starting " << prefix << " containing \"" << input.fragment
                     << "\", got:\n"
                     << config.error().diagnostic;
}

INSTANTIATE_TEST_SUITE_P(ConfigTest, BadConfigTest, testing::ValuesIn(BadInputs()),
                         [](const testing::TestParamInfo<BadInput>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(ConfigTest, ReportsEveryMistakeAtOnceInLineOrder) {
  const auto config = ParseSandboxConfig(R"([server]
port = 0
colour = "blue"

[build_levels.basic.resources]
Patient = ["read", "search"]
Patiant = ["read"]

[[tenants]]
name = "Bad Name"
build_level = "missing"
id_length = 500
)",
                                         "test.toml");
  ASSERT_FALSE(config.has_value());
  const auto lines = DiagnosticLines(config.error());
  ASSERT_EQ(lines.size(), 7u) << config.error().diagnostic;
  EXPECT_TRUE(lines[0].starts_with("test.toml:2:")) << lines[0];
  EXPECT_TRUE(lines[1].starts_with("test.toml:3:")) << lines[1];
  EXPECT_TRUE(lines[2].starts_with("test.toml:6:")) << lines[2];
  EXPECT_TRUE(lines[3].starts_with("test.toml:7:")) << lines[3];
  EXPECT_TRUE(lines[4].starts_with("test.toml:10:")) << lines[4];
  EXPECT_TRUE(lines[5].starts_with("test.toml:11:")) << lines[5];
  EXPECT_TRUE(lines[6].starts_with("test.toml:12:")) << lines[6];
}

TEST(ConfigTest, MessagesCarryTheColumnOfTheKeyAtFault) {
  const auto config =
      ParseSandboxConfig("[server]\n  colour = 1\n" + std::string(kMinimal), "x.toml");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().diagnostic,
            "x.toml:2:3: server.colour: unknown key; expected one of host, port, threads, "
            "max_header_bytes, max_body_bytes");
}

TEST(ConfigTest, MissingFileIsConfigNotFound) {
  const auto config = LoadSandboxConfig("/nonexistent/fhirbridge/tenants.toml");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code, base::ErrorCode::kConfigNotFound);
  EXPECT_NE(config.error().diagnostic.find("/nonexistent/fhirbridge/tenants.toml"),
            std::string::npos);
}

TEST(ConfigTest, LoadsAFileAndNamesItInMessages) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("fhirbridge-config-test-" + std::to_string(::getpid()) + ".toml");
  {
    std::ofstream file(path);
    file << kMinimal;
  }
  const auto good = LoadSandboxConfig(path.string());
  EXPECT_TRUE(good.has_value());

  {
    std::ofstream file(path);
    file << "[server]\nport = 0\n" << kMinimal;
  }
  const auto bad = LoadSandboxConfig(path.string());
  std::filesystem::remove(path);
  ASSERT_FALSE(bad.has_value());
  EXPECT_TRUE(bad.error().diagnostic.starts_with(path.string() + ":2:")) << bad.error().diagnostic;
}

}  // namespace
}  // namespace fhirbridge::sandbox
