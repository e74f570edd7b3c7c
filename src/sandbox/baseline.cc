#include "sandbox/baseline.h"

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <utility>

#include "base/embedded_files.h"
#include "fhir/resource_types.h"

namespace fhirbridge::sandbox {
namespace {

constexpr std::string_view kBaselinePrefix = "sandbox/baseline/";

// FHIR's id pattern, widened to Epic's longest ids (see sandbox/id_generator.h).
bool IsValidId(const std::string& id) {
  static const std::regex kIdPattern("[A-Za-z0-9.-]{1,200}");
  return std::regex_match(id, kIdPattern);
}

base::Error Invalid(std::string_view file, std::string_view what) {
  return base::MakeError(base::ErrorCode::kInvalidResource,
                         "baseline file " + std::string(file) + ": " + std::string(what));
}

// Checks one resource and appends it; `where` names it in messages ("" or " entry 3").
base::Status AddResource(std::string_view file, const std::string& where, fhir::Json resource,
                         std::map<std::string, std::string, std::less<>>& seen,
                         std::vector<fhir::Json>& resources) {
  if (!resource.is_object()) return base::Fail(Invalid(file, where + "is not a JSON object"));

  const auto type = resource.find("resourceType");
  if (type == resource.end() || !type->is_string()) {
    return base::Fail(Invalid(file, where + "has no resourceType string"));
  }
  if (!fhir::IsR4ResourceType(type->get_ref<const std::string&>())) {
    return base::Fail(Invalid(file, where + "resourceType \"" +
                                        type->get_ref<const std::string&>() +
                                        "\" is not a FHIR R4 resource type"));
  }
  const auto id = resource.find("id");
  if (id == resource.end() || !id->is_string() || !IsValidId(id->get_ref<const std::string&>())) {
    return base::Fail(Invalid(file, where + "has no valid id"));
  }

  // Two resources with one type and id would silently overwrite each other when loaded.
  auto reference = type->get<std::string>() + "/" + id->get<std::string>();
  if (const auto [first, inserted] = seen.emplace(reference, std::string(file)); !inserted) {
    return base::Fail(Invalid(file, where + reference + " is also defined in " + first->second));
  }

  resources.push_back(std::move(resource));
  return {};
}

base::Status AddFile(std::string_view file, std::string_view text,
                     std::map<std::string, std::string, std::less<>>& seen,
                     std::vector<fhir::Json>& resources) {
  fhir::Json document;
  try {
    document = fhir::Json::parse(text);
  } catch (const fhir::Json::parse_error& error) {
    // nlohmann reports the line and column only through its exception's message.
    return base::Fail(Invalid(file, std::string("not valid JSON: ") + error.what()));
  }

  const bool is_collection = document.is_object() &&
                             document.value("resourceType", "") == "Bundle" &&
                             document.value("type", "") == "collection";
  if (!is_collection) return AddResource(file, "", std::move(document), seen, resources);

  const auto entries = document.find("entry");
  if (entries == document.end()) return {};
  if (!entries->is_array()) return base::Fail(Invalid(file, "Bundle.entry is not an array"));
  for (std::size_t i = 0; i < entries->size(); ++i) {
    auto& entry = (*entries)[i];
    const auto where = "entry " + std::to_string(i) + " ";
    if (!entry.is_object() || !entry.contains("resource")) {
      return base::Fail(Invalid(file, where + "has no resource"));
    }
    if (auto added = AddResource(file, where, std::move(entry["resource"]), seen, resources);
        !added) {
      return added;
    }
  }
  return {};
}

}  // namespace

base::Result<std::vector<fhir::Json>> LoadBaseline(std::string_view name) {
  // Names are folder names; a '/' would reach into another baseline's subfolder.
  if (name.empty() || name.find('/') != std::string_view::npos) {
    return base::Fail(base::ErrorCode::kConfigNotFound,
                      "\"" + std::string(name) + "\" is not a baseline name");
  }
  const std::string prefix = std::string(kBaselinePrefix) + std::string(name) + "/";

  // EmbeddedFiles is a sorted map, so the files come out sorted by name.
  std::vector<fhir::Json> resources;
  std::map<std::string, std::string, std::less<>> seen;
  bool found = false;
  const auto& files = base::EmbeddedFiles();
  for (auto it = files.lower_bound(prefix); it != files.end() && it->first.starts_with(prefix);
       ++it) {
    found = true;
    if (!it->first.ends_with(".json")) continue;
    if (auto added = AddFile(it->first, it->second, seen, resources); !added) {
      return base::Fail(added.error());
    }
  }

  if (!found) {
    return base::Fail(base::ErrorCode::kConfigNotFound,
                      "no baseline named \"" + std::string(name) +
                          "\" is compiled in; baselines are the folders of data/sandbox/baseline/");
  }
  return resources;
}

}  // namespace fhirbridge::sandbox
