#include "cli/auth_commands.h"

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "auth/key_ring.h"
#include "cli/exit_codes.h"
#include "synth/sandbox_admin.h"

namespace fhirbridge::cli {
namespace {

struct KeysOptions {
  std::string folder;
  std::string algorithm = "RS384";
  long long grace_seconds = 24 * 3600;
};

struct RegisterOptions {
  std::string sandbox_url = "http://127.0.0.1:8090";
  std::string tenant;
  std::string client_id;
  std::string type = "confidential-asymmetric";
  std::string scopes;
  std::vector<std::string> redirect_uris;
  std::string jwks_file;
  std::string jwks_url;
  std::string client_secret_env;
  bool unmapped = false;
};

int Report(const base::Error& error, int code) {
  std::cerr << "fhirbridge: " << error.ToString() << "\n";
  return code;
}

std::optional<jose::Algorithm> AlgorithmOrComplain(const std::string& name) {
  const auto algorithm = jose::ParseAlgorithm(name);
  if (!algorithm) std::cerr << "fhirbridge: --alg must be RS384, RS256, RS512, ES384 or ES256\n";
  return algorithm;
}

int Generate(const KeysOptions& options) {
  const auto algorithm = AlgorithmOrComplain(options.algorithm);
  if (!algorithm) return kExitUsage;
  auto ring = auth::KeyRing::Create(options.folder, *algorithm, std::chrono::system_clock::now());
  if (!ring) return Report(ring.error(), kExitConfig);
  std::cout << "Generated " << options.algorithm << " key " << ring->current().kid << " in "
            << options.folder << "\n  private key: " << options.folder << "/keys/"
            << ring->current().kid << ".pem (mode 0600)\n  public JWK Set: " << options.folder
            << "/jwks.json (host it at your JWK Set URL, or register it inline)\n";
  return kExitOk;
}

int Rotate(const KeysOptions& options) {
  const auto algorithm = AlgorithmOrComplain(options.algorithm);
  if (!algorithm) return kExitUsage;
  auto ring = auth::KeyRing::Open(options.folder);
  if (!ring) return Report(ring.error(), kExitConfig);
  const std::string previous = ring->current().kid;
  if (auto rotated = ring->Rotate(*algorithm, std::chrono::seconds(options.grace_seconds),
                                  std::chrono::system_clock::now());
      !rotated) {
    return Report(rotated.error(), kExitFailure);
  }
  std::cout << "Signing now with " << ring->current().kid << "; " << previous
            << " stays in jwks.json for " << options.grace_seconds
            << " s. Publish the new jwks.json before the next token request.\n";
  return kExitOk;
}

int PrintJwks(const KeysOptions& options) {
  auto ring = auth::KeyRing::Open(options.folder);
  if (!ring) return Report(ring.error(), kExitConfig);
  auto jwks = ring->PublicJwks(std::chrono::system_clock::now());
  if (!jwks) return Report(jwks.error(), kExitFailure);
  std::cout << jwks->dump(2) << "\n";
  return kExitOk;
}

int RegisterApp(const RegisterOptions& options) {
  fhir::Json body = {{"client_id", options.client_id},
                     {"type", options.type},
                     {"scopes", options.scopes},
                     {"redirect_uris", options.redirect_uris},
                     {"mapped_to_user", !options.unmapped}};
  if (!options.jwks_url.empty()) body["jwks_url"] = options.jwks_url;
  if (!options.jwks_file.empty()) {
    std::ifstream file(options.jwks_file);
    if (!file) {
      std::cerr << "fhirbridge: cannot read --jwks-file " << options.jwks_file << "\n";
      return kExitUsage;
    }
    std::stringstream text;
    text << file.rdbuf();
    fhir::Json jwks = fhir::Json::parse(text.str(), nullptr, false);
    if (jwks.is_discarded()) {
      std::cerr << "fhirbridge: --jwks-file " << options.jwks_file << " is not JSON\n";
      return kExitUsage;
    }
    body["jwks"] = std::move(jwks);
  }
  if (!options.client_secret_env.empty()) {
    // The secret comes from the environment so it never appears in shell history or ps.
    const char* secret = std::getenv(options.client_secret_env.c_str());
    if (secret == nullptr) {
      std::cerr << "fhirbridge: environment variable " << options.client_secret_env
                << " is not set\n";
      return kExitUsage;
    }
    body["client_secret"] = secret;
  }

  auto registered = synth::RegisterSandboxApp(options.sandbox_url, options.tenant, body);
  if (!registered) return Report(registered.error(), kExitFailure);
  std::cout << "Registered " << options.client_id << " with tenant " << options.tenant << ":\n"
            << registered->dump(2) << "\n";
  return kExitOk;
}

}  // namespace

void AddAuthCommands(CLI::App& app, CLI::App& sandbox, std::function<int()>& run) {
  auto keys_options = std::make_shared<KeysOptions>();
  CLI::App* keys = app.add_subcommand(
      "keys", "Backend-services signing keys of a site: generate, rotate, print the JWK Set");
  keys->require_subcommand(1);

  CLI::App* generate = keys->add_subcommand("generate", "Create a key ring with one fresh key");
  CLI::App* rotate = keys->add_subcommand(
      "rotate", "Sign with a fresh key; keep the old one published for a grace period");
  CLI::App* jwks = keys->add_subcommand("jwks", "Print the public JWK Set");
  for (CLI::App* command : {generate, rotate, jwks}) {
    command->add_option("--dir", keys_options->folder, "The site's key folder")->required();
  }
  for (CLI::App* command : {generate, rotate}) {
    command->add_option("--alg", keys_options->algorithm,
                        "RS384 (default), RS256, RS512, ES384 or ES256");
  }
  rotate
      ->add_option("--grace", keys_options->grace_seconds,
                   "Seconds the old key stays published (default 86400)")
      ->check(CLI::Range(300LL, 90LL * 24 * 3600));
  generate->callback(
      [&run, keys_options] { run = [keys_options] { return Generate(*keys_options); }; });
  rotate->callback(
      [&run, keys_options] { run = [keys_options] { return Rotate(*keys_options); }; });
  jwks->callback(
      [&run, keys_options] { run = [keys_options] { return PrintJwks(*keys_options); }; });

  auto register_options = std::make_shared<RegisterOptions>();
  CLI::App* register_app = sandbox.add_subcommand(
      "register-app", "Register an application with a tenant of a running sandbox");
  register_app->add_option("--sandbox", register_options->sandbox_url,
                           "The sandbox's origin (default http://127.0.0.1:8090)");
  register_app->add_option("--tenant", register_options->tenant, "Tenant name")->required();
  register_app->add_option("--client-id", register_options->client_id, "Client id")->required();
  register_app->add_option("--type", register_options->type,
                           "public, confidential-symmetric or confidential-asymmetric");
  register_app->add_option("--scopes", register_options->scopes,
                           "Scopes this tenant grants the app, space-separated");
  register_app->add_option("--redirect-uri", register_options->redirect_uris,
                           "Redirect URI (repeat for several)");
  register_app->add_option("--jwks-file", register_options->jwks_file,
                           "A JWK Set file to register inline (for example keys/jwks.json)");
  register_app->add_option("--jwks-url", register_options->jwks_url, "A JWK Set URL");
  register_app->add_option("--client-secret-env", register_options->client_secret_env,
                           "Environment variable holding a symmetric client's secret");
  register_app->add_flag("--unmapped", register_options->unmapped,
                         "Leave the backend client unmapped to a user (unauthorized_client)");
  register_app->callback([&run, register_options] {
    run = [register_options] { return RegisterApp(*register_options); };
  });
}

}  // namespace fhirbridge::cli
