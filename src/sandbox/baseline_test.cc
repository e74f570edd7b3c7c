#include "sandbox/baseline.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "fhir/resource_types.h"
#include "sandbox/tenant_config.h"

namespace fhirbridge::sandbox {
namespace {

constexpr std::string_view kMrnSystem = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.0";

std::vector<fhir::Json> DefaultBaseline() {
  auto baseline = LoadBaseline("default");
  EXPECT_TRUE(baseline.has_value()) << baseline.error().diagnostic;
  return baseline.value_or(std::vector<fhir::Json>{});
}

// Every "reference" string anywhere in `node`.
void CollectReferences(const fhir::Json& node, std::vector<std::string>& references) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "reference" && value.is_string()) {
        references.push_back(value.get<std::string>());
      } else {
        CollectReferences(value, references);
      }
    }
  } else if (node.is_array()) {
    for (const auto& element : node) CollectReferences(element, references);
  }
}

TEST(BaselineTest, DefaultBaselineLoadsThreePatients) {
  const auto resources = DefaultBaseline();
  std::map<std::string, int> counts;
  for (const auto& resource : resources) ++counts[resource["resourceType"].get<std::string>()];
  EXPECT_EQ(counts["Patient"], 3);
  EXPECT_GE(counts["Practitioner"], 2);
  EXPECT_GE(counts["PractitionerRole"], 2);
  EXPECT_GE(counts["Organization"], 1);
  EXPECT_GE(counts["Location"], 1);
  EXPECT_GE(counts["Encounter"], 6);
  EXPECT_GE(counts["Observation"], 9);
  EXPECT_GE(counts["Condition"], 3);
  EXPECT_GE(counts["AllergyIntolerance"], 2);
  EXPECT_GE(counts["MedicationRequest"], 2);
  EXPECT_GE(counts["MedicationStatement"], 1);
}

TEST(BaselineTest, EveryResourceHasAnR4TypeAndAUniqueId) {
  std::set<std::string> seen;
  for (const auto& resource : DefaultBaseline()) {
    ASSERT_TRUE(resource.contains("resourceType")) << resource.dump();
    ASSERT_TRUE(resource.contains("id")) << resource.dump();
    const auto type = resource["resourceType"].get<std::string>();
    const auto id = resource["id"].get<std::string>();
    EXPECT_TRUE(fhir::IsR4ResourceType(type)) << type;
    EXPECT_TRUE(std::regex_match(id, std::regex("[A-Za-z0-9.-]{1,64}"))) << id;
    EXPECT_TRUE(seen.insert(type + "/" + id).second) << type << "/" << id << " twice";
  }
}

TEST(BaselineTest, EveryReferenceResolvesWithinTheBaseline) {
  const auto resources = DefaultBaseline();
  std::set<std::string> known;
  for (const auto& resource : resources) {
    known.insert(resource["resourceType"].get<std::string>() + "/" +
                 resource["id"].get<std::string>());
  }

  const std::regex relative("[A-Z][A-Za-z]+/[A-Za-z0-9.-]+");
  std::size_t checked = 0;
  for (const auto& resource : resources) {
    std::vector<std::string> references;
    CollectReferences(resource, references);
    for (const auto& reference : references) {
      ASSERT_TRUE(std::regex_match(reference, relative))
          << reference << " in " << resource["id"] << " is not a relative Type/id reference";
      EXPECT_TRUE(known.contains(reference))
          << reference << " in " << resource["resourceType"] << "/" << resource["id"];
      ++checked;
    }
  }
  EXPECT_GT(checked, 50u);
}

TEST(BaselineTest, PatientsCarryAnEpicMrnAndAreMarkedAsTestData) {
  for (const auto& resource : DefaultBaseline()) {
    if (resource["resourceType"] != "Patient") continue;
    bool has_mrn = false;
    for (const auto& identifier : resource["identifier"]) {
      if (identifier.value("system", "") == kMrnSystem) has_mrn = true;
    }
    EXPECT_TRUE(has_mrn) << resource["id"];
    EXPECT_EQ(resource["meta"]["security"][0]["code"], "HTEST") << resource["id"];
  }
}

TEST(BaselineTest, EveryTypeIsServedByTheStrictestDefaultBuildLevel) {
  const auto config = DefaultSandboxConfig();
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  const auto& level = config->build_levels.at("epic-2024-aug");
  for (const auto& resource : DefaultBaseline()) {
    EXPECT_TRUE(level.SupportsType(resource["resourceType"].get<std::string>()))
        << resource["resourceType"];
  }
}

TEST(BaselineTest, UnknownBaselineIsConfigNotFound) {
  for (const auto* name : {"nonexistent", "", "default/..", "../default"}) {
    const auto baseline = LoadBaseline(name);
    ASSERT_FALSE(baseline.has_value()) << name;
    EXPECT_EQ(baseline.error().code, base::ErrorCode::kConfigNotFound) << name;
  }
}

}  // namespace
}  // namespace fhirbridge::sandbox
