#include "fhir/search_parameters.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/embedded_files.h"
#include "fhir/resource_types.h"

namespace fhirbridge::fhir {
namespace {

constexpr std::string_view kExtractKey = "fhir/search-parameters-r4.json";

std::optional<SearchParamType> ParseType(std::string_view code) {
  if (code == "number") return SearchParamType::kNumber;
  if (code == "date") return SearchParamType::kDate;
  if (code == "string") return SearchParamType::kString;
  if (code == "token") return SearchParamType::kToken;
  if (code == "reference") return SearchParamType::kReference;
  if (code == "quantity") return SearchParamType::kQuantity;
  if (code == "uri") return SearchParamType::kUri;
  return std::nullopt;
}

// Resource-level parameters apply to every type; DomainResource ones to every type but the
// three that are not domain resources.
std::vector<std::string_view> TypesOfBase(std::string_view base) {
  if (base != "Resource" && base != "DomainResource") {
    if (IsR4ResourceType(base)) return {base};
    return {};
  }
  std::vector<std::string_view> types;
  for (const std::string_view type : R4ResourceTypes()) {
    if (base == "DomainResource" &&
        (type == "Bundle" || type == "Binary" || type == "Parameters")) {
      continue;
    }
    types.push_back(type);
  }
  return types;
}

std::string Fnv1aHex(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(hash));
  return buffer;
}

}  // namespace

std::string_view SearchParamTypeCode(SearchParamType type) {
  switch (type) {
    case SearchParamType::kNumber:
      return "number";
    case SearchParamType::kDate:
      return "date";
    case SearchParamType::kString:
      return "string";
    case SearchParamType::kToken:
      return "token";
    case SearchParamType::kReference:
      return "reference";
    case SearchParamType::kQuantity:
      return "quantity";
    case SearchParamType::kUri:
      return "uri";
  }
  return "token";
}

base::Result<SearchParameterRegistry> SearchParameterRegistry::Parse(
    std::string_view extract_json) {
  const auto document = nlohmann::json::parse(extract_json, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object() || !document.contains("parameters") ||
      !document["parameters"].is_array()) {
    return base::Fail(base::ErrorCode::kInvalidResource,
                      "the search parameter extract is not an object with a parameters array");
  }

  SearchParameterRegistry registry;
  registry.fingerprint_ = Fnv1aHex(extract_json);
  std::size_t index = 0;
  for (const auto& entry : document["parameters"]) {
    const std::string where = "parameters[" + std::to_string(index++) + "]";
    if (!entry.is_object() || !entry.contains("url") || !entry["url"].is_string() ||
        !entry.contains("code") || !entry["code"].is_string() || !entry.contains("type") ||
        !entry["type"].is_string() || !entry.contains("base") || !entry["base"].is_array()) {
      return base::Fail(
          base::ErrorCode::kInvalidResource,
          "the search parameter extract's " + where + " lacks url, code, type or base");
    }
    const std::string url = entry["url"].get<std::string>();
    const auto type = ParseType(entry["type"].get_ref<const std::string&>());
    if (!type) {
      registry.unsupported_.push_back(url + " (type " + entry["type"].get<std::string>() + ")");
      continue;
    }
    const auto expression_text = entry.find("expression");
    if (expression_text == entry.end() || !expression_text->is_string()) {
      registry.unsupported_.push_back(url + " (no expression)");
      continue;
    }
    auto expression = FhirPath::Parse(expression_text->get_ref<const std::string&>());
    if (!expression) {
      registry.unsupported_.push_back(url + " (" + expression.error().diagnostic + ")");
      continue;
    }

    std::vector<std::string> targets;
    if (const auto target = entry.find("target"); target != entry.end() && target->is_array()) {
      for (const auto& name : *target) {
        if (name.is_string()) targets.push_back(name.get<std::string>());
      }
    }
    for (const auto& base_name : entry["base"]) {
      if (!base_name.is_string()) continue;
      for (const std::string_view resource_type :
           TypesOfBase(base_name.get_ref<const std::string&>())) {
        FhirPath projected = expression->ForType(resource_type);
        if (projected.Empty()) continue;
        auto& parameters = registry.by_type_[std::string(resource_type)];
        const std::string& code = entry["code"].get_ref<const std::string&>();
        if (std::ranges::any_of(parameters, [&](const auto& p) { return p.code == code; })) {
          registry.unsupported_.push_back(url + " (duplicate code '" + code + "' on " +
                                          std::string(resource_type) + ")");
          continue;
        }
        parameters.push_back({code, url, *type, std::move(projected), targets});
      }
    }
  }
  for (auto& [type, parameters] : registry.by_type_) {
    std::ranges::sort(parameters, {}, &SearchParameter::code);
  }
  return registry;
}

const SearchParameter* SearchParameterRegistry::Find(std::string_view resource_type,
                                                     std::string_view code) const {
  const auto found = by_type_.find(resource_type);
  if (found == by_type_.end()) return nullptr;
  const auto& parameters = found->second;
  const auto position = std::ranges::lower_bound(parameters, code, {}, &SearchParameter::code);
  if (position == parameters.end() || position->code != code) return nullptr;
  return &*position;
}

std::span<const SearchParameter> SearchParameterRegistry::ForType(
    std::string_view resource_type) const {
  const auto found = by_type_.find(resource_type);
  if (found == by_type_.end()) return {};
  return found->second;
}

const SearchParameterRegistry& R4SearchParameters() {
  static const SearchParameterRegistry registry = [] {
    const auto& files = base::EmbeddedFiles();
    const auto found = files.find(kExtractKey);
    if (found == files.end()) {
      std::fputs("fhirbridge: the binary was built without data/fhir/search-parameters-r4.json\n",
                 stderr);
      std::abort();
    }
    auto parsed = SearchParameterRegistry::Parse(found->second);
    if (!parsed) {
      std::fprintf(stderr, "fhirbridge: the embedded search parameter extract is unusable: %s\n",
                   parsed.error().diagnostic.c_str());
      std::abort();
    }
    return std::move(*parsed);
  }();
  return registry;
}

}  // namespace fhirbridge::fhir
