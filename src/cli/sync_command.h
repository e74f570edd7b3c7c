#pragma once

// The `sync` command: plan and run an incremental sync of one FHIR server into a local SQLite
// store with src/sync.
//
// Limitation: it takes the server's FHIR base URL, sends no token and writes through the sync
// module's own SQLite sink and plain HTTP source; site bundles, SMART tokens, the local store
// and the site client's throttle come with the runtime's wiring.

#include <functional>

namespace CLI {
class App;
}

namespace fhirbridge::cli {

// Adds `sync` to `app`. When chosen, `run` is set to the function that syncs and returns the exit
// code: 0 every type synced (or the plan printed), 1 a type failed or the server was unreachable,
// 2 a bad option.
void AddSyncCommand(CLI::App& app, std::function<int()>& run);

}  // namespace fhirbridge::cli
