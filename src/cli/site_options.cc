#include "cli/site_options.h"

#include <CLI/CLI.hpp>

namespace fhirbridge::cli {

void AddSiteLocationOptions(CLI::App& command, std::string& folder, std::string& home) {
  command.add_option("--sites", folder, "Folder of the site bundles")->capture_default_str();
  command.add_option("--home", home,
                     "The runtime home holding the token vault (default FHIRBRIDGE_HOME, else "
                     "~/.fhirbridge)");
}

void AddStoreSchemaOption(CLI::App& command, std::string& schema) {
  command.add_option("--store-schema", schema,
                     "PostgreSQL schema holding the store's tables (default: the DSN's)");
}

}  // namespace fhirbridge::cli
