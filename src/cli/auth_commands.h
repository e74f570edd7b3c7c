#pragma once

// The `keys` commands (generate, rotate and print a site's backend-services signing keys) and
// `sandbox register-app` (register an application with a running sandbox tenant).

#include <functional>

namespace CLI {
class App;
}

namespace fhirbridge::cli {

// Adds `keys generate|rotate|jwks` to `app` and `register-app` to `sandbox`. When one of them is
// chosen on the command line, `run` is set to the function that carries it out and returns the
// exit code.
void AddAuthCommands(CLI::App& app, CLI::App& sandbox, std::function<int()>& run);

}  // namespace fhirbridge::cli
