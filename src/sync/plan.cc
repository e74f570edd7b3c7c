#include "sync/plan.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace fhirbridge::sync {

namespace {

using base::ErrorCode;
using base::Fail;

bool Declares(const DeclaredType& declared, std::string_view interaction) {
  return declared.interactions.contains(std::string(interaction));
}

bool Searchable(const DeclaredType& declared, std::string_view parameter) {
  return Declares(declared, "search-type") &&
         declared.search_params.contains(std::string(parameter));
}

// Whether `strategy` can serve `type`, and if not, why.
struct Fit {
  bool possible = false;
  std::string reason;
  std::string patient_parameter;
};

Fit FitLastUpdated(const DeclaredType& declared, const TypePermission& permission) {
  if (!permission.search) return {false, "search not permitted: " + permission.reason, ""};
  if (!Searchable(declared, "_lastUpdated")) {
    return {false, "the CapabilityStatement offers no _lastUpdated search", ""};
  }
  return {true, "searchable by _lastUpdated: oldest-first windows with overlap", ""};
}

Fit FitHistory(const DeclaredType& declared, const TypePermission& permission) {
  if (!permission.history) return {false, "history not permitted: " + permission.reason, ""};
  if (!Declares(declared, "history-type")) {
    return {false, "the CapabilityStatement declares no history-type", ""};
  }
  return {true, "history-type with _since: changes and deletions since the checkpoint", ""};
}

// Bulk export needs read access to the type (the IG limits an export to what the client may
// read) and a usable kick-off: system level, or Group level with a configured group.
Fit FitBulkExport(const TypePermission& permission, const ServerCapabilities& capabilities,
                  const std::string& group_id) {
  if (!permission.read) return {false, "read not permitted: " + permission.reason, ""};
  if (capabilities.system_export) {
    return {true,
            "system-level $export with _since where accepted; deletions from the deleted "
            "files, or by absence from a full export",
            ""};
  }
  if (!capabilities.group_export) {
    return {false, "the CapabilityStatement offers no system or Group $export", ""};
  }
  if (group_id.empty()) return {false, "Group $export offered but no export group configured", ""};
  return {true,
          "Group $export of the configured cohort; _since where accepted, else a full export "
          "compared by content hash with deletions by absence",
          ""};
}

Fit FitPerPatient(const std::string& type, const DeclaredType& declared,
                  const TypePermission& permission, bool has_cohort) {
  if (!has_cohort) return {false, "no patient cohort given", ""};
  if (type == "Patient") {
    if (!permission.read) return {false, "read not permitted: " + permission.reason, ""};
    if (!Declares(declared, "read")) return {false, "the CapabilityStatement declares no read", ""};
    return {true, "read each cohort patient with If-None-Match", ""};
  }
  if (!permission.search) return {false, "search not permitted: " + permission.reason, ""};
  for (const char* parameter : {"patient", "subject"}) {
    if (Searchable(declared, parameter)) {
      return {true,
              std::string("nothing incremental; search each patient's compartment by ") +
                  parameter + " and compare content hashes",
              parameter};
    }
  }
  return {false, "the CapabilityStatement offers no patient or subject search", ""};
}

// Whether `object`'s operation list names "export" (the Bulk Data IG's operation name).
bool NamesExport(const nlohmann::json& object) {
  const auto operations = object.find("operation");
  if (operations == object.end() || !operations->is_array()) return false;
  for (const nlohmann::json& operation : *operations) {
    if (operation.is_object() && operation.value("name", "") == "export") return true;
  }
  return false;
}

}  // namespace

std::string_view StrategyName(Strategy strategy) {
  switch (strategy) {
    case Strategy::kLastUpdatedWindows:
      return "lastupdated";
    case Strategy::kHistorySince:
      return "history";
    case Strategy::kBulkExport:
      return "bulk-export";
    case Strategy::kPerPatientRefresh:
      return "per-patient";
    case Strategy::kNone:
      return "none";
  }
  return "none";
}

std::optional<Strategy> ParseStrategy(std::string_view name) {
  for (Strategy strategy : {Strategy::kLastUpdatedWindows, Strategy::kHistorySince,
                            Strategy::kBulkExport, Strategy::kPerPatientRefresh}) {
    if (StrategyName(strategy) == name) return strategy;
  }
  return std::nullopt;
}

base::Result<ServerCapabilities> ParseCapabilityStatement(std::string_view json) {
  const nlohmann::json document = nlohmann::json::parse(json, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return Fail(ErrorCode::kMalformedResponse, "The CapabilityStatement is not a JSON object.");
  }
  if (document.value("resourceType", "") != "CapabilityStatement") {
    return Fail(ErrorCode::kMalformedResponse, "The metadata answer is not a CapabilityStatement.",
                "resourceType");
  }
  ServerCapabilities capabilities;
  const auto rest = document.find("rest");
  if (rest == document.end() || !rest->is_array()) return capabilities;
  for (std::size_t r = 0; r < rest->size(); ++r) {
    const nlohmann::json& part = (*rest)[r];
    if (!part.is_object() || part.value("mode", "") != "server") continue;
    capabilities.system_export = capabilities.system_export || NamesExport(part);
    const auto resources = part.find("resource");
    if (resources == part.end()) continue;
    if (!resources->is_array()) {
      return Fail(ErrorCode::kMalformedResponse, "rest.resource must be an array.",
                  "CapabilityStatement.rest[" + std::to_string(r) + "].resource");
    }
    for (std::size_t i = 0; i < resources->size(); ++i) {
      const nlohmann::json& resource = (*resources)[i];
      const std::string where =
          "CapabilityStatement.rest[" + std::to_string(r) + "].resource[" + std::to_string(i) + "]";
      if (!resource.is_object() || !resource.contains("type") || !resource["type"].is_string()) {
        return Fail(ErrorCode::kMalformedResponse, "A resource entry needs a type.", where);
      }
      DeclaredType& declared = capabilities.types[resource["type"].get<std::string>()];
      if (resource["type"] == "Group" && NamesExport(resource)) capabilities.group_export = true;
      for (const nlohmann::json& interaction : resource.value("interaction", nlohmann::json())) {
        if (interaction.is_object() && interaction.contains("code") &&
            interaction["code"].is_string()) {
          declared.interactions.insert(interaction["code"].get<std::string>());
        }
      }
      for (const nlohmann::json& parameter : resource.value("searchParam", nlohmann::json())) {
        if (parameter.is_object() && parameter.contains("name") && parameter["name"].is_string()) {
          declared.search_params.insert(parameter["name"].get<std::string>());
        }
      }
    }
  }
  return capabilities;
}

std::vector<TypePlan> PlanSync(const PlanInputs& inputs) {
  std::vector<TypePlan> plan;
  const TypePermission everything{true, true, true, ""};
  for (const std::string& type : inputs.types) {
    TypePlan entry{type, Strategy::kNone, "", "", false, ""};
    const auto declared = inputs.capabilities.types.find(type);
    if (declared == inputs.capabilities.types.end()) {
      entry.reason = "the CapabilityStatement does not list this type";
      plan.push_back(std::move(entry));
      continue;
    }
    const auto permission_entry = inputs.permissions.find(type);
    const TypePermission& permission =
        permission_entry == inputs.permissions.end() ? everything : permission_entry->second;

    const std::vector<std::pair<Strategy, Fit>> fits = {
        {Strategy::kLastUpdatedWindows, FitLastUpdated(declared->second, permission)},
        {Strategy::kHistorySince, FitHistory(declared->second, permission)},
        {Strategy::kBulkExport,
         FitBulkExport(permission, inputs.capabilities, inputs.export_group_id)},
        {Strategy::kPerPatientRefresh,
         FitPerPatient(type, declared->second, permission, !inputs.patient_cohort.empty())},
    };
    std::string refusals;
    for (const auto& [strategy, fit] : fits) {
      if (inputs.forced && *inputs.forced != strategy) continue;
      if (fit.possible) {
        entry.strategy = strategy;
        entry.reason = fit.reason + refusals;
        entry.patient_parameter = fit.patient_parameter;
        break;
      }
      refusals += std::string("; not ") + std::string(StrategyName(strategy)) + ": " + fit.reason;
    }
    if (entry.strategy == Strategy::kBulkExport && !inputs.capabilities.system_export) {
      entry.export_group = inputs.export_group_id;
    }
    entry.history_for_deletions =
        entry.strategy == Strategy::kLastUpdatedWindows && fits[1].second.possible;
    if (entry.strategy == Strategy::kNone) {
      entry.reason = refusals.empty() ? "no strategy fits" : refusals.substr(2);
    }
    plan.push_back(std::move(entry));
  }
  return plan;
}

std::string FormatPlan(const std::vector<TypePlan>& plan) {
  std::size_t width = 4;
  for (const TypePlan& entry : plan) width = std::max(width, entry.type.size());
  std::string text;
  for (const TypePlan& entry : plan) {
    std::string name(StrategyName(entry.strategy));
    text += entry.type + std::string(width + 2 - entry.type.size(), ' ') + name +
            std::string(name.size() < 13 ? 13 - name.size() : 1, ' ') + entry.reason + "\n";
  }
  return text;
}

}  // namespace fhirbridge::sync
