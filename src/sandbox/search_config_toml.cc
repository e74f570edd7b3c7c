#include "sandbox/search_config_toml.h"

#include <algorithm>
#include <array>
#include <string>

#include "fhir/resource_types.h"
#include "fhir/search_parameters.h"

namespace fhirbridge::sandbox {
namespace {

using std::string_view_literals::operator""sv;

constexpr std::array kSearchKeys = {
    "parameters"sv,           "default_count"sv,        "max_count"sv,
    "unknown_parameters"sv,   "require_patient"sv,      "require_category_or_code"sv,
    "require_demographics"sv, "empty_result_outcome"sv, "last_updated"sv,
    "strict_meta"sv,          "epic_codes"sv,
};

// A page can be made this large and no larger, whatever the file says.
constexpr std::int64_t kLargestMaxCount = 10000;

std::string Path(std::string_view parent, std::string_view key) {
  return std::string(parent) + "." + std::string(key);
}

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

class SearchReader {
 public:
  SearchReader(std::string_view level_path, BuildLevel& level,
               const SearchConfigProblemSink& report)
      : level_path_(level_path), level_(level), report_(report) {}

  void ReadTypesNotEnabled(const toml::node& node) {
    const std::string path = Path(level_path_, "types_not_enabled");
    const auto* array = node.as_array();
    if (array == nullptr) {
      Problem(node, path, "must be an array of resource type names");
      return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      const std::string element_path = path + "[" + std::to_string(i) + "]";
      const auto name = element.value<std::string>();
      if (!name || !element.is_string()) {
        Problem(element, element_path, "must be a resource type name");
      } else if (!fhir::IsR4ResourceType(*name)) {
        Problem(element, element_path, Quote(*name) + " is not a FHIR R4 resource type");
      } else if (level_.resources.contains(*name)) {
        Problem(element, element_path,
                Quote(*name) + " is also under resources; a type is either served or not enabled");
      } else if (!level_.types_not_enabled.insert(*name).second) {
        Problem(element, element_path, Quote(*name) + " is listed twice");
      }
    }
  }

  void ReadSearch(const toml::node* node) {
    const std::string path = Path(level_path_, "search");
    SearchSettings& search = level_.search;
    if (node != nullptr) {
      const auto* table = node->as_table();
      if (table == nullptr) {
        Problem(*node, path, "must be a table");
        return;
      }
      for (auto&& [key, unused] : *table) {
        if (std::ranges::find(kSearchKeys, key.str()) == kSearchKeys.end()) {
          Problem(key.source().begin, Path(path, key.str()), "unknown key");
        }
      }
      ReadInteger(*table, path, "max_count", 1, kLargestMaxCount, search.max_count);
      ReadInteger(*table, path, "default_count", 1, search.max_count, search.default_count);
      search.default_count = std::min(search.default_count, search.max_count);
      ReadFlag(*table, path, "require_patient", search.require_patient);
      ReadFlag(*table, path, "require_category_or_code", search.require_category_or_code);
      ReadFlag(*table, path, "require_demographics", search.require_demographics);
      ReadFlag(*table, path, "empty_result_outcome", search.empty_result_outcome);
      ReadFlag(*table, path, "last_updated", search.last_updated);
      ReadFlag(*table, path, "strict_meta", search.strict_meta);
      ReadFlag(*table, path, "epic_codes", search.epic_codes);
      if (const auto* unknown = table->get("unknown_parameters")) {
        const auto mode = unknown->value<std::string>();
        if (unknown->is_string() && mode == "warn") {
          search.lenient = true;
        } else if (unknown->is_string() && mode == "reject") {
          search.lenient = false;
        } else {
          Problem(*unknown, Path(path, "unknown_parameters"), "must be \"warn\" or \"reject\"");
        }
      }
      if (const auto* parameters = table->get("parameters")) {
        ReadParameters(*parameters, Path(path, "parameters"));
      }
    }
    CheckEverySearchableTypeListsParameters(node, path);
  }

 private:
  void Problem(toml::source_position position, std::string_view path, std::string_view what) {
    report_(position, path, what);
  }
  void Problem(const toml::node& node, std::string_view path, std::string_view what) {
    report_(node.source().begin, path, what);
  }

  void ReadInteger(const toml::table& table, std::string_view path, std::string_view key,
                   std::int64_t low, std::int64_t high, std::int64_t& out) {
    const auto* node = table.get(key);
    if (node == nullptr) return;
    const auto value = node->value<std::int64_t>();
    if (!node->is_integer() || !value || *value < low || *value > high) {
      Problem(*node, Path(path, key),
              "must be a whole number from " + std::to_string(low) + " to " + std::to_string(high));
      return;
    }
    out = *value;
  }

  void ReadFlag(const toml::table& table, std::string_view path, std::string_view key, bool& out) {
    const auto* node = table.get(key);
    if (node == nullptr) return;
    if (!node->is_boolean()) {
      Problem(*node, Path(path, key), "must be true or false");
      return;
    }
    out = *node->value<bool>();
  }

  void ReadParameters(const toml::node& node, const std::string& path) {
    if (node.is_string() && node.value<std::string>() == "all") return;
    const auto* table = node.as_table();
    if (table == nullptr) {
      Problem(node, path, "must be \"all\" or a table of resource type = [parameter codes]");
      return;
    }
    auto& lists = level_.search.parameters.emplace();
    for (auto&& [type_key, codes_node] : *table) {
      const std::string type(type_key.str());
      const std::string type_path = Path(path, type);
      if (!level_.Supports(type, Interaction::kSearchType)) {
        Problem(type_key.source().begin, type_path,
                Quote(type) +
                    " is not searchable at this level; add \"search-type\" to its "
                    "interactions or remove it here");
        continue;
      }
      auto& codes = lists[type];
      const auto* array = codes_node.as_array();
      if (array == nullptr) {
        Problem(codes_node, type_path, "must be an array of search parameter codes");
        continue;
      }
      for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const std::string element_path = type_path + "[" + std::to_string(i) + "]";
        const auto code = element.value<std::string>();
        if (!element.is_string() || !code) {
          Problem(element, element_path, "must be a search parameter code");
        } else if (fhir::R4SearchParameters().Find(type, *code) == nullptr) {
          Problem(element, element_path,
                  Quote(*code) + " is not an R4 search parameter of " + type +
                      " that this server supports");
        } else if (!codes.insert(*code).second) {
          Problem(element, element_path, Quote(*code) + " is listed twice");
        }
      }
    }
  }

  // With lists per type, a searchable type without a list would offer nothing; say so.
  void CheckEverySearchableTypeListsParameters(const toml::node* search_node,
                                               const std::string& path) {
    if (!level_.search.parameters) return;
    const toml::source_position where =
        search_node != nullptr ? search_node->source().begin : toml::source_position{1, 1};
    for (const auto& [type, interactions] : level_.resources) {
      if (interactions.contains(Interaction::kSearchType) &&
          !level_.search.parameters->contains(type)) {
        Problem(where, Path(Path(path, "parameters"), type),
                "is required: " + type + " allows search-type, so list its parameters");
      }
    }
  }

  std::string_view level_path_;
  BuildLevel& level_;
  const SearchConfigProblemSink& report_;
};

}  // namespace

void ReadBuildLevelSearch(const toml::table& level_table, std::string_view level_path,
                          BuildLevel& level, const SearchConfigProblemSink& report) {
  SearchReader reader(level_path, level, report);
  if (const auto* types = level_table.get("types_not_enabled")) reader.ReadTypesNotEnabled(*types);
  reader.ReadSearch(level_table.get("search"));
}

}  // namespace fhirbridge::sandbox
