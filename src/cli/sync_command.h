#pragma once

// The `sync` command: plan and run an incremental sync of sites, named by their bundles, into
// the replica store (a SQLite file by default, or PostgreSQL). Each site is reached through its
// site connection (token, throttle, retries, maintenance windows) and planned from its live
// capability matrix. `--fhir-base` syncs an ad-hoc server without a token instead.

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
