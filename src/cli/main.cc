// The fhirbridge command. Exceptions stop here: every subcommand returns an exit code and
// reports failures as one clear message on standard error.

#include <pthread.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <functional>
#include <iostream>

#include "cli/auth_commands.h"
#include "cli/demo_command.h"
#include "cli/exit_codes.h"
#include "cli/fleet_command.h"
#include "cli/login_command.h"
#include "cli/seed_command.h"
#include "cli/sites_command.h"
#include "cli/smoke_command.h"
#include "cli/sync_command.h"
#include "cli/synth_command.h"
#include "cli/worker_command.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "sandbox/sandbox_server.h"
#include "sandbox/tenant_config.h"

namespace {

using namespace fhirbridge;
using namespace fhirbridge::cli;

struct SandboxServeOptions {
  std::string config_path;
  std::string host;
  int port = -1;
  int threads = -1;
  std::string log_level = "info";
};

// Blocks SIGINT and SIGTERM in this thread and every thread started after it, so that the
// signals can be awaited synchronously by sigwait instead of interrupting a worker.
sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int RunSandboxServe(const SandboxServeOptions& options) {
  const auto level = observe::ParseLogLevel(options.log_level);
  if (!level) {
    std::cerr << "fhirbridge: --log-level must be debug, info, warning or error\n";
    return kExitUsage;
  }
  observe::SetMinimumLogLevel(*level);

  auto config = options.config_path.empty() ? sandbox::DefaultSandboxConfig()
                                            : sandbox::LoadSandboxConfig(options.config_path);
  if (!config) {
    std::cerr << "fhirbridge: the sandbox configuration is not usable:\n"
              << config.error().ToString() << "\n";
    return kExitConfig;
  }
  if (!options.host.empty()) config->server.host = options.host;
  if (options.port >= 0) config->server.port = static_cast<unsigned short>(options.port);
  if (options.threads >= 0) config->server.threads = static_cast<unsigned>(options.threads);

  const sigset_t signals = BlockShutdownSignals();
  auto server =
      sandbox::SandboxServer::Start(std::move(*config), observe::MetricsRegistry::Global());
  if (!server) {
    std::cerr << "fhirbridge: the sandbox did not start: " << server.error().ToString() << "\n";
    return kExitFailure;
  }

  const std::string origin = (*server)->Origin();
  std::cout << "fhirbridge sandbox is serving " << (*server)->config().tenants.size()
            << " tenants at " << origin << "\n";
  for (const auto& tenant : (*server)->config().tenants) {
    std::cout << "  " << tenant.display_name << " (" << tenant.build_level << "): " << origin << "/"
              << tenant.name << "/api/FHIR/R4/metadata\n";
  }
  std::cout << "  admin: " << origin << "/admin/tenants   metrics: " << origin
            << "/metrics\nPress Ctrl-C to stop.\n"
            << std::flush;

  observe::LogEvent started;
  started.event = "sandbox.started";
  started.subsystem = "sandbox";
  started.message = "The sandbox is listening.";
  started.attributes.push_back({"port", static_cast<std::int64_t>((*server)->port())});
  observe::Log(started);

  int received = 0;
  sigwait(&signals, &received);

  observe::LogEvent stopping;
  stopping.event = "sandbox.stopping";
  stopping.subsystem = "sandbox";
  stopping.message = "Shutdown signal received; finishing in-flight requests.";
  stopping.attributes.push_back({"signal", static_cast<std::int64_t>(received)});
  observe::Log(stopping);
  (*server)->Stop();
  (*server)->Wait();
  std::cout << "fhirbridge sandbox stopped.\n";
  return kExitOk;
}

int RunSandboxCheck(const std::string& path) {
  auto config = path.empty() ? sandbox::DefaultSandboxConfig() : sandbox::LoadSandboxConfig(path);
  if (!config) {
    std::cerr << config.error().ToString() << "\n";
    return kExitConfig;
  }
  std::cout << (path.empty() ? "embedded configuration" : path) << ": " << config->tenants.size()
            << " tenants, " << config->build_levels.size() << " build levels, no problems found\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fhirbridge: integrate one application with many Epic organisations, and test "
      "against an Epic-like sandbox."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "fhirbridge 0.1.0");

  CLI::App* sandbox_command =
      app.add_subcommand("sandbox", "The Epic-like multi-tenant FHIR R4 sandbox server");
  sandbox_command->require_subcommand(1);

  // Subcommands defined in files of their own set this to the work they were asked for.
  std::function<int()> run_chosen_command;
  cli::AddAuthCommands(app, *sandbox_command, run_chosen_command);
  cli::AddSynthCommand(app, run_chosen_command);
  cli::AddLoginCommands(app, run_chosen_command);
  cli::AddSitesCommands(app, run_chosen_command);
  cli::AddSeedCommand(app, run_chosen_command);
  cli::AddSmokeCommand(app, run_chosen_command);
  cli::AddSyncCommand(app, run_chosen_command);
  cli::AddFleetCommand(app, run_chosen_command);
  cli::AddWorkerCommand(app, run_chosen_command);
  cli::AddDemoCommand(app, run_chosen_command);

  SandboxServeOptions serve_options;
  CLI::App* serve = sandbox_command->add_subcommand(
      "serve", "Serve every tenant of the configuration until SIGINT or SIGTERM");
  serve
      ->add_option("--config", serve_options.config_path,
                   "Tenant file (TOML); default: the configuration built into the binary")
      ->check(CLI::ExistingFile);
  serve->add_option("--host", serve_options.host, "Address to listen on (overrides the file)");
  serve->add_option("--port", serve_options.port, "Port to listen on; 0 picks a free one")
      ->check(CLI::Range(0, 65535));
  serve->add_option("--threads", serve_options.threads, "Worker threads; 0 means one per core")
      ->check(CLI::Range(0, 256));
  serve->add_option("--log-level", serve_options.log_level,
                    "debug, info, warning or error (default info)");

  std::string check_path;
  CLI::App* check = sandbox_command->add_subcommand(
      "check-config", "Validate a tenant file and report every mistake with its line");
  check->add_option("file", check_path, "Tenant file (TOML); default: the built-in one");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? kExitOk : kExitUsage;
  }

  try {
    if (run_chosen_command) return run_chosen_command();
    if (serve->parsed()) return RunSandboxServe(serve_options);
    if (check->parsed()) return RunSandboxCheck(check_path);
  } catch (const std::exception& error) {
    std::cerr << "fhirbridge: unexpected failure: " << error.what() << "\n";
    return kExitFailure;
  }
  return kExitUsage;
}
