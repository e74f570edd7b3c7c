#pragma once

// `fhirbridge demo`: the whole product on one machine in one folder. Starts the embedded sandbox
// with the three tenants of data/sandbox/demo-tenants.toml (file-backed stores in the folder),
// registers the app with a key ring per site, bulk-loads synthetic patients (idempotently),
// writes a site bundle per tenant, then reaches each site by name as `fhirbridge sync SITE` and
// `fhirbridge smoke SITE` do (sites::SiteConnection: backend-services token, live capability
// matrix, traffic limits, maintenance windows): sync into one replica store, then the smoke
// journey with reports. Returns a summary per site.
//
// The tenant with maintenance windows also starts a one-second unannounced window in the sandbox
// as its sync begins, so that the client meets a 503 with Retry-After no bundle could foresee.
//
// The folder:
//   sandbox/<tenant>.sqlite   the tenants' stores (kept: a second run reuses them)
//   keys/<site>/              the app's key ring per site
//   sites/<site>.toml         site bundles; base_url is this run's sandbox origin (see below)
//   cohorts/<site>.txt        the patient ids each bundle's sync.patient_cohort names
//   home/                     the runtime home (vault location; backend services need no vault)
//   store.sqlite              the replica store (resources, checkpoints, sync runs)
//   reports/<site>/           smoke reports: Markdown, JSON, JUnit XML
//   logs/                     the run's JSON log lines (one file per run)
//
// Ports: the sandbox listens on `port` (default 8095) when it is free, else on any free port.
// Bundles are rewritten each run with the origin of that run, so a bundle's fingerprint changes
// when the port does; sync checkpoints are keyed by site name and survive that.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "fhir/json.h"

namespace fhirbridge::demo {

struct DemoOptions {
  std::filesystem::path folder = "fhirbridge-demo";
  bool fresh = false;           // delete the folder's contents first
  std::uint64_t patients = 25;  // synthetic patients per site
  unsigned short port = 8095;   // preferred sandbox port; 0: any free port
};

struct TypeSync {
  std::int64_t created = 0;  // ids the store did not hold before
  std::int64_t updated = 0;  // ids whose content changed
  std::int64_t deleted = 0;  // ids the site no longer has
  std::int64_t live = 0;     // live rows in the store after the run
  std::int64_t sandbox = 0;  // resources the sandbox tenant holds
};

struct Unavailable {
  std::string type;
  // Why: the capability matrix's reason when it refuses search (a scope not granted, a type the
  // CapabilityStatement does not offer), else the plan's reason.
  std::string reason;
  std::string plan_reason;  // the planner's reason, strategy by strategy
};

struct SiteSummary {
  std::string site;
  std::string display_name;
  std::string build_level;
  std::string granted_scopes;
  std::vector<std::string> maintenance_windows;  // the organisation's, as its bundle lists them
  std::uint64_t seeded_created = 0;              // resources the bulk load added this run
  std::uint64_t seeded_present = 0;              // already there
  std::map<std::string, TypeSync> synced;
  std::vector<Unavailable> unavailable;
  std::vector<std::string> sync_failures;  // "Type: error"
  std::int64_t sync_requests = 0;          // requests the sync engine made
  std::int64_t http_exchanges = 0;  // HTTP exchanges they took, retries and renewals included
  std::map<std::string, std::uint64_t> faults_met;  // kind -> count, as the sandbox injected them
  std::map<std::string, std::uint64_t> retries;     // reason -> count, as the site client retried
  bool survived = false;                            // sync and smoke finished despite them
  // The site client's HTTP exchanges with the site (capabilities, sync and smoke; each retry is
  // an exchange of its own), from its latency histogram.
  double p50_ms = 0, p95_ms = 0, p99_ms = 0;
  int smoke_passed = 0, smoke_skipped = 0, smoke_failed = 0;
  std::vector<std::string> reports;
  double seconds = 0;  // wall time of the site's whole turn, seeding included
};

struct DemoSummary {
  std::filesystem::path folder;
  std::string origin;
  std::vector<SiteSummary> sites;
  double seconds = 0;
  std::string log_file;
  bool Succeeded() const;
};

// Runs the demo. Fails as a whole only when the folder or the sandbox cannot be set up;
// problems of one site are in its summary.
base::Result<DemoSummary> RunDemo(const DemoOptions& options);

std::string FormatSummary(const DemoSummary& summary);
fhir::Json SummaryJson(const DemoSummary& summary);

}  // namespace fhirbridge::demo
