#pragma once

// `fhirbridge worker --store DSN`: one worker of a fleet. It leases work items that
// `fhirbridge fleet plan` put in the shared store, syncs each (the item's resource type for its
// site, with the site's shared request budget), and completes or fails it; SIGTERM or SIGINT
// lets the item in hand stop at its next request and releases it. See fleet/worker.h.

#include <functional>

namespace CLI {
class App;
}

namespace fhirbridge::cli {

// Adds `worker` to `app`. Exit codes: 0 stopped (a signal, or --once with no work left), 1 the
// store failed, 2 a bad option, 3 the runtime home is missing.
void AddWorkerCommand(CLI::App& app, std::function<int()>& run);

}  // namespace fhirbridge::cli
