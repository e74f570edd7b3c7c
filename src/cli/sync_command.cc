#include "cli/sync_command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "cli/site_options.h"
#include "observe/log.h"
#include "sites/site_connection.h"
#include "sync/engine.h"
#include "sync/plan.h"
#include "sync/site_page_source.h"
#include "sync/site_sync.h"
#include "sync/store_sync_sink.h"

namespace fhirbridge::cli {
namespace {

struct SyncCommandOptions {
  std::vector<std::string> site_names;
  std::string sites_folder = "sites";
  std::string home;
  std::string fhir_base;
  std::string store;
  std::string site;
  std::vector<std::string> types;
  std::vector<std::string> patients;
  std::string patients_file;
  std::string strategy;
  int page_size = 1000;
  int overlap_ms = 1000;
  bool plan_only = false;
  bool json = false;
  std::string log_level = "info";
};

int Fail(const std::string& message, int code) {
  std::cerr << "fhirbridge sync: " << message << "\n";
  return code;
}

nlohmann::json ReportJson(const std::vector<sync::TypePlan>& plan, const sync::SyncReport* report,
                          double seconds) {
  nlohmann::json types = nlohmann::json::array();
  for (std::size_t i = 0; i < plan.size(); ++i) {
    nlohmann::json entry = {{"type", plan[i].type},
                            {"strategy", sync::StrategyName(plan[i].strategy)},
                            {"reason", plan[i].reason}};
    if (report != nullptr) {
      const sync::TypeOutcome& outcome = report->types[i];
      entry["succeeded"] = outcome.succeeded;
      entry["requests"] = outcome.requests;
      entry["resources"] = outcome.resources_received;
      entry["tombstones"] = outcome.tombstones_received;
      entry["restarts"] = outcome.restarts;
      if (outcome.error) entry["error"] = outcome.error->ToString();
    }
    types.push_back(std::move(entry));
  }
  nlohmann::json document = {{"types", std::move(types)}};
  if (report != nullptr) {
    document["succeeded"] = report->succeeded();
    document["requests"] = report->requests();
    document["resources"] = report->resources_received();
    document["seconds"] = seconds;
  }
  return document;
}

// Runs `plan` for one site into the store given by --store; prints the outcome. Returns the exit
// code: 0 when every type succeeded, 2 for a store location that is not one.
int RunPlan(const SyncCommandOptions& command, sync::PageSource& source,
            const std::vector<sync::TypePlan>& plan, sync::SyncOptions options) {
  auto sink = sync::StoreSyncSink::Open({command.store, {}}, options.site);
  if (!sink) {
    return Fail(sink.error().ToString(),
                sink.error().code == base::ErrorCode::kConfigInvalid ? kExitUsage : kExitFailure);
  }
  options.page_size = command.page_size;
  options.overlap = std::chrono::milliseconds(command.overlap_ms);

  sync::LogProgress log_progress;
  sync::TerminalProgress terminal_progress(stderr);
  sync::ProgressObserver& progress = ::isatty(STDERR_FILENO)
                                         ? static_cast<sync::ProgressObserver&>(terminal_progress)
                                         : log_progress;
  const auto started = std::chrono::steady_clock::now();
  sync::SyncEngine engine(source, **sink, progress, options);
  const sync::SyncReport report = engine.Run(plan);
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;

  if (command.json) {
    nlohmann::json document = ReportJson(plan, &report, elapsed.count());
    document["site"] = options.site;
    std::cout << document.dump(2) << "\n";
  } else {
    for (const sync::TypeOutcome& outcome : report.types) {
      std::cout << options.site << " " << outcome.type << ": "
                << (outcome.succeeded ? "ok" : "FAILED") << ", " << outcome.resources_received
                << " resources, " << outcome.tombstones_received << " deletions, "
                << outcome.requests << " requests";
      if (outcome.error) std::cout << " (" << outcome.error->ToString() << ")";
      std::cout << "\n";
    }
    std::printf("%s: %lld resources in %.2f s (%.0f/s), %lld requests\n", options.site.c_str(),
                static_cast<long long>(report.resources_received()), elapsed.count(),
                elapsed.count() > 0 ? report.resources_received() / elapsed.count() : 0.0,
                static_cast<long long>(report.requests()));
  }
  return report.succeeded() ? kExitOk : kExitFailure;
}

void PrintPlan(const SyncCommandOptions& command, const std::string& site,
               const std::vector<sync::TypePlan>& plan) {
  if (command.json) {
    nlohmann::json document = ReportJson(plan, nullptr, 0);
    document["site"] = site;
    std::cout << document.dump(2) << "\n";
  } else {
    if (command.fhir_base.empty()) std::cout << site << ":\n";
    std::cout << sync::FormatPlan(plan);
  }
}

// Sites by name: each one's bundle, token, capability matrix (the plan's permissions), types and
// cohort; the site connection's policy, background priority and maintenance windows.
int RunSitesSync(const SyncCommandOptions& command, std::optional<sync::Strategy> forced) {
  const auto environment = sites::EnvironmentVariables::FromProcess();
  sites::SiteLocation location;
  location.folder = command.sites_folder;
  location.home = command.home;
  bool all_succeeded = true;
  for (const std::string& name : command.site_names) {
    auto opened = sites::OpenSiteByName(location, name, environment);
    if (!opened) return Fail(opened.error().ToString(), kExitConfig);
    sites::SiteConnection& connection = *opened->connection;
    if (auto matrix = connection.LoadCapabilities(); !matrix) {
      return Fail(name + ": " + matrix.error().ToString(), kExitFailure);
    }
    auto inputs = sync::SitePlanInputs(connection);
    if (!inputs) {
      return Fail(
          name + ": " + inputs.error().ToString(),
          inputs.error().code == base::ErrorCode::kConfigInvalid ? kExitConfig : kExitFailure);
    }
    if (!command.types.empty()) {
      inputs->types = command.types;
      inputs->permissions = sync::PermissionsFromMatrix(*connection.capabilities(), inputs->types);
    }
    inputs->forced = forced;
    const std::vector<sync::TypePlan> plan = sync::PlanSync(*inputs);
    if (command.plan_only) {
      PrintPlan(command, name, plan);
      continue;
    }
    sync::SitePageSource source(connection, sites::MaintenanceMode::kWait);
    const int code =
        RunPlan(command, source, plan, sync::SiteSyncOptions(connection, inputs->patient_cohort));
    if (code == kExitUsage) return code;
    all_succeeded &= code == kExitOk;
  }
  return all_succeeded ? kExitOk : kExitFailure;
}

int RunSync(SyncCommandOptions command) {
  const auto level = observe::ParseLogLevel(command.log_level);
  if (!level) return Fail("--log-level must be debug, info, warning or error", kExitUsage);
  observe::SetMinimumLogLevel(*level);
  if (command.site_names.empty() == command.fhir_base.empty()) {
    return Fail("name one or more sites, or give --fhir-base, not both", kExitUsage);
  }
  std::optional<sync::Strategy> forced;
  if (!command.strategy.empty()) {
    forced = sync::ParseStrategy(command.strategy);
    if (!forced) {
      return Fail("--strategy must be lastupdated, history, bulk-export or per-patient",
                  kExitUsage);
    }
  }
  if (command.store.empty() && !command.plan_only) {
    return Fail("--store is required unless --plan is given", kExitUsage);
  }
  if (!command.site_names.empty()) {
    if (!command.patients.empty() || !command.patients_file.empty()) {
      return Fail("a site's patient cohort comes from its bundle's sync.patient_cohort",
                  kExitUsage);
    }
    return RunSitesSync(command, forced);
  }

  while (command.fhir_base.ends_with('/')) command.fhir_base.pop_back();
  if (!command.fhir_base.starts_with("http://") && !command.fhir_base.starts_with("https://")) {
    return Fail("--fhir-base must be an http:// or https:// URL", kExitUsage);
  }
  if (!command.patients_file.empty()) {
    auto cohort = sync::ReadCohortFile(command.patients_file);
    if (!cohort) return Fail(cohort.error().ToString(), kExitUsage);
    command.patients.insert(command.patients.end(), cohort->begin(), cohort->end());
  }

  // Ad hoc: the site client with no token and no rate limit of its own.
  sites::SiteConfig config;
  config.name = command.site;
  config.base_url = command.fhir_base;
  config.allow_plain_http = command.fhir_base.starts_with("http://");
  config.requests_per_second = 0;
  auto connection =
      sites::SiteConnection::WithTokens(config, nullptr, sites::SiteConnectionOptions{});
  if (!connection) return Fail(connection.error().ToString(), kExitUsage);
  sync::SitePageSource source(**connection, sites::MaintenanceMode::kWait);

  // Plan from the server's CapabilityStatement.
  auto metadata = source.Get({command.fhir_base + "/metadata", {}});
  if (!metadata) return Fail(metadata.error().ToString(), kExitFailure);
  if (metadata->status != 200) {
    return Fail("the server answered " + std::to_string(metadata->status) + " to /metadata",
                kExitFailure);
  }
  auto capabilities = sync::ParseCapabilityStatement(metadata->body);
  if (!capabilities) return Fail(capabilities.error().ToString(), kExitFailure);
  sync::PlanInputs inputs;
  inputs.types = command.types;
  if (inputs.types.empty()) {
    for (const auto& [type, declared] : capabilities->types) inputs.types.push_back(type);
  }
  inputs.capabilities = std::move(*capabilities);
  inputs.patient_cohort = command.patients;
  inputs.forced = forced;
  const std::vector<sync::TypePlan> plan = sync::PlanSync(inputs);
  if (command.plan_only) {
    PrintPlan(command, command.site, plan);
    return kExitOk;
  }
  sync::SyncOptions options = sync::SiteSyncOptions(**connection, command.patients);
  return RunPlan(command, source, plan, options);
}

}  // namespace

void AddSyncCommand(CLI::App& app, std::function<int()>& run) {
  auto options = std::make_shared<SyncCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "sync",
      "Sync sites (or a FHIR R4 server) into the replica store, incrementally: per resource type "
      "the "
      "best strategy its CapabilityStatement allows (_lastUpdated windows, _history _since, "
      "per-patient refresh), with checkpoints that survive a crash");
  command->add_option("SITE", options->site_names,
                      "Sites to sync by name (sites/NAME.toml): types and patient cohort from "
                      "the bundle's [sync], permissions from the site's live capability matrix, "
                      "requests under its traffic limits and outside its maintenance windows");
  AddSiteLocationOptions(*command, options->sites_folder, options->home);
  command->add_option("--fhir-base", options->fhir_base,
                      "Instead of sites: an ad-hoc server's FHIR base URL (no token)");
  command->add_option("--store", options->store,
                      "The replica store to sync into: a SQLite file (PATH.db, PATH.sqlite or "
                      "sqlite:PATH; created if missing) or a PostgreSQL DSN (postgresql://...)");
  command
      ->add_option("--site", options->site,
                   "With --fhir-base: name recorded with checkpoints and runs")
      ->default_val("default");
  command
      ->add_option("--types", options->types,
                   "Resource types to sync, comma-separated (default: the bundle's "
                   "sync.resource_types, else every type the CapabilityStatement lists)")
      ->delimiter(',');
  command
      ->add_option("--patients", options->patients,
                   "With --fhir-base: patient ids for per-patient refresh, comma-separated")
      ->delimiter(',');
  command->add_option(
      "--patients-file", options->patients_file,
      "With --fhir-base: a file of patient ids for per-patient refresh, one a line");
  command->add_option("--strategy", options->strategy,
                      "Use this strategy wherever it is possible: lastupdated, history, "
                      "bulk-export or per-patient (default: the best per type)");
  command->add_option("--page-size", options->page_size, "_count asked for (default 1000)")
      ->check(CLI::Range(1, 10000));
  command
      ->add_option("--overlap-ms", options->overlap_ms,
                   "How far before the checkpoint a window starts (default 1000)")
      ->check(CLI::Range(0, 86400000));
  command->add_flag("--plan", options->plan_only, "Print the plan and stop");
  command->add_flag("--json", options->json, "Print the plan or the run's report as JSON");
  command->add_option("--log-level", options->log_level, "debug, info, warning or error")
      ->default_val("info");
  command->callback([&run, options] { run = [options] { return RunSync(*options); }; });
}

}  // namespace fhirbridge::cli
