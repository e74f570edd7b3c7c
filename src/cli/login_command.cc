#include "cli/login_command.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "auth/authorized_request.h"
#include "auth/backend_services.h"
#include "auth/launch.h"
#include "auth/redirect_listener.h"
#include "auth/site_auth.h"
#include "auth/smart_discovery.h"
#include "base/clock.h"
#include "cli/exit_codes.h"
#include "cli/site_options.h"
#include "observe/log.h"
#include "sites/site_bundle.h"

namespace fhirbridge::cli {
namespace {

// Where a site's bundle and the runtime home (its vault) are.
struct SiteSelection {
  std::string name;  // empty: the explicit flags describe the server
  std::string folder = "sites";
  std::string home;
  std::string user;  // empty: the account running the command
};

struct TokenOptions {
  SiteSelection site;
  std::string fhir_base;
  std::string token_url;
  std::string client_id;
  std::string key_dir;
  std::string scope;
  std::string algorithm;
  std::string jku;
  std::string check_url;
  bool json = false;
  bool print_token = false;
};

struct LoginOptions {
  SiteSelection site;
  std::string fhir_base;
  std::string client_id;
  std::string launch;
  std::string scope;
  int port = 0;
  std::string path = "/callback";
  int timeout_seconds = 300;
  std::string client_secret_env;
  std::string key_dir;
  bool json = false;
  bool print_token = false;
};

int Report(const base::Error& error, int code) {
  std::cerr << "fhirbridge: " << error.ToString() << "\n";
  return code;
}

// Failures of the remote side are exit 1; a missing or unusable bundle, key or vault is a
// configuration problem (exit 3).
int ExitFor(const base::Error& error) {
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

std::string_view SourceName(auth::SmartConfiguration::Source source) {
  return source == auth::SmartConfiguration::Source::kWellKnown ? "well-known"
                                                                : "capability-statement";
}

std::int64_t SecondsLeft(base::SystemTime expires) {
  return std::chrono::duration_cast<std::chrono::seconds>(expires -
                                                          std::chrono::system_clock::now())
      .count();
}

// These commands report their outcome themselves; the library's event lines would repeat it.
void QuietLogs() { observe::SetMinimumLogLevel(observe::LogLevel::kError); }

// The vault's user for a launch: --user, else the account running the command.
std::string VaultUser(const SiteSelection& selection,
                      const sites::EnvironmentVariables& environment) {
  return selection.user.empty() ? auth::DefaultVaultUser(environment) : selection.user;
}

// A site by name with its vault: the vault is opened when the site's mode needs it, or when a
// key for it exists (backend services then store their tokens too).
struct OpenedSite {
  std::unique_ptr<auth::TokenVault> vault;
  std::unique_ptr<auth::DiscoveryCache> discovery;
  std::unique_ptr<auth::SiteAuth> auth;
};

base::Result<OpenedSite> OpenSite(const SiteSelection& selection) {
  const auto environment = sites::EnvironmentVariables::FromProcess();
  auto site = sites::LoadSite(selection.folder, selection.name, environment);
  if (!site) return base::Fail(site.error());
  auto home = auth::ResolveRuntimeHome(selection.home, environment);
  if (!home) return base::Fail(home.error());

  OpenedSite opened;
  const bool launch = site->config.auth_mode != sites::AuthMode::kBackendServices;
  if (launch || auth::HasVaultKey(*home, environment)) {
    auto vault = auth::OpenHomeVault(*home, environment);
    if (!vault) return base::Fail(vault.error());
    opened.vault = std::move(*vault);
  }
  opened.discovery = std::make_unique<auth::DiscoveryCache>();
  auth::SiteAuthOptions options;
  options.discovery = opened.discovery.get();
  options.vault = opened.vault.get();
  options.user = VaultUser(selection, environment);
  options.environment = environment;
  opened.auth = std::make_unique<auth::SiteAuth>(std::move(*site), std::move(options));
  return opened;
}

int RunSiteToken(const TokenOptions& options) {
  auto opened = OpenSite(options.site);
  if (!opened) return Report(opened.error(), ExitFor(opened.error()));
  auth::SiteAuth& site_auth = *opened->auth;
  const sites::SiteConfig& config = site_auth.site().config;

  auto source = site_auth.TokenSource();
  if (!source) return Report(source.error(), ExitFor(source.error()));
  auto token = (*source)->AccessToken();
  if (!token) return Report(token.error(), ExitFor(token.error()));
  const auth::TokenStatus status = (*source)->Status();
  const std::string how = (*source)->reused_stored_token() ? "reused from the vault"
                          : config.auth_mode == sites::AuthMode::kBackendServices
                              ? "obtained with a signed assertion"
                              : "refreshed with the stored refresh token";

  int check_status = 0;
  if (!options.check_url.empty()) {
    http::Client client;
    http::ClientRequest request;
    request.url = options.check_url;
    request.headers.push_back({"Accept", "application/fhir+json"});
    auto response = auth::SendWithToken(client, **source, request);
    if (!response) return Report(response.error(), kExitFailure);
    check_status = response->status;
  }

  const bool stored = opened->vault != nullptr;
  if (options.json) {
    nlohmann::json out = {{"site", config.name},
                          {"auth_mode", sites::AuthModeName(config.auth_mode)},
                          {"user", site_auth.user()},
                          {"token", how},
                          {"token_type", "Bearer"},
                          {"expires_in", SecondsLeft(status.expires)},
                          {"expires_at", base::FormatInstant(status.expires)},
                          {"expiry_assumed", status.expiry_assumed},
                          {"scope", status.scope},
                          {"scopes", status.scopes},
                          {"stored_in_vault", stored}};
    if (check_status != 0) out["check_status"] = check_status;
    if (options.print_token) out["access_token"] = *token;
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "Site " << config.name << " (" << sites::AuthModeName(config.auth_mode)
              << "): token " << how << "\n  expires: " << base::FormatInstant(status.expires)
              << " (in " << SecondsLeft(status.expires) << " s"
              << (status.expiry_assumed ? ", assumed: the server sent no expires_in" : "")
              << ")\n  granted scopes: " << (status.scope.empty() ? "(not stated)" : status.scope)
              << "\n  vault: " << (stored ? "stored for user " + site_auth.user() : "not used")
              << "\n";
    if (check_status != 0) {
      std::cout << "  GET " << options.check_url << " answered HTTP " << check_status << "\n";
    }
    if (options.print_token) std::cout << *token << "\n";
  }
  if (check_status != 0 && (check_status < 200 || check_status > 299)) return kExitFailure;
  return kExitOk;
}

int RunToken(const TokenOptions& options) {
  QuietLogs();
  if (!options.site.name.empty()) {
    if (!options.fhir_base.empty() || !options.token_url.empty() || !options.client_id.empty() ||
        !options.key_dir.empty() || !options.scope.empty() || !options.algorithm.empty()) {
      std::cerr << "fhirbridge: give a site name or the explicit flags (--fhir-base, "
                   "--token-url, --client-id, --key-dir, --scope, --alg), not both\n";
      return kExitUsage;
    }
    return RunSiteToken(options);
  }
  if (options.client_id.empty() || options.key_dir.empty()) {
    std::cerr << "fhirbridge: give a site name, or --client-id and --key-dir with --fhir-base "
                 "or --token-url\n";
    return kExitUsage;
  }
  if (options.fhir_base.empty() == options.token_url.empty()) {
    std::cerr << "fhirbridge: give exactly one of --fhir-base (discovery) or --token-url\n";
    return kExitUsage;
  }
  std::optional<jose::Algorithm> algorithm;
  if (!options.algorithm.empty()) {
    algorithm = jose::ParseAlgorithm(options.algorithm);
    if (!algorithm) {
      std::cerr << "fhirbridge: --alg must be RS384, ES384, RS256, RS512 or ES256\n";
      return kExitUsage;
    }
  }

  http::Client client;
  std::string token_endpoint = options.token_url;
  std::string discovered_from = "given";
  if (!options.fhir_base.empty()) {
    auto discovered = auth::Discover(client, options.fhir_base);
    if (!discovered) return Report(discovered.error(), kExitFailure);
    token_endpoint = discovered->configuration.token_endpoint;
    discovered_from = SourceName(discovered->configuration.source);
  }

  auth::BackendServicesOptions source_options;
  source_options.client_id = options.client_id;
  source_options.token_endpoint = token_endpoint;
  source_options.scope = options.scope;
  source_options.assertion_keys =
      auth::KeyRingAssertionKeys(options.key_dir, algorithm, options.jku);
  auth::BackendServicesTokenSource source(std::move(source_options));
  auto token = source.AccessToken();
  if (!token) return Report(token.error(), ExitFor(token.error()));
  const auth::TokenStatus status = source.Status();

  int check_status = 0;
  if (!options.check_url.empty()) {
    http::ClientRequest request;
    request.url = options.check_url;
    request.headers.push_back({"Accept", "application/fhir+json"});
    auto response = auth::SendWithToken(client, source, request);
    if (!response) return Report(response.error(), kExitFailure);
    check_status = response->status;
  }

  if (options.json) {
    nlohmann::json out = {{"token_endpoint", token_endpoint},
                          {"discovery", discovered_from},
                          {"token_type", "Bearer"},
                          {"expires_in", SecondsLeft(status.expires)},
                          {"expires_at", base::FormatInstant(status.expires)},
                          {"expiry_assumed", status.expiry_assumed},
                          {"scope", status.scope}};
    if (check_status != 0) out["check_status"] = check_status;
    if (options.print_token) out["access_token"] = *token;
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "Obtained a backend-services token from " << token_endpoint << " (endpoint "
              << discovered_from << ")\n  expires: " << base::FormatInstant(status.expires)
              << " (in " << SecondsLeft(status.expires) << " s"
              << (status.expiry_assumed ? ", assumed: the server sent no expires_in" : "")
              << ")\n  granted scope: " << (status.scope.empty() ? "(not stated)" : status.scope)
              << "\n";
    if (check_status != 0) {
      std::cout << "  GET " << options.check_url << " answered HTTP " << check_status << "\n";
    }
    if (options.print_token) std::cout << *token << "\n";
  }
  if (check_status != 0 && (check_status < 200 || check_status > 299)) return kExitFailure;
  return kExitOk;
}

// The loopback port and path of a bundle's redirect_uri ("http://127.0.0.1:8765/callback"), for
// the listener that receives the browser; kConfigInvalid when it is not a loopback http URL.
base::Result<auth::RedirectListenerOptions> LoopbackListener(const sites::SiteConfig& config) {
  const std::string& uri = config.redirect_uri;
  auto refuse = [&] {
    return base::Fail(base::ErrorCode::kConfigInvalid,
                      "site " + config.name +
                          ": auth.redirect_uri must be http://127.0.0.1:PORT/PATH (or localhost) "
                          "for `auth login`, which receives the browser on loopback");
  };
  std::string_view rest = uri;
  std::string host;
  for (std::string_view prefix : {"http://127.0.0.1:", "http://localhost:"}) {
    if (rest.starts_with(prefix)) {
      host = prefix.substr(7, prefix.size() - 8);
      rest.remove_prefix(prefix.size());
    }
  }
  if (host.empty()) return refuse();
  const std::size_t slash = rest.find('/');
  const std::string_view port_text = rest.substr(0, slash);
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string_view::npos) {
    return refuse();
  }
  const int port = std::stoi(std::string(port_text));
  if (port < 1 || port > 65535) return refuse();
  auth::RedirectListenerOptions listener;
  listener.port = static_cast<unsigned short>(port);
  listener.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (listener.path.find_first_of("?#") != std::string::npos) return refuse();
  return listener;
}

int RunSiteLogin(const LoginOptions& options) {
  auto opened = OpenSite(options.site);
  if (!opened) return Report(opened.error(), ExitFor(opened.error()));
  auth::SiteAuth& site_auth = *opened->auth;
  const sites::SiteConfig& config = site_auth.site().config;
  if (config.auth_mode == sites::AuthMode::kBackendServices) {
    std::cerr << "fhirbridge: site " << config.name
              << " uses backend services, where nobody logs in; use `fhirbridge auth token "
              << config.name << "`\n";
    return kExitUsage;
  }
  if ((config.auth_mode == sites::AuthMode::kEhrLaunch) == options.launch.empty()) {
    std::cerr << "fhirbridge: site " << config.name << " uses "
              << sites::AuthModeName(config.auth_mode)
              << (options.launch.empty() ? "; give the EHR's --launch value\n"
                                         : "; --launch belongs to EHR launches\n");
    return kExitUsage;
  }

  auto listener_options = LoopbackListener(config);
  if (!listener_options) return Report(listener_options.error(), kExitConfig);
  auto listener = auth::RedirectListener::Start(*listener_options);
  if (!listener) return Report(listener.error(), kExitFailure);

  auto configuration = site_auth.Discover();
  if (!configuration) return Report(configuration.error(), ExitFor(configuration.error()));
  auth::LaunchOptions launch_options;
  launch_options.client_id = config.client_id;
  // Sent as registered: the bundle's text, which the listener answers.
  launch_options.redirect_uri = config.redirect_uri;
  launch_options.scope = options.scope.empty() ? site_auth.RequestedScope() : options.scope;
  launch_options.launch = options.launch;
  auto request = auth::PrepareAuthorization(*configuration, launch_options);
  if (!request) return Report(request.error(), ExitFor(request.error()));
  (*listener)->Expect(request->state);

  std::cerr << "Open this URL in a browser and sign in to " << config.name << " (waiting "
            << options.timeout_seconds << " s for the redirect to " << config.redirect_uri
            << "):\n\n  " << request->authorize_url << "\n\n"
            << std::flush;
  auto code = (*listener)->WaitForCode(std::chrono::seconds(options.timeout_seconds));
  if (!code) return Report(code.error(), kExitFailure);

  auto credentials = site_auth.LaunchCredentials();
  if (!credentials) return Report(credentials.error(), ExitFor(credentials.error()));
  http::Client client;
  auto tokens = auth::ExchangeCode(client, *configuration, *request, *code, *credentials,
                                   config.request_timeout);
  if (!tokens) return Report(tokens.error(), ExitFor(tokens.error()));
  const bool refresh_issued = !tokens->refresh_token.empty();
  const bool has_patient = !tokens->patient.empty();
  auto source = site_auth.TokenSourceFromLogin(std::move(*tokens));
  if (!source) return Report(source.error(), ExitFor(source.error()));
  const auth::TokenStatus status = (*source)->Status();

  if (options.json) {
    nlohmann::json out = {{"site", config.name},
                          {"auth_mode", sites::AuthModeName(config.auth_mode)},
                          {"user", site_auth.user()},
                          {"expires_in", SecondsLeft(status.expires)},
                          {"expires_at", base::FormatInstant(status.expires)},
                          {"scope", status.scope},
                          {"scopes", status.scopes},
                          {"refresh_token_issued", refresh_issued},
                          {"patient_context", has_patient},
                          {"stored_in_vault", true}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "Signed in to " << config.name << "; the grant is stored in the vault for user "
              << site_auth.user() << ".\n  granted scopes: " << status.scope
              << "\n  expires: " << base::FormatInstant(status.expires) << " (in "
              << SecondsLeft(status.expires)
              << " s)\n  refresh token: " << (refresh_issued ? "issued and stored" : "none")
              << "\n";
    if (has_patient) std::cout << "  patient context: present\n";
  }
  return kExitOk;
}

int RunLogin(const LoginOptions& options) {
  QuietLogs();
  if (!options.site.name.empty()) {
    if (!options.fhir_base.empty() || !options.client_id.empty() || options.port != 0 ||
        options.path != "/callback" || !options.client_secret_env.empty() ||
        !options.key_dir.empty() || options.print_token) {
      std::cerr << "fhirbridge: give a site name or the explicit flags (--fhir-base, "
                   "--client-id, --port, --path, --client-secret-env, --key-dir, "
                   "--print-token), not both\n";
      return kExitUsage;
    }
    return RunSiteLogin(options);
  }
  if (options.fhir_base.empty() || options.client_id.empty()) {
    std::cerr << "fhirbridge: give a site name, or --fhir-base and --client-id\n";
    return kExitUsage;
  }
  auth::ClientCredentials credentials;
  credentials.client_id = options.client_id;
  if (!options.client_secret_env.empty() && !options.key_dir.empty()) {
    std::cerr << "fhirbridge: give --client-secret-env or --key-dir, not both\n";
    return kExitUsage;
  }
  if (!options.client_secret_env.empty()) {
    // The secret comes from the environment so that it never appears in shell history or ps.
    const char* secret = std::getenv(options.client_secret_env.c_str());
    if (secret == nullptr) {
      std::cerr << "fhirbridge: environment variable " << options.client_secret_env
                << " is not set\n";
      return kExitUsage;
    }
    credentials.method = auth::ClientAuthMethod::kClientSecretBasic;
    credentials.client_secret = secret;
  } else if (!options.key_dir.empty()) {
    credentials.method = auth::ClientAuthMethod::kPrivateKeyJwt;
    credentials.assertion_keys = auth::KeyRingAssertionKeys(options.key_dir);
  }

  auth::RedirectListenerOptions listener_options;
  listener_options.port = static_cast<unsigned short>(options.port);
  listener_options.path = options.path;
  auto listener = auth::RedirectListener::Start(listener_options);
  if (!listener) return Report(listener.error(), kExitFailure);

  http::Client client;
  auth::DiscoveryCache discovery;
  auth::LaunchOptions launch_options;
  launch_options.client_id = options.client_id;
  launch_options.redirect_uri = (*listener)->redirect_uri();
  launch_options.scope = !options.scope.empty() ? options.scope
                         : options.launch.empty()
                             ? "openid fhirUser launch/patient offline_access patient/*.rs"
                             : "launch openid fhirUser offline_access patient/*.rs";
  base::Result<auth::AuthorizationRequest> request =
      options.launch.empty() ? [&]() -> base::Result<auth::AuthorizationRequest> {
    auto configuration = discovery.Get(client, options.fhir_base, "");
    if (!configuration) return base::Fail(configuration.error());
    return auth::PrepareAuthorization(*configuration, launch_options);
  }()
      : auth::BeginEhrLaunch(client, discovery, options.fhir_base, options.launch, launch_options,
                             {options.fhir_base});
  if (!request) return Report(request.error(), ExitFor(request.error()));
  (*listener)->Expect(request->state);

  // The URL goes to standard error so that --json output stays parseable.
  std::cerr << "Open this URL in a browser and sign in (waiting " << options.timeout_seconds
            << " s for the redirect to " << (*listener)->redirect_uri() << "):\n\n  "
            << request->authorize_url << "\n\n"
            << std::flush;
  auto code = (*listener)->WaitForCode(std::chrono::seconds(options.timeout_seconds));
  if (!code) return Report(code.error(), kExitFailure);

  auto configuration = discovery.Get(client, options.fhir_base, "");
  if (!configuration) return Report(configuration.error(), kExitFailure);
  auto tokens = auth::ExchangeCode(client, *configuration, *request, *code, credentials);
  if (!tokens) return Report(tokens.error(), ExitFor(tokens.error()));

  if (options.json) {
    nlohmann::json out = {{"token_endpoint", configuration->token_endpoint},
                          {"token_type", "Bearer"},
                          {"expires_in", tokens->expires_in.count()},
                          {"scope", tokens->scope},
                          {"refresh_token_issued", !tokens->refresh_token.empty()}};
    if (!tokens->patient.empty()) out["patient"] = tokens->patient;
    if (!tokens->encounter.empty()) out["encounter"] = tokens->encounter;
    if (tokens->need_patient_banner) out["need_patient_banner"] = *tokens->need_patient_banner;
    out["id_token_issued"] = !tokens->id_token.empty();
    if (options.print_token) {
      out["access_token"] = tokens->access_token;
      if (!tokens->refresh_token.empty()) out["refresh_token"] = tokens->refresh_token;
    }
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "Signed in.\n  granted scope: " << tokens->scope
              << "\n  expires in: " << tokens->expires_in.count()
              << " s\n  refresh token: " << (tokens->refresh_token.empty() ? "none" : "issued")
              << "\n";
    if (!tokens->patient.empty()) std::cout << "  patient context: present\n";
    if (!tokens->encounter.empty()) std::cout << "  encounter context: present\n";
    if (options.print_token) std::cout << tokens->access_token << "\n";
  }
  return kExitOk;
}

}  // namespace

void AddLoginCommands(CLI::App& app, std::function<int()>& run) {
  CLI::App* auth_command =
      app.add_subcommand("auth", "SMART on FHIR authorization: backend-services tokens, logins");
  auth_command->require_subcommand(1);

  auto token_options = std::make_shared<TokenOptions>();
  auto add_site_options = [](CLI::App* command, SiteSelection& site) {
    command->add_option("site", site.name,
                        "The site's name (sites/NAME.toml); omit to use the explicit flags");
    AddSiteLocationOptions(*command, site.folder, site.home);
    command->add_option("--user", site.user,
                        "Whose grant to use or store for a launch (default: the account name)");
  };

  CLI::App* token = auth_command->add_subcommand(
      "token",
      "Obtain a token for a site by name (backend services, or a refresh from the vault after "
      "`auth login`), or a backend-services token from explicit flags");
  add_site_options(token, token_options->site);
  token->add_option("--fhir-base", token_options->fhir_base,
                    "FHIR base URL; the token endpoint is discovered from it");
  token->add_option("--token-url", token_options->token_url,
                    "Token endpoint, for servers without SMART discovery");
  token->add_option("--client-id", token_options->client_id, "Client id (without a site)");
  token->add_option("--key-dir", token_options->key_dir,
                    "Key folder, fhirbridge keys generate (without a site)");
  token->add_option("--scope", token_options->scope,
                    "Scopes to request, space-separated (default: none sent; the server grants "
                    "what is registered)");
  token->add_option("--alg", token_options->algorithm,
                    "Signing algorithm (default: the current key's; RS384 or ES384)");
  token->add_option("--jku", token_options->jku,
                    "Send this JWK Set URL as jku (must equal the registered URL)");
  token->add_option(
      "--check-url", token_options->check_url,
      "Also GET this URL with the token (renewing once on 401) and report its status");
  token->add_flag("--json", token_options->json, "Print the result as JSON");
  token->add_flag("--print-token", token_options->print_token,
                  "Also print the access token (it is a secret)");
  token->callback(
      [&run, token_options] { run = [token_options] { return RunToken(*token_options); }; });

  auto login_options = std::make_shared<LoginOptions>();
  CLI::App* login = auth_command->add_subcommand(
      "login",
      "Sign in through the browser (standalone launch, or EHR launch with --launch); with a "
      "site name the grant is stored in the vault");
  add_site_options(login, login_options->site);
  login->add_option("--fhir-base", login_options->fhir_base, "FHIR base URL, the iss (no site)");
  login->add_option("--client-id", login_options->client_id, "Client id (without a site)");
  login->add_option("--launch", login_options->launch,
                    "The launch value the EHR sent (EHR launch); omit for standalone launch");
  login->add_option("--scope", login_options->scope, "Scopes to request, space-separated");
  login
      ->add_option("--port", login_options->port,
                   "Loopback port of the redirect listener (default: a free one; must match "
                   "the registered redirect URI)")
      ->check(CLI::Range(0, 65535));
  login->add_option("--path", login_options->path, "Redirect path (default /callback)");
  login
      ->add_option("--timeout", login_options->timeout_seconds,
                   "Seconds to wait for the browser (default 300)")
      ->check(CLI::Range(1, 3600));
  login->add_option("--client-secret-env", login_options->client_secret_env,
                    "Environment variable holding a confidential client's secret");
  login->add_option("--key-dir", login_options->key_dir,
                    "Key folder for private_key_jwt client authentication");
  login->add_flag("--json", login_options->json, "Print the result as JSON");
  login->add_flag("--print-token", login_options->print_token,
                  "Also print the access and refresh tokens (they are secrets)");
  login->callback(
      [&run, login_options] { run = [login_options] { return RunLogin(*login_options); }; });
}

}  // namespace fhirbridge::cli
