#include "cli/worker_command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "auth/site_auth.h"
#include "cli/exit_codes.h"
#include "cli/site_options.h"
#include "fleet/sync_item.h"
#include "fleet/worker.h"
#include "observe/log.h"
#include "sites/site_bundle.h"
#include "sites/site_connection.h"
#include "store/replica_store.h"
#include "sync/site_page_source.h"
#include "sync/site_sync.h"
#include "sync/store_sync_sink.h"

namespace fhirbridge::cli {
namespace {

struct WorkerCommandOptions {
  std::string store;
  std::string schema;
  std::string folder = "sites";
  std::string home;
  std::string worker_id;
  bool once = false;
  int lease_ms = 30'000;
  int max_attempts = 5;
  int page_size = 1000;
  bool json = false;
  std::string log_level = "info";
};

// The worker a signal asks to stop; set while Run() runs.
std::atomic<fleet::FleetWorker*> signalled_worker{nullptr};

extern "C" void StopWorkerOnSignal(int) {
  fleet::FleetWorker* worker = signalled_worker.load();
  if (worker != nullptr) worker->RequestStop();  // an atomic store: safe in a handler
}

int Fail(const std::string& message, int code) {
  std::cerr << "fhirbridge worker: " << message << "\n";
  return code;
}

// Patient ids of a work item's cohort: "all" (or empty) gives none, "file:PATH" the file's lines,
// "group:ID" the Group's Patient members read from the site.
base::Result<std::vector<std::string>> CohortPatients(const std::string& cohort,
                                                      sites::SiteConnection& connection) {
  if (cohort.empty() || cohort == "all") return std::vector<std::string>{};
  if (cohort == connection.config().patient_cohort) return sync::ResolvePatientCohort(connection);
  return base::Fail(base::ErrorCode::kConfigInvalid,
                    "the work item's cohort is not the site bundle's sync.patient_cohort; plan "
                    "the fleet again after changing the bundle",
                    connection.config().name);
}

int RunWorker(const WorkerCommandOptions& command) {
  const auto level = observe::ParseLogLevel(command.log_level);
  if (!level) return Fail("--log-level must be debug, info, warning or error", kExitUsage);
  observe::SetMinimumLogLevel(*level);
  const auto environment = sites::EnvironmentVariables::FromProcess();
  auto home = auth::ResolveRuntimeHome(command.home, environment);
  if (!home) return Fail(home.error().ToString(), kExitConfig);

  auto store = store::OpenReplicaStore({command.store, command.schema});
  if (!store) return Fail(store.error().ToString(), kExitFailure);

  fleet::WorkerOptions options;
  options.worker_id = command.worker_id;
  if (options.worker_id.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    options.worker_id = std::string(host) + "-" + std::to_string(::getpid());
  }
  options.lease_duration = std::chrono::milliseconds(command.lease_ms);
  options.max_attempts = command.max_attempts;
  options.once = command.once;

  sync::LogProgress progress;
  sites::SiteLocation location;
  location.folder = command.folder;
  location.home = command.home;
  auto runner = [&](fleet::LeaseGuard& guard) -> base::Status {
    const store::WorkLease lease = guard.lease();
    // The site as every runtime feature reaches it: its bundle, token, traffic policy and the
    // capability matrix of what it granted (which decides the type's strategy, or its reason).
    auto opened = sites::OpenSiteByName(location, lease.key.site, environment);
    if (!opened) return std::unexpected(opened.error());
    sites::SiteConnection& connection = *opened->connection;
    if (auto matrix = connection.LoadCapabilities(); !matrix) {
      return std::unexpected(matrix.error());
    }
    auto patients = CohortPatients(lease.key.cohort, connection);
    if (!patients) return std::unexpected(patients.error());
    // The site's data goes into the shared store itself, beside the work queue.
    auto sink = sync::StoreSyncSink::Open({command.store, command.schema}, lease.key.site);
    if (!sink) return std::unexpected(sink.error());
    sync::SitePageSource source(connection, sites::MaintenanceMode::kWait);
    sync::SyncOptions sync_options = sync::SiteSyncOptions(connection, std::move(*patients));
    sync_options.page_size = command.page_size;
    fleet::SyncItemContext context{
        source,
        **sink,
        progress,
        **store,
        sync_options,
        connection.config().requests_per_second,
        sync::PermissionsFromMatrix(*connection.capabilities(), {lease.key.resource_type})};
    auto result = fleet::RunSyncItem(guard, context);
    if (!result) return std::unexpected(result.error());
    return {};
  };

  fleet::FleetWorker worker(**store, runner, options);
  signalled_worker.store(&worker);
  std::signal(SIGTERM, StopWorkerOnSignal);
  std::signal(SIGINT, StopWorkerOnSignal);
  auto stats = worker.Run();
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGINT, SIG_DFL);
  signalled_worker.store(nullptr);
  if (!stats) return Fail(stats.error().ToString(), kExitFailure);

  if (command.json) {
    std::cout << nlohmann::json{{"worker_id", options.worker_id}, {"completed", stats->completed},
                                {"retried", stats->retried},      {"failed", stats->failed},
                                {"released", stats->released},    {"lost", stats->lost}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << options.worker_id << ": " << stats->completed << " completed, " << stats->retried
              << " retried, " << stats->failed << " failed, " << stats->released << " released, "
              << stats->lost << " lost\n";
  }
  return kExitOk;
}

}  // namespace

void AddWorkerCommand(CLI::App& app, std::function<int()>& run) {
  auto options = std::make_shared<WorkerCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "worker",
      "Run one fleet worker: lease work items from the shared store (see `fleet plan`), sync "
      "each within the site's fleet-wide request budget, and complete or fail it; SIGTERM "
      "releases the item in hand");
  command->add_option("--store", options->store, "The shared store: postgresql://... or a DSN")
      ->required();
  AddStoreSchemaOption(*command, options->schema);
  AddSiteLocationOptions(*command, options->folder, options->home);
  command->add_option("--worker-id", options->worker_id,
                      "This worker's name in the store (default HOST-PID)");
  command->add_flag("--once", options->once, "Exit when no work item is available");
  command->add_option("--lease-ms", options->lease_ms, "Lease duration (default 30000)")
      ->check(CLI::Range(30, 86'400'000));
  command
      ->add_option("--max-attempts", options->max_attempts,
                   "Leases an item gets before it is marked failed (default 5)")
      ->check(CLI::Range(1, 1000));
  command->add_option("--page-size", options->page_size, "_count asked for (default 1000)")
      ->check(CLI::Range(1, 10000));
  command->add_flag("--json", options->json, "Print the worker's counts as JSON at exit");
  command->add_option("--log-level", options->log_level, "debug, info, warning or error")
      ->default_val("info");
  command->callback([&run, options] { run = [options] { return RunWorker(*options); }; });
}

}  // namespace fhirbridge::cli
