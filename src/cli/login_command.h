#pragma once

// The `auth` commands, by site name (a bundle under --sites) or with explicit flags for ad-hoc use.
// `auth token SITE` obtains a backend-services token, or for a launch site refreshes the grant
// kept in the vault; `auth token --fhir-base ...` obtains a backend-services token. `auth login
// SITE` completes the site's EHR or standalone launch through a loopback redirect listener at the
// bundle's redirect_uri and stores the grant in the vault of the runtime home (auth/site_auth.h).
// All print what was granted and when it expires; an access token only with --print-token, and a
// refresh token only from the ad-hoc `auth login --print-token`.

#include <functional>

namespace CLI {
class App;
}

namespace fhirbridge::cli {

// Adds `auth token|login` to `app`. When one is chosen, `run` is set to the function that carries
// it out and returns the exit code.
void AddLoginCommands(CLI::App& app, std::function<int()>& run);

}  // namespace fhirbridge::cli
