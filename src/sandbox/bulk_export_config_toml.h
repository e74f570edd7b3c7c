#pragma once

// How the tenant file's reader reads a build level's Bulk Data settings: the
// [build_levels.<name>.bulk_export] table. Apart from tenant_config.cc so that the export owns
// its settings.

#include <toml++/toml.h>

#include <string_view>

#include "sandbox/build_level.h"
#include "sandbox/search_config_toml.h"

namespace fhirbridge::sandbox {

// Reads the "bulk_export" key of one build level table into `level.bulk_export`; an absent key
// leaves the export off. `level_path` ("build_levels.r4-open") prefixes every reported path.
void ReadBuildLevelBulkExport(const toml::table& level_table, std::string_view level_path,
                              BuildLevel& level, const SearchConfigProblemSink& report);

// The key ReadBuildLevelBulkExport reads, for the reader's unknown-key check.
inline constexpr std::string_view kBulkExportBuildLevelKey = "bulk_export";

}  // namespace fhirbridge::sandbox
