#pragma once

// Options shared by the commands that reach sites by name or keep data in a replica store, so
// that every command spells, documents and defaults them the same way.

#include <string>

namespace CLI {
class App;
}

namespace fhirbridge::cli {

// Adds `--sites DIR` (the folder of site bundles; `folder` keeps its default when absent) and
// `--home DIR` (the runtime home holding the token vault; empty: FHIRBRIDGE_HOME, else
// ~/.fhirbridge) to `command`. Both strings must outlive the parse.
void AddSiteLocationOptions(CLI::App& command, std::string& folder, std::string& home);

// Adds `--store-schema NAME` (the PostgreSQL schema of the store's tables; empty: the DSN's).
void AddStoreSchemaOption(CLI::App& command, std::string& schema);

}  // namespace fhirbridge::cli
