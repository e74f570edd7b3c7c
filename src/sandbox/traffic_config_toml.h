#pragma once

// How the tenant file's reader reads a tenant's [tenants.traffic] and [tenants.faults] tables.
// Apart from traffic_config.h so that only the two readers include toml++.

#include <toml++/toml.h>

#include <functional>
#include <string_view>

#include "base/toml_reading.h"
#include "sandbox/traffic_config.h"

namespace fhirbridge::sandbox {

// Receives one problem: where it is, the full key path ("tenants[0].faults.latency_ms") and
// what is wrong.
using TomlProblemSink = std::function<void(toml::source_position position, std::string_view path,
                                           std::string_view what)>;

using base::TomlTypeName;

// Reads the "traffic" and "faults" keys of one [[tenants]] table, when present, into `traffic`
// and `faults`. `tenant_path` ("tenants[0]") prefixes every reported path.
void ReadTenantTrafficTables(const toml::table& tenant, std::string_view tenant_path,
                             TrafficSettings& traffic, FaultSettings& faults,
                             const TomlProblemSink& report);

}  // namespace fhirbridge::sandbox
