#include "cli/seed_command.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/token_source.h"
#include "cli/exit_codes.h"
#include "cli/site_options.h"
#include "sites/site_connection.h"
#include "synth/sandbox_admin.h"
#include "synth/seeder.h"

namespace fhirbridge::cli {
namespace {

struct SeedCommandOptions {
  std::string site;
  std::string sites_folder = "sites";
  std::string home;
  std::string fhir_base;
  std::string sandbox;
  std::string tenant;
  std::uint64_t patients = 100;
  std::uint64_t seed = 1;
  std::string profile = "realistic";
  std::vector<std::string> defects;
  std::string organisation_name = synth::SynthOptions{}.organisation_name;
  std::string token;
  std::string token_env;
  bool bulk = false;
  std::size_t entries_per_request = synth::SeedOptions{}.entries_per_request;
  std::size_t bulk_request_bytes = synth::SeedOptions{}.bulk_request_bytes;
  std::string register_app;
  std::string key_dir;
  std::string scopes = std::string(synth::kDefaultBackendScopes);
  bool json = false;
};

int Usage(const std::string& message) {
  std::cerr << "fhirbridge seed: " << message << "\n";
  return kExitUsage;
}

int Report(const base::Error& error) {
  std::cerr << "fhirbridge seed: " << error.ToString() << "\n";
  return error.code == base::ErrorCode::kInvalidParameter ? kExitUsage : kExitFailure;
}

int RunSeed(const SeedCommandOptions& command) {
  // Where to: a FHIR base URL, or a sandbox origin and tenant.
  const bool sandbox_target = !command.sandbox.empty() || !command.tenant.empty();
  if (sandbox_target && (command.sandbox.empty() || command.tenant.empty())) {
    return Usage("--sandbox and --tenant go together");
  }
  const int targets =
      int{sandbox_target} + int{!command.fhir_base.empty()} + int{!command.site.empty()};
  if (targets != 1) {
    return Usage("give one of: a SITE name, --fhir-base URL, or --sandbox ORIGIN --tenant T");
  }
  if (!command.site.empty() && (!command.token.empty() || !command.token_env.empty())) {
    return Usage("a site's token comes from its bundle's authorisation, not --token");
  }
  if ((command.bulk || !command.register_app.empty()) && !sandbox_target) {
    return Usage("--bulk and --register-app need --sandbox ORIGIN --tenant T");
  }
  if (command.register_app.empty() != command.key_dir.empty()) {
    return Usage("--register-app and --key-dir go together");
  }
  if (command.bulk && (!command.token.empty() || !command.token_env.empty())) {
    return Usage("--bulk uses the sandbox's admin API, which takes no token");
  }
  std::string origin = command.sandbox;
  while (!origin.empty() && origin.back() == '/') origin.pop_back();
  std::string fhir_base =
      sandbox_target ? origin + "/" + command.tenant + "/api/FHIR/R4" : command.fhir_base;

  synth::SeedOptions options;
  options.synth.patients = command.patients;
  options.synth.seed = command.seed;
  options.synth.organisation_name = command.organisation_name;
  options.synth.rates = synth::DefectRates::ForProfile(
      synth::ProfileFromName(command.profile).value_or(synth::Profile::kRealistic));
  for (const auto& override_text : command.defects) {
    if (auto applied = options.synth.rates.ApplyOverride(override_text); !applied) {
      return Report(applied.error());
    }
  }
  options.entries_per_request = command.entries_per_request;
  options.bulk_request_bytes = command.bulk_request_bytes;

  // The token comes from a flag or, better (it stays out of shell history), the environment.
  std::unique_ptr<auth::FixedTokenSource> fixed_tokens;
  auth::TokenSource* tokens = nullptr;
  // A site by name: its base URL and its bundle's token source (backend services or the vault's
  // grant); nothing is sent during its maintenance windows.
  std::optional<sites::OpenedSite> opened;
  if (!command.site.empty()) {
    sites::SiteLocation location;
    location.folder = command.sites_folder;
    location.home = command.home;
    auto site =
        sites::OpenSiteByName(location, command.site, sites::EnvironmentVariables::FromProcess());
    if (!site) {
      std::cerr << "fhirbridge seed: " << site.error().ToString() << "\n";
      return kExitConfig;
    }
    opened = std::move(*site);
    if (auto open = opened->connection->CheckMaintenance(); !open) return Report(open.error());
    fhir_base = opened->connection->config().base_url;
    tokens = opened->connection->tokens();
    if (auto token = opened->connection->tokens()->AccessToken(); !token) {
      return Report(token.error());
    }
  }
  if (!command.token_env.empty()) {
    const char* value = std::getenv(command.token_env.c_str());
    if (value == nullptr || *value == '\0') {
      return Usage("environment variable " + command.token_env + " is not set");
    }
    fixed_tokens = std::make_unique<auth::FixedTokenSource>(value);
    tokens = fixed_tokens.get();
  } else if (!command.token.empty()) {
    fixed_tokens = std::make_unique<auth::FixedTokenSource>(command.token);
    tokens = fixed_tokens.get();
  }

  if (!command.register_app.empty()) {
    synth::BackendAppOptions app;
    app.client_id = command.register_app;
    app.key_folder = command.key_dir;
    app.scopes = command.scopes;
    auto registered = synth::RegisterBackendApp(origin, command.tenant, app);
    if (!registered) return Report(registered.error());
    if (!command.json) {
      std::cout << "Registered " << command.register_app << " with tenant " << command.tenant
                << " (key " << registered->kid
                << (registered->created_keys ? ", created in " : ", from ") << command.key_dir
                << ")\n";
    }
  }

  const auto started = std::chrono::steady_clock::now();
  auto report = command.bulk ? synth::BulkLoadSandbox(options, origin, command.tenant)
                             : synth::SeedFhirServer(options, fhir_base, tokens);
  if (!report) return Report(report.error());
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  if (command.json) {
    std::cout << synth::SeedReportJson(*report, elapsed.count()) << "\n";
  } else {
    std::cout << synth::FormatSeedReport(*report, elapsed.count());
  }
  return report->Failed() > 0 ? kExitFailure : kExitOk;
}

}  // namespace

void AddSeedCommand(CLI::App& app, std::function<int()>& run) {
  auto options = std::make_shared<SeedCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "seed",
      "Fill a FHIR R4 server with synthetic patients, idempotently: conditional creates keyed on "
      "business identifiers in transaction Bundles (a second run creates nothing), or a bulk "
      "load into a sandbox tenant's store");
  command->add_option("SITE", options->site,
                      "A site to seed by name (sites/NAME.toml): its base URL and its bundle's "
                      "token (backend services, or the vault's grant)");
  AddSiteLocationOptions(*command, options->sites_folder, options->home);
  command->add_option("--fhir-base", options->fhir_base,
                      "The FHIR base URL of any R4 server with transactions");
  command->add_option("--sandbox", options->sandbox,
                      "A fhirbridge sandbox's origin, e.g. http://127.0.0.1:8090 (with --tenant)");
  command->add_option("--tenant", options->tenant, "The sandbox tenant to seed");
  command->add_option("--patients", options->patients, "Number of patients (default 100)")
      ->check(CLI::Range(std::uint64_t{1}, synth::kMaxPatients));
  command->add_option("--seed", options->seed,
                      "Generator seed; the same seed and options give the same data (default 1)");
  command
      ->add_option("--profile", options->profile,
                   "clean, realistic (default) or negative: how many defects the data carries")
      ->check(CLI::IsMember({"clean", "realistic", "negative"}));
  command->add_option("--defect", options->defects,
                      "Override one defect's rate as name=rate (repeatable)");
  command->add_option("--organisation-name", options->organisation_name,
                      "Name of the simulated organisation; it also decides its OIDs");
  command->add_option("--token", options->token,
                      "Bearer token to send (visible to other local users; prefer --token-env)");
  command->add_option("--token-env", options->token_env,
                      "Environment variable holding the bearer token to send");
  command->add_flag("--bulk", options->bulk,
                    "Load NDJSON straight into the sandbox tenant's store through its admin API "
                    "(fast; resources keep the generator's ids)");
  command
      ->add_option("--entries-per-request", options->entries_per_request,
                   "Entries per transaction Bundle, several patients merged (default 500)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  command
      ->add_option("--bulk-request-bytes", options->bulk_request_bytes,
                   "NDJSON bytes per bulk-load request; keep under the sandbox's max_body_bytes "
                   "(default 4194304)")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30));
  command->add_option("--register-app", options->register_app,
                      "Register this client id with the sandbox tenant as a backend-services app "
                      "first (with --key-dir)");
  command->add_option("--key-dir", options->key_dir,
                      "The app's key folder (as `fhirbridge keys generate` makes; created with an "
                      "RS384 key when missing)");
  command->add_option("--scopes", options->scopes,
                      "Scopes the tenant grants the registered app (default system/*.rs)");
  command->add_flag("--json", options->json, "Print the report as one JSON object");
  command->callback([&run, options] { run = [options] { return RunSeed(*options); }; });
}

}  // namespace fhirbridge::cli
