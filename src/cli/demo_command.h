#pragma once

// `fhirbridge demo`: starts the embedded sandbox with three differing organisations, seeds them,
// registers the app, writes site bundles, then authenticates, syncs and smoke-tests each, and
// prints a compact summary. Everything stays in one folder; a second run reuses it.

#include <functional>

namespace CLI {
class App;
}

namespace fhirbridge::cli {

// Adds the `demo` subcommand to `app`; when it is chosen, `run` is set to the work to do.
void AddDemoCommand(CLI::App& app, std::function<int()>& run);

}  // namespace fhirbridge::cli
