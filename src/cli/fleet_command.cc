#include "cli/fleet_command.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "cli/site_options.h"
#include "fleet/work_planning.h"
#include "sites/site_bundle.h"
#include "store/replica_store.h"

namespace fhirbridge::cli {
namespace {

struct FleetPlanOptions {
  std::vector<std::string> sites;
  std::string folder = "sites";
  std::string store;
  std::string schema;
  bool json = false;
};

int Report(const base::Error& error, int code) {
  std::cerr << "fhirbridge fleet plan: " << error.ToString() << "\n";
  return code;
}

int ExitCodeFor(const base::Error& error) {
  switch (error.code) {
    case base::ErrorCode::kConfigInvalid:
    case base::ErrorCode::kConfigNotFound:
      return kExitConfig;
    default:
      return kExitFailure;
  }
}

int RunFleetPlan(const FleetPlanOptions& options) {
  const auto environment = sites::EnvironmentVariables::FromProcess();
  std::vector<sites::SiteConfig> configs;
  for (const std::string& name : options.sites) {
    auto site = sites::LoadSite(options.folder, name, environment);
    if (!site) return Report(site.error(), ExitCodeFor(site.error()));
    configs.push_back(std::move(site->config));
  }
  auto store = store::OpenReplicaStore({options.store, options.schema});
  if (!store) return Report(store.error(), kExitFailure);
  auto summary = fleet::EnqueueFleetWork(**store, configs);
  if (!summary) return Report(summary.error(), ExitCodeFor(summary.error()));

  std::size_t next = 0;
  nlohmann::json items = nlohmann::json::array();
  for (const sites::SiteConfig& site : configs) {
    for (const std::string& type : site.sync_resource_types) {
      items.push_back({{"id", summary->item_ids.at(next++)},
                       {"site", site.name},
                       {"resource_type", type},
                       {"cohort", site.patient_cohort == "all" ? "" : site.patient_cohort}});
    }
  }
  if (options.json) {
    std::cout << nlohmann::json{{"ok", true},
                                {"items", std::move(items)},
                                {"budgets", summary->budgets}}
                     .dump(2)
              << "\n";
  } else {
    for (const auto& item : items) {
      std::cout << item["id"].get<std::int64_t>() << "  " << item["site"].get<std::string>() << "  "
                << item["resource_type"].get<std::string>();
      if (!item["cohort"].get<std::string>().empty()) {
        std::cout << "  " << item["cohort"].get<std::string>();
      }
      std::cout << "\n";
    }
    std::cout << summary->items << " work item(s) pending, " << summary->budgets
              << " site budget(s) configured\n";
  }
  return kExitOk;
}

}  // namespace

void AddFleetCommand(CLI::App& app, std::function<int()>& run) {
  CLI::App* fleet = app.add_subcommand(
      "fleet", "Fleet mode: work shared by `fhirbridge worker` processes through one PostgreSQL");
  fleet->require_subcommand(1);
  auto options = std::make_shared<FleetPlanOptions>();
  CLI::App* plan = fleet->add_subcommand(
      "plan",
      "Enqueue one work item per site x resource type x cohort (the bundles' [sync] section) "
      "and set each site's request budget shared by the fleet; items pending or leased are "
      "left as they are, so running it again is safe");
  plan->add_option("SITE", options->sites, "Site names (bundles in --sites)")->required();
  plan->add_option("--sites", options->folder, "Folder of the site bundles")->capture_default_str();
  plan->add_option("--store", options->store,
                   "The shared store: postgresql://... or a libpq key=value DSN (a SQLite file "
                   "serves one machine only)")
      ->required();
  AddStoreSchemaOption(*plan, options->schema);
  plan->add_flag("--json", options->json, "Print the items as JSON");
  plan->callback([&run, options] { run = [options] { return RunFleetPlan(*options); }; });
}

}  // namespace fhirbridge::cli
