#include "sandbox/bulk_export_config_toml.h"

#include <algorithm>
#include <array>
#include <string>

namespace fhirbridge::sandbox {
namespace {

using std::string_view_literals::operator""sv;

constexpr std::array kBulkExportKeys = {
    "levels"sv,          "since"sv,           "max_resources_per_file"sv,
    "job_duration_ms"sv, "expire_after_ms"sv, "max_active_jobs"sv,
};

// Bounds that keep a mistyped number from making the export useless or the sandbox slow.
constexpr std::int64_t kLargestFile = 1000000;
constexpr std::int64_t kLongestJobMs = 600000;               // ten minutes
constexpr std::int64_t kLongestLifetimeMs = 7LL * 86400000;  // a week
constexpr std::int64_t kMostActiveJobs = 1000;

std::string Path(std::string_view parent, std::string_view key) {
  return std::string(parent) + "." + std::string(key);
}

}  // namespace

void ReadBuildLevelBulkExport(const toml::table& level_table, std::string_view level_path,
                              BuildLevel& level, const SearchConfigProblemSink& report) {
  const toml::node* node = level_table.get(kBulkExportBuildLevelKey);
  if (node == nullptr) return;
  const std::string path = Path(level_path, kBulkExportBuildLevelKey);
  const auto* table = node->as_table();
  if (table == nullptr) {
    report(node->source().begin, path, "must be a table");
    return;
  }
  for (auto&& [key, unused] : *table) {
    if (std::ranges::find(kBulkExportKeys, key.str()) == kBulkExportKeys.end()) {
      report(key.source().begin, Path(path, key.str()), "unknown key");
    }
  }
  BulkExportSettings& settings = level.bulk_export;

  const auto read_integer = [&](std::string_view key, std::int64_t low, std::int64_t high,
                                std::int64_t& out) {
    const auto* value_node = table->get(key);
    if (value_node == nullptr) return;
    const auto value = value_node->value<std::int64_t>();
    if (!value_node->is_integer() || !value || *value < low || *value > high) {
      report(value_node->source().begin, Path(path, key),
             "must be a whole number from " + std::to_string(low) + " to " + std::to_string(high));
      return;
    }
    out = *value;
  };

  if (const auto* levels = table->get("levels")) {
    const std::string levels_path = Path(path, "levels");
    const auto* array = levels->as_array();
    if (array == nullptr) {
      report(levels->source().begin, levels_path,
             "must be an array of \"system\", \"patient\" and \"group\"");
    } else {
      for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const auto name = element.value<std::string>();
        bool* flag = nullptr;
        if (element.is_string() && name == "system") flag = &settings.system;
        if (element.is_string() && name == "patient") flag = &settings.patient;
        if (element.is_string() && name == "group") flag = &settings.group;
        const std::string element_path = levels_path + "[" + std::to_string(i) + "]";
        if (flag == nullptr) {
          report(element.source().begin, element_path,
                 "must be \"system\", \"patient\" or \"group\"");
        } else if (*flag) {
          report(element.source().begin, element_path, "is listed twice");
        } else {
          *flag = true;
        }
      }
    }
  }
  if (const auto* since = table->get("since")) {
    if (since->is_boolean()) {
      settings.since = *since->value<bool>();
    } else {
      report(since->source().begin, Path(path, "since"), "must be true or false");
    }
  }
  read_integer("max_resources_per_file", 1, kLargestFile, settings.max_resources_per_file);
  std::int64_t duration = settings.job_duration.count();
  read_integer("job_duration_ms", 0, kLongestJobMs, duration);
  settings.job_duration = std::chrono::milliseconds(duration);
  std::int64_t lifetime = settings.expire_after.count();
  read_integer("expire_after_ms", 100, kLongestLifetimeMs, lifetime);
  settings.expire_after = std::chrono::milliseconds(lifetime);
  read_integer("max_active_jobs", 0, kMostActiveJobs, settings.max_active_jobs);

  if (!table->contains("levels")) {
    report(table->source().begin, Path(path, "levels"),
           "is required: list the kick-off endpoints offered (\"system\", \"patient\", "
           "\"group\"), or [] for none");
  }
}

}  // namespace fhirbridge::sandbox
