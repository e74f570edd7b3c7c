#pragma once

// The `auth` commands: `auth token` obtains a backend-services token (client_credentials with a
// signed client assertion) and `auth login` completes an EHR or standalone launch through a
// loopback redirect listener. Both print what was granted and when it expires; the token itself
// only with --print-token.

#include <functional>

namespace CLI {
class App;
}

namespace fhirbridge::cli {

// Adds `auth token|login` to `app`. When one is chosen, `run` is set to the function that carries
// it out and returns the exit code.
void AddLoginCommands(CLI::App& app, std::function<int()>& run);

}  // namespace fhirbridge::cli
