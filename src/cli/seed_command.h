#pragma once

// `fhirbridge seed`: fills a FHIR R4 server (a sandbox tenant or any server by URL) with the
// synthetic data generator's patients, idempotently; optionally registers the app the tests
// authenticate as, and bulk-loads into a sandbox tenant's store.

#include <functional>

namespace CLI {
class App;
}

namespace fhirbridge::cli {

// Adds the `seed` subcommand to `app`; when it is chosen, `run` is set to the work to do.
void AddSeedCommand(CLI::App& app, std::function<int()>& run);

}  // namespace fhirbridge::cli
