#include "cli/sites_command.h"

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "auth/capabilities.h"
#include "auth/site_auth.h"
#include "auth/token_vault.h"
#include "base/clock.h"
#include "base/secret.h"
#include "cli/exit_codes.h"
#include "fhir/json.h"
#include "http/client.h"
#include "observe/log.h"
#include "sites/site_bundle.h"
#include "smart/scopes.h"

namespace fhirbridge::cli {
namespace {

struct SitesOptions {
  std::string folder = "sites";
  std::string name;
  bool json = false;
  std::string granted;
  bool granted_given = false;
  std::string capability_statement_file;
  bool fetch = false;
  bool live = false;
  std::string home;
  std::string user;
};

struct VaultOptions {
  std::string home;
  std::string vault_path;
  std::string key_file;
  std::string site;
  std::string user;
  bool json = false;
};

int Report(const base::Error& error, int code) {
  std::cerr << "fhirbridge: " << error.ToString() << "\n";
  return code;
}

int ExitCodeFor(const base::Error& error) {
  switch (error.code) {
    case base::ErrorCode::kConfigInvalid:
    case base::ErrorCode::kConfigNotFound:
    case base::ErrorCode::kSecretUnavailable:
    case base::ErrorCode::kVaultUnreadable:
    case base::ErrorCode::kInsecureTransport:
      return kExitConfig;
    default:
      return kExitFailure;
  }
}

int Check(const SitesOptions& options) {
  auto sites = sites::LoadSites(options.folder, sites::EnvironmentVariables::FromProcess());
  if (!sites) {
    if (options.json) {
      fhir::Json problems = fhir::Json::array();
      std::istringstream lines(sites.error().diagnostic);
      for (std::string line; std::getline(lines, line);) problems.push_back(line);
      std::cout << fhir::Json{{"ok", false}, {"problems", std::move(problems)}}.dump(2) << "\n";
      return ExitCodeFor(sites.error());
    }
    return Report(sites.error(), ExitCodeFor(sites.error()));
  }
  if (options.json) {
    fhir::Json list = fhir::Json::array();
    for (const auto& site : *sites) {
      list.push_back({{"name", site.config.name},
                      {"environment", sites::EnvironmentName(site.config.environment)},
                      {"auth_mode", sites::AuthModeName(site.config.auth_mode)},
                      {"fingerprint", site.fingerprint}});
    }
    std::cout << fhir::Json{{"ok", true}, {"sites", std::move(list)}}.dump(2) << "\n";
    return kExitOk;
  }
  for (const auto& site : *sites) {
    std::cout << site.config.name << ": " << sites::EnvironmentName(site.config.environment) << ", "
              << sites::AuthModeName(site.config.auth_mode) << ", fingerprint "
              << site.fingerprint.substr(0, 16);
    if (!site.overrides.empty()) {
      std::cout << ", " << site.overrides.size() << " key(s) from the environment";
    }
    std::cout << "\n";
  }
  std::cout << options.folder << ": " << sites->size() << " site bundle(s), no problems found\n";
  return kExitOk;
}

int Show(const SitesOptions& options) {
  const auto environment = sites::EnvironmentVariables::FromProcess();
  auto site = sites::LoadSite(options.folder, options.name, environment);
  if (!site) return Report(site.error(), ExitCodeFor(site.error()));
  if (options.json) {
    std::cout << sites::SiteToJson(*site, &environment).dump(2) << "\n";
  } else {
    std::cout << sites::SiteToText(*site, &environment);
  }
  return kExitOk;
}

base::Result<fhir::Json> FetchCapabilityStatement(const sites::SiteConfig& site) {
  http::Client client;
  http::ClientRequest request;
  request.url = site.base_url + "/metadata";
  // Without Accept, Epic answers /metadata in XML; Epic-Client-ID picks the client's endpoints.
  request.headers = {{"Accept", "application/fhir+json"}, {"Epic-Client-ID", site.client_id}};
  request.timeout = site.request_timeout;
  auto response = client.Send(request);
  if (!response) return base::Fail(response.error());
  if (response->status != 200) {
    return base::Fail(
        base::ErrorCode::kCapabilityUnavailable,
        "the site answered " + std::to_string(response->status) + " to GET " + request.url);
  }
  auto parsed = fhir::ParseJson(response->body);
  if (!parsed) {
    return base::Fail(base::ErrorCode::kCapabilityUnavailable,
                      "the site's /metadata is not JSON: " + parsed.error().diagnostic);
  }
  return parsed;
}

// --live: a real token from the site (its granted scopes) and its CapabilityStatement.
int LiveCapabilities(const SitesOptions& options) {
  observe::SetMinimumLogLevel(observe::LogLevel::kError);
  const auto environment = sites::EnvironmentVariables::FromProcess();
  auto site = sites::LoadSite(options.folder, options.name, environment);
  if (!site) return Report(site.error(), ExitCodeFor(site.error()));
  auto home = auth::ResolveRuntimeHome(options.home, environment);
  if (!home) return Report(home.error(), ExitCodeFor(home.error()));
  std::unique_ptr<auth::TokenVault> vault;
  if (site->config.auth_mode != sites::AuthMode::kBackendServices ||
      auth::HasVaultKey(*home, environment)) {
    auto opened = auth::OpenHomeVault(*home, environment);
    if (!opened) return Report(opened.error(), ExitCodeFor(opened.error()));
    vault = std::move(*opened);
  }
  auth::DiscoveryCache discovery;
  auth::SiteAuthOptions auth_options;
  auth_options.discovery = &discovery;
  auth_options.vault = vault.get();
  auth_options.user = options.user.empty() ? auth::DefaultVaultUser(environment) : options.user;
  auth_options.environment = environment;
  auth::SiteAuth site_auth(std::move(*site), std::move(auth_options));
  const sites::SiteConfig& config = site_auth.site().config;

  auto source = site_auth.TokenSource();
  if (!source) return Report(source.error(), ExitCodeFor(source.error()));
  if (auto token = (*source)->AccessToken(); !token) {
    return Report(token.error(), ExitCodeFor(token.error()));
  }
  auto statement = site_auth.FetchCapabilityStatement();
  if (!statement) return Report(statement.error(), kExitFailure);
  auto matrix = site_auth.Capabilities(**source, &*statement);
  if (!matrix) return Report(matrix.error(), kExitFailure);

  const auth::TokenStatus status = (*source)->Status();
  if (options.json) {
    fhir::Json json = matrix->ToJson();
    json["site"] = config.name;
    json["granted_scopes"] = status.scopes;
    json["live"] = true;
    std::cout << json.dump(2) << "\n";
  } else {
    std::cout << "capabilities of site " << config.name << " (" << config.base_url
              << "), live: granted scopes " << (status.scope.empty() ? "(none)" : status.scope)
              << "\n\n"
              << matrix->ToText();
  }
  return kExitOk;
}

int Capabilities(const SitesOptions& options) {
  if (options.live) {
    if (options.granted_given || !options.capability_statement_file.empty() || options.fetch) {
      std::cerr << "fhirbridge: --live gets the granted scopes and the CapabilityStatement from "
                   "the site; leave out --granted, --capability-statement and --fetch\n";
      return kExitUsage;
    }
    return LiveCapabilities(options);
  }
  auto site =
      sites::LoadSite(options.folder, options.name, sites::EnvironmentVariables::FromProcess());
  if (!site) return Report(site.error(), ExitCodeFor(site.error()));
  const sites::SiteConfig& config = site->config;

  std::optional<fhir::Json> statement;
  if (!options.capability_statement_file.empty()) {
    std::ifstream file(options.capability_statement_file, std::ios::binary);
    if (!file) {
      std::cerr << "fhirbridge: cannot read --capability-statement "
                << options.capability_statement_file << "\n";
      return kExitUsage;
    }
    std::ostringstream text;
    text << file.rdbuf();
    auto parsed = fhir::ParseJson(text.str());
    if (!parsed) return Report(parsed.error(), kExitFailure);
    statement = std::move(*parsed);
  } else if (options.fetch) {
    auto fetched = FetchCapabilityStatement(config);
    if (!fetched) return Report(fetched.error(), kExitFailure);
    statement = std::move(*fetched);
  }

  std::string granted_text = options.granted;
  std::string assumption;
  if (!options.granted_given) {
    granted_text.clear();
    for (const auto& scope : config.scopes)
      granted_text += (granted_text.empty() ? "" : " ") + scope;
    assumption = "no --granted scopes given: assuming the site granted what the bundle requests";
  }

  auth::CapabilityOptions matrix_options;
  matrix_options.contexts =
      config.auth_mode == sites::AuthMode::kBackendServices
          ? std::vector<smart::Context>{smart::Context::kSystem}
          : std::vector<smart::Context>{smart::Context::kPatient, smart::Context::kUser};
  matrix_options.extra_types = config.sync_resource_types;
  auto matrix = auth::CapabilityMatrix::Build(smart::ParseScopes(granted_text),
                                              statement ? &*statement : nullptr, matrix_options);
  if (!matrix) return Report(matrix.error(), kExitFailure);

  if (options.json) {
    fhir::Json json = matrix->ToJson();
    json["site"] = config.name;
    if (!assumption.empty()) json["notes"].push_back(assumption);
    std::cout << json.dump(2) << "\n";
  } else {
    std::cout << "capabilities of site " << config.name << " (" << config.base_url << ")\n\n"
              << matrix->ToText();
    if (!assumption.empty()) std::cout << "  " << assumption << "\n";
  }
  return kExitOk;
}

base::Result<std::unique_ptr<auth::TokenVault>> OpenVault(const VaultOptions& options) {
  if (options.vault_path.empty()) {
    const auto environment = sites::EnvironmentVariables::FromProcess();
    auto home = auth::ResolveRuntimeHome(options.home, environment);
    if (!home) return base::Fail(home.error());
    if (!options.key_file.empty()) {
      VaultOptions explicit_key = options;
      explicit_key.vault_path = home->vault_path().string();
      return OpenVault(explicit_key);
    }
    return auth::OpenHomeVault(*home, environment);
  }
  // Tokens are about to be in memory: no core file may hold them.
  if (auto disabled = base::DisableCoreDumps(); !disabled) return base::Fail(disabled.error());
  std::optional<std::filesystem::path> key_file;
  if (!options.key_file.empty()) key_file = options.key_file;
  std::optional<std::string_view> environment_key;
  if (const char* value = std::getenv(std::string(auth::kVaultKeyVariable).c_str())) {
    environment_key = value;
  }
  auto key = auth::LoadVaultKey(key_file, environment_key);
  if (!key) return base::Fail(key.error());
  return auth::TokenVault::Open(options.vault_path, std::move(*key));
}

int InitKey(const VaultOptions& options) {
  std::filesystem::path key_file = options.key_file;
  if (key_file.empty()) {
    auto home = auth::ResolveRuntimeHome(options.home, sites::EnvironmentVariables::FromProcess());
    if (!home) return Report(home.error(), ExitCodeFor(home.error()));
    std::error_code error;
    if (!std::filesystem::exists(home->folder, error)) {
      std::filesystem::create_directories(home->folder, error);
      std::filesystem::permissions(home->folder, std::filesystem::perms::owner_all, error);
    }
    key_file = home->key_path();
  }
  if (auto created = auth::CreateVaultKeyFile(key_file); !created) {
    return Report(created.error(), ExitCodeFor(created.error()));
  }
  std::cout << "Wrote a new vault key to " << key_file.string()
            << " (mode 0600). Keep it out of version control and back it up: tokens sealed "
               "under it cannot be read without it.\n";
  return kExitOk;
}

int List(const VaultOptions& options) {
  auto vault = OpenVault(options);
  if (!vault) return Report(vault.error(), ExitCodeFor(vault.error()));
  auto entries = (*vault)->List();
  if (!entries) return Report(entries.error(), kExitFailure);
  if (options.json) {
    fhir::Json list = fhir::Json::array();
    for (const auto& entry : *entries) {
      list.push_back({{"site", entry.site},
                      {"user", entry.user},
                      {"expires_at", base::FormatInstant(entry.expires_at)},
                      {"updated_at", base::FormatInstant(entry.updated_at)},
                      {"has_refresh_token", entry.has_refresh_token}});
    }
    std::cout << list.dump(2) << "\n";
    return kExitOk;
  }
  if (entries->empty()) std::cout << "The vault holds no tokens.\n";
  const auto now = std::chrono::system_clock::now();
  for (const auto& entry : *entries) {
    std::cout << entry.site << "  " << entry.user << "  expires "
              << base::FormatInstant(entry.expires_at)
              << (entry.expires_at <= now ? " (expired)" : "")
              << (entry.has_refresh_token ? "  refresh token held" : "") << "\n";
  }
  return kExitOk;
}

int Erase(const VaultOptions& options) {
  auto vault = OpenVault(options);
  if (!vault) return Report(vault.error(), ExitCodeFor(vault.error()));
  auto erased = (*vault)->Erase(options.site, options.user);
  if (!erased) return Report(erased.error(), kExitFailure);
  if (!*erased) {
    std::cerr << "fhirbridge: the vault holds no tokens for site " << options.site
              << " and that user\n";
    return kExitFailure;
  }
  std::cout << "Erased the tokens of site " << options.site << " for that user.\n";
  return kExitOk;
}

}  // namespace

void AddSitesCommands(CLI::App& app, std::function<int()>& run) {
  auto options = std::make_shared<SitesOptions>();
  CLI::App* sites = app.add_subcommand(
      "sites", "Site configuration bundles: validate them, show one, print its capabilities");
  sites->require_subcommand(1);

  CLI::App* check = sites->add_subcommand(
      "check", "Validate every bundle of a folder; report each mistake with file, line and key");
  CLI::App* show = sites->add_subcommand(
      "show",
      "Print a site's effective configuration (environment overrides applied, secrets "
      "masked) and its fingerprint");
  CLI::App* capabilities = sites->add_subcommand(
      "capabilities",
      "Print what the site allows: granted scopes x its CapabilityStatement, per resource type "
      "and interaction, with the reason for each refusal");
  for (CLI::App* command : {check, show, capabilities}) {
    command->add_option("--dir", options->folder, "Folder of the site bundles (default sites)");
    command->add_flag("--json", options->json, "Print JSON");
  }
  for (CLI::App* command : {show, capabilities}) {
    command->add_option("name", options->name, "The site's name (its bundle's file name)")
        ->required();
  }
  capabilities
      ->add_option("--granted", options->granted,
                   "The scope string the site granted (default: the scopes the bundle requests)")
      ->each([options](const std::string&) { options->granted_given = true; });
  auto* file_option =
      capabilities->add_option("--capability-statement", options->capability_statement_file,
                               "A CapabilityStatement JSON file");
  capabilities
      ->add_flag("--fetch", options->fetch, "Fetch the CapabilityStatement from BASE/metadata")
      ->excludes(file_option);
  capabilities->add_flag("--live", options->live,
                         "Obtain a real token (backend services, or a refresh from the vault) and "
                         "fetch the CapabilityStatement: the matrix of what the site grants now");
  capabilities->add_option("--home", options->home,
                           "With --live: runtime home holding vault.db and vault.key (default: "
                           "FHIRBRIDGE_HOME, else ~/.fhirbridge)");
  capabilities->add_option("--user", options->user,
                           "With --live, for a launch site: whose stored grant to use (default: "
                           "the account name)");
  check->callback([&run, options] { run = [options] { return Check(*options); }; });
  show->callback([&run, options] { run = [options] { return Show(*options); }; });
  capabilities->callback([&run, options] { run = [options] { return Capabilities(*options); }; });

  auto vault_options = std::make_shared<VaultOptions>();
  CLI::App* vault = app.add_subcommand(
      "vault", "The encrypted token vault: create its key, list or erase stored tokens");
  vault->require_subcommand(1);
  CLI::App* init_key =
      vault->add_subcommand("init-key", "Write a new random vault key file (mode 0600)");
  init_key->add_option("--key-file", vault_options->key_file,
                       "Where to write the key (default: vault.key in the runtime home)");
  init_key->add_option("--home", vault_options->home,
                       "Runtime home (default: FHIRBRIDGE_HOME, else ~/.fhirbridge)");
  CLI::App* list = vault->add_subcommand(
      "list", "List the stored entries: site, user, expiry (never token text)");
  CLI::App* erase =
      vault->add_subcommand("erase", "Erase the tokens stored for one user of one site");
  for (CLI::App* command : {list, erase}) {
    command->add_option("--home", vault_options->home,
                        "Runtime home holding vault.db and vault.key (default: FHIRBRIDGE_HOME, "
                        "else ~/.fhirbridge)");
    command->add_option("--vault", vault_options->vault_path,
                        "The vault file (default: vault.db in the runtime home)");
    command->add_option("--key-file", vault_options->key_file,
                        "The vault key file (default: vault.key in the runtime home, else the "
                        "FHIRBRIDGE_VAULT_KEY variable)");
  }
  list->add_flag("--json", vault_options->json, "Print JSON");
  erase->add_option("--site", vault_options->site, "The site")->required();
  erase->add_option("--user", vault_options->user, "The user (\"system\" for backend services)")
      ->required();
  init_key->callback(
      [&run, vault_options] { run = [vault_options] { return InitKey(*vault_options); }; });
  list->callback([&run, vault_options] { run = [vault_options] { return List(*vault_options); }; });
  erase->callback(
      [&run, vault_options] { run = [vault_options] { return Erase(*vault_options); }; });
}

}  // namespace fhirbridge::cli
