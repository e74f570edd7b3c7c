#pragma once

// `fhirbridge fleet plan SITE... --store DSN`: fills the fleet's shared work queue (one item per
// site x resource type x cohort, from each site bundle's [sync] section) and configures each
// site's shared request budget (traffic.requests_per_second, traffic.burst), for the
// `fhirbridge worker` processes that share the store.

#include <functional>

namespace CLI {
class App;
}

namespace fhirbridge::cli {

// Adds `fleet` (with `plan`) to `app`. Exit codes: 0 enqueued, 1 the store failed, 2 a bad
// option, 3 a site bundle missing or unusable.
void AddFleetCommand(CLI::App& app, std::function<int()>& run);

}  // namespace fhirbridge::cli
