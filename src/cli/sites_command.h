#pragma once

// The `sites` and `vault` commands: validate and show site bundles, print a site's capability
// matrix, and manage the token vault's key and entries.

#include <functional>

namespace CLI {
class App;
}

namespace fhirbridge::cli {

// Adds `sites check|show|capabilities` and `vault init-key|list|erase` to `app`. When one of
// them is chosen on the command line, `run` is set to the function that carries it out and
// returns the exit code: 0 done; 1 the work failed (a site unreachable, a vault unwritable);
// 2 a bad command line; 3 a bundle, key or vault that is missing, invalid or does not open.
void AddSitesCommands(CLI::App& app, std::function<int()>& run);

}  // namespace fhirbridge::cli
