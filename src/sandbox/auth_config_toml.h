#pragma once

// How the tenant file's reader reads a tenant's [tenants.auth] table. Apart from auth_config.h
// so that only the reader includes toml++.

#include <toml++/toml.h>

#include <string_view>

#include "sandbox/auth_config.h"
#include "sandbox/traffic_config_toml.h"

namespace fhirbridge::sandbox {

// Reads the "auth" key of one [[tenants]] table, when present, into `settings`; every problem
// goes to `report` with its position and full key path ("tenants[0].auth.required").
void ReadTenantAuthTable(const toml::table& tenant, std::string_view tenant_path,
                         TenantAuthSettings& settings, const TomlProblemSink& report);

}  // namespace fhirbridge::sandbox
