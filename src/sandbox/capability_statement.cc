#include "sandbox/capability_statement.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "sandbox/search.h"

namespace fhirbridge::sandbox {

fhir::Json BuildCapabilityStatement(const Tenant& tenant, const std::set<Interaction>& implemented,
                                    std::string_view base_url, std::string_view date) {
  const BuildLevel& level = tenant.build_level();

  fhir::Json resources = fhir::Json::array();
  for (const auto& [type, interactions] : level.resources) {
    fhir::Json codes = fhir::Json::array();
    bool conditional_create = false;
    for (const Interaction interaction : interactions) {
      if (!implemented.contains(interaction) || IsSystemInteraction(interaction)) continue;
      codes.push_back({{"code", InteractionCode(interaction)}});
      conditional_create |= interaction == Interaction::kCreate;
    }
    if (codes.empty()) continue;
    fhir::Json entry = {
        {"type", type},
        {"interaction", std::move(codes)},
        {"versioning", "versioned"},
        {"readHistory", interactions.contains(Interaction::kVread)},
        {"updateCreate", level.update_as_create && interactions.contains(Interaction::kUpdate)},
        {"conditionalCreate", conditional_create},
        {"conditionalRead", "not-supported"},
        {"conditionalUpdate", false},
        {"conditionalDelete", "not-supported"},
    };
    // Exactly the parameters the search route accepts for this type at this level.
    if (implemented.contains(Interaction::kSearchType) &&
        interactions.contains(Interaction::kSearchType)) {
      fhir::Json parameters = fhir::Json::array();
      for (const fhir::SearchParameter* parameter : OfferedSearchParameters(level, type)) {
        parameters.push_back({{"name", parameter->code},
                              {"definition", parameter->url},
                              {"type", fhir::SearchParamTypeCode(parameter->type)}});
      }
      entry["searchParam"] = std::move(parameters);
    }
    // Bulk Data's type-level kick-offs, as the IG's CapabilityStatement names them.
    const BulkExportSettings& bulk = level.bulk_export;
    if ((type == "Patient" && bulk.patient) || (type == "Group" && bulk.group)) {
      entry["operation"] = {
          {{"name", "export"},
           {"definition",
            type == "Patient"
                ? "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
                : "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"}}};
    }
    resources.push_back(std::move(entry));
  }

  fhir::Json system_interactions = fhir::Json::array();
  for (const Interaction interaction : level.system_interactions) {
    if (implemented.contains(interaction)) {
      system_interactions.push_back({{"code", InteractionCode(interaction)}});
    }
  }

  fhir::Json rest = {{"mode", "server"}, {"resource", std::move(resources)}};
  if (!system_interactions.empty()) rest["interaction"] = std::move(system_interactions);
  if (level.bulk_export.system) {
    rest["operation"] = {
        {{"name", "export"},
         {"definition", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}}};
  }

  // SMART's second discovery route: the OAuth endpoints as an extension of rest.security.
  const std::string_view base(base_url);
  const std::string origin(
      base.substr(0, base.size() - std::min(base.size(), tenant.BasePath().size())));
  const std::string oauth = origin + "/" + tenant.config().name + "/oauth2";
  fhir::Json uris = fhir::Json::array();
  for (const auto& [name, endpoint] :
       {std::pair{"authorize", "/authorize"}, std::pair{"token", "/token"},
        std::pair{"introspect", "/introspect"}, std::pair{"revoke", "/revoke"}}) {
    uris.push_back({{"url", name}, {"valueUri", oauth + endpoint}});
  }
  rest["security"] = {
      {"extension",
       {{{"url", "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"},
         {"extension", std::move(uris)}}}},
      {"service",
       {{{"coding",
          {{{"system", "http://terminology.hl7.org/CodeSystem/restful-security-service"},
            {"code", "SMART-on-FHIR"}}}}}}},
      {"description", tenant.requires_token()
                          ? "Every request needs a SMART bearer token."
                          : "SMART bearer tokens are optional here; a token that is sent is "
                            "enforced."}};

  const TenantConfig& config = tenant.config();
  fhir::Json statement = {
      {"resourceType", "CapabilityStatement"},
      {"status", "active"},
      {"date", date},
      {"publisher", "fhirbridge sandbox"},
      {"kind", "instance"},
      {"software",
       {{"name", "fhirbridge sandbox (" + level.name + ")"}, {"version", level.software_version}}},
      {"implementation",
       {{"description", config.display_name + ": " + level.description}, {"url", base_url}}},
      {"fhirVersion", "4.0.1"},
      {"format", {"application/fhir+json", "json"}},
      {"rest", {std::move(rest)}},
  };
  if (level.bulk_export.Enabled()) {
    statement["instantiates"] = {"http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"};
  }
  return statement;
}

}  // namespace fhirbridge::sandbox
