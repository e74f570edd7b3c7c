#include "sandbox/auth_config_toml.h"

#include <string>

namespace fhirbridge::sandbox {

void ReadTenantAuthTable(const toml::table& tenant, std::string_view tenant_path,
                         TenantAuthSettings& settings, const TomlProblemSink& report) {
  const toml::node* node = tenant.get("auth");
  if (node == nullptr) return;
  const std::string path = std::string(tenant_path) + ".auth";
  const toml::table* table = node->as_table();
  if (table == nullptr) {
    report(node->source().begin, path, "must be a table ([tenants.auth])");
    return;
  }
  for (const auto& [key, value] : *table) {
    const std::string key_path = path + "." + std::string(key.str());
    const toml::source_position position = value.source().begin;
    if (key == "required" || key == "auto_approve") {
      const auto flag = value.value<bool>();
      if (!flag || !value.is_boolean()) {
        report(position, key_path, "must be true or false");
        continue;
      }
      (key == "required" ? settings.required : settings.auto_approve) = *flag;
    } else if (key == "access_token_seconds") {
      const auto seconds = value.value<std::int64_t>();
      if (!value.is_integer() || !seconds || *seconds < 60 || *seconds > 86400) {
        report(position, key_path, "must be a whole number of seconds from 60 to 86400");
        continue;
      }
      settings.access_token_seconds = *seconds;
    } else if (key == "default_patient" || key == "user_practitioner") {
      const auto text = value.value<std::string>();
      if (!value.is_string() || !text || text->empty() || text->size() > 200) {
        report(position, key_path, "must be a resource id (1 to 200 characters)");
        continue;
      }
      (key == "default_patient" ? settings.default_patient : settings.user_practitioner) = *text;
    } else {
      report(position, key_path,
             "unknown key; [tenants.auth] takes required, access_token_seconds, auto_approve, "
             "default_patient and user_practitioner");
    }
  }
}

}  // namespace fhirbridge::sandbox
