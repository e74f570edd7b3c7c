#include "sandbox/bulk_export_config_toml.h"

#include <gtest/gtest.h>

#include <string>

#include "sandbox/tenant_config.h"

namespace fhirbridge::sandbox {
namespace {

using namespace std::chrono_literals;

std::string WithBulkExport(const std::string& table) {
  return "[build_levels.basic.resources]\nPatient = [\"read\"]\n\n"
         "[build_levels.basic.bulk_export]\n" +
         table + "\n[[tenants]]\nname = \"t1\"\nbuild_level = \"basic\"\n";
}

TEST(BulkExportConfigTest, ReadsEverySetting) {
  const auto config =
      ParseSandboxConfig(WithBulkExport("levels = [\"system\", \"group\"]\nsince = true\n"
                                        "max_resources_per_file = 7\njob_duration_ms = 2500\n"
                                        "expire_after_ms = 60000\nmax_active_jobs = 3\n"),
                         "t.toml");
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  const BulkExportSettings& settings = config->build_levels.at("basic").bulk_export;
  EXPECT_TRUE(settings.system);
  EXPECT_FALSE(settings.patient);
  EXPECT_TRUE(settings.group);
  EXPECT_TRUE(settings.since);
  EXPECT_EQ(settings.max_resources_per_file, 7);
  EXPECT_EQ(settings.job_duration, 2500ms);
  EXPECT_EQ(settings.expire_after, 60000ms);
  EXPECT_EQ(settings.max_active_jobs, 3);
}

TEST(BulkExportConfigTest, IsOffWithoutTheTable) {
  const auto config = ParseSandboxConfig(
      "[build_levels.basic.resources]\nPatient = [\"read\"]\n\n"
      "[[tenants]]\nname = \"t1\"\nbuild_level = \"basic\"\n",
      "t.toml");
  ASSERT_TRUE(config.has_value());
  EXPECT_FALSE(config->build_levels.at("basic").bulk_export.Enabled());
}

TEST(BulkExportConfigTest, ReportsEveryMistakeWithItsKey) {
  const auto config = ParseSandboxConfig(
      WithBulkExport("levels = [\"system\", \"everything\", \"system\"]\nsince = \"no\"\n"
                     "max_resources_per_file = 0\njob_duration_ms = -1\nexpire_after_ms = 5\n"
                     "max_active_jobs = 100000\ncolour = \"blue\"\n"),
      "t.toml");
  ASSERT_FALSE(config.has_value());
  const std::string& diagnostic = config.error().diagnostic;
  for (const char* expected : {
           "build_levels.basic.bulk_export.levels[1]: must be \"system\", \"patient\" or \"group\"",
           "build_levels.basic.bulk_export.levels[2]: is listed twice",
           "build_levels.basic.bulk_export.since: must be true or false",
           "build_levels.basic.bulk_export.max_resources_per_file: must be a whole number from 1",
           "build_levels.basic.bulk_export.job_duration_ms: must be a whole number from 0",
           "build_levels.basic.bulk_export.expire_after_ms: must be a whole number from 100",
           "build_levels.basic.bulk_export.max_active_jobs: must be a whole number from 0",
           "build_levels.basic.bulk_export.colour: unknown key",
       }) {
    EXPECT_NE(diagnostic.find(expected), std::string::npos) << expected << "\n" << diagnostic;
  }
}

TEST(BulkExportConfigTest, RequiresTheLevelsList) {
  const auto config = ParseSandboxConfig(WithBulkExport("since = true\n"), "t.toml");
  ASSERT_FALSE(config.has_value());
  EXPECT_NE(config.error().diagnostic.find("build_levels.basic.bulk_export.levels: is required"),
            std::string::npos)
      << config.error().diagnostic;
}

TEST(BulkExportConfigTest, TheDefaultFileOffersGroupExportOnTheEpicLevel) {
  const auto config = DefaultSandboxConfig();
  ASSERT_TRUE(config.has_value());
  const BulkExportSettings& epic = config->build_levels.at("epic-2024-aug").bulk_export;
  EXPECT_TRUE(epic.group);
  EXPECT_FALSE(epic.system || epic.patient || epic.since);
  EXPECT_FALSE(config->build_levels.at("epic-2021-feb").bulk_export.Enabled());
  const BulkExportSettings& open = config->build_levels.at("r4-open").bulk_export;
  EXPECT_TRUE(open.system && open.patient && open.group && open.since);
}

}  // namespace
}  // namespace fhirbridge::sandbox
