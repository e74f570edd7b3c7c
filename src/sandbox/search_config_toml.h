#pragma once

// How the tenant file's reader reads a build level's search settings: the
// [build_levels.<name>.search] table and the types_not_enabled list. Apart from
// tenant_config.cc so that search owns its settings.

#include <toml++/toml.h>

#include <functional>
#include <string_view>

#include "sandbox/build_level.h"

namespace fhirbridge::sandbox {

// Receives one problem: where it is, the full key path and what is wrong.
using SearchConfigProblemSink = std::function<void(toml::source_position position,
                                                   std::string_view path, std::string_view what)>;

// Reads the "search" and "types_not_enabled" keys of one build level table into `level`, whose
// resources must already be read. `level_path` ("build_levels.epic-2024-aug") prefixes every
// reported path. Checks that every listed parameter is one the server supports on that type and
// that every searchable type lists its parameters.
void ReadBuildLevelSearch(const toml::table& level_table, std::string_view level_path,
                          BuildLevel& level, const SearchConfigProblemSink& report);

// The keys ReadBuildLevelSearch reads, for the reader's unknown-key check.
inline constexpr std::string_view kSearchBuildLevelKeys[] = {"search", "types_not_enabled"};

}  // namespace fhirbridge::sandbox
