#include "demo/demo.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <system_error>

#include "base/clock.h"
#include "base/embedded_files.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "sandbox/sandbox_server.h"
#include "sandbox/tenant.h"
#include "sandbox/tenant_config.h"
#include "sites/site_connection.h"
#include "store/replica_store.h"
#include "sync/engine.h"
#include "sync/plan.h"
#include "sync/progress.h"
#include "sync/site_page_source.h"
#include "sync/site_sync.h"
#include "sync/store_sync_sink.h"
#include "synth/sandbox_admin.h"
#include "synth/seeder.h"
#include "verify/journey.h"
#include "verify/known_patients.h"
#include "verify/site_requester.h"
#include "verify/smoke_report.h"
#include "verify/smoke_runner.h"

namespace fhirbridge::demo {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kClientId = "fhirbridge-demo";
constexpr std::string_view kNarrowSite = "demo-narrow-scopes";
constexpr std::string_view kBaseConfigKey = "sandbox/tenants.toml";
constexpr std::string_view kDemoTenantsKey = "sandbox/demo-tenants.toml";

// What each demo site's app asks for and is granted. The narrow site's registration grants a
// subset, so the rest is refused with 403 and reported as unavailable.
constexpr std::string_view kRequestedScopes = "system/*.rs";
// The narrow site's app asks for these one by one (a wildcard would not be granted in part).
constexpr const char* kNarrowRequested[] = {
    "system/Patient.rs",      "system/Observation.rs",        "system/Condition.rs",
    "system/Encounter.rs",    "system/AllergyIntolerance.rs", "system/MedicationRequest.rs",
    "system/Immunization.rs", "system/Procedure.rs"};
constexpr std::string_view kNarrowScopes =
    "system/Patient.rs system/Observation.rs system/Condition.rs system/Encounter.rs";

// The injected-fault kinds the sandbox counts (sandbox_server.cc), plus the rate limit's 429.
constexpr const char* kFaultKinds[] = {"error_500",         "error_502",         "error_503",
                                       "error_504",         "maintenance",       "expired_page",
                                       "missing_next_link", "dropped_connection"};

// How long the unannounced maintenance of a tenant with maintenance windows lasts (see RunSite).
constexpr std::chrono::seconds kUnannouncedMaintenance{1};

// The reasons the site client counts its retries by (traffic/site_client.cc).
constexpr const char* kRetryReasons[] = {"429", "500", "502", "503", "504", "no_response"};

void LogInfo(observe::Literal event, observe::Literal message, std::string_view site = {}) {
  observe::LogEvent line;
  line.event = event;
  line.subsystem = "demo";
  line.message = message;
  line.site = std::string(site);
  observe::Log(line);
}

// The tenants of demo-tenants.toml with the build levels of tenants.toml: the base file up to its
// first [[tenants]] table, then the demo's tenants.
base::Result<sandbox::SandboxConfig> DemoSandboxConfig() {
  const auto& files = base::EmbeddedFiles();
  const auto base = files.find(kBaseConfigKey);
  const auto tenants = files.find(kDemoTenantsKey);
  if (base == files.end() || tenants == files.end()) {
    return base::Fail(base::ErrorCode::kConfigNotFound,
                      "the binary was built without data/sandbox/demo-tenants.toml");
  }
  const std::string_view base_text = base->second;
  const std::size_t first_tenant = base_text.find("\n[[tenants]]");
  std::string text(base_text.substr(0, first_tenant));
  text += "\n";
  text += tenants->second;
  return sandbox::ParseSandboxConfig(text, "embedded:sandbox/demo-tenants.toml");
}

// A TOML basic string: the text between double quotes, with quotes and backslashes escaped.
std::string Quoted(std::string_view text) {
  std::string quoted = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

// The site bundle an integration team would write for the tenant (docs/sites.md): its base URL
// on this run's sandbox, backend services with the demo's key ring, the scopes the app asks for,
// the client's traffic limits, the organisation's maintenance windows, and the patient cohort
// for per-patient refresh. The traffic limits are deliberately looser than the rate-limited
// tenant's, as a first bundle often is: the client then meets 429s and adapts.
std::string BundleText(const sandbox::TenantConfig& tenant, std::string_view origin,
                       const fs::path& key_folder, const fs::path& cohort_file, bool narrow) {
  std::ostringstream text;
  text << "# Written by `fhirbridge demo` for this run's sandbox; rewritten on every run.\n\n"
       << "[site]\ndisplay_name = " << Quoted(tenant.display_name) << "\n"
       << "environment = \"sandbox\"\nbase_url = "
       << Quoted(std::string(origin) + "/" + tenant.name + "/api/FHIR/R4") << "\n\n"
       << "[auth]\nmode = \"backend-services\"\nclient_id = " << Quoted(kClientId) << "\n"
       << "key = " << Quoted("file:" + key_folder.string()) << "\nscopes = [";
  if (narrow) {
    const char* separator = "";
    for (const char* scope : kNarrowRequested) {
      text << separator << Quoted(scope);
      separator = ", ";
    }
  } else {
    text << Quoted(kRequestedScopes);
  }
  text << "]\n\n"
       << "[traffic]\nrequests_per_second = 200\nburst = 50\nmax_concurrent = 4\n"
       << "allow_plain_http = true\n\n";
  if (!tenant.faults.maintenance_windows.empty()) {
    text << "[schedule]\nmaintenance_windows = [";
    const char* separator = "";
    for (const auto& window : tenant.faults.maintenance_windows) {
      text << separator << Quoted(window.text());
      separator = ", ";
    }
    text << "]\n\n";
  }
  text << "[sync]\npatient_cohort = " << Quoted("file:" + cohort_file.string()) << "\n\n"
       << "[runbook]\nbuild_level = " << Quoted(tenant.build_level) << "\n";
  return text.str();
}

base::Status WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::trunc);
  file << text;
  if (!file) return base::Fail(base::ErrorCode::kIoFailure, "Cannot write a demo file.", path);
  return {};
}

// Live rows of the store for one site, by type and id, with their content hash.
base::Result<std::map<std::string, std::map<std::string, std::string>>> LiveBySite(
    const std::string& store_path, const std::string& site) {
  auto store = store::OpenReplicaStore({store_path, {}});
  if (!store) return base::Fail(store.error());
  auto counts = (*store)->CountResources(site);
  if (!counts) return base::Fail(counts.error());
  std::map<std::string, std::map<std::string, std::string>> live;
  for (const auto& [type, count] : *counts) {
    auto versions = (*store)->ListVersions(site, type);
    if (!versions) return base::Fail(versions.error());
    std::vector<std::string> ids;
    ids.reserve(versions->size());
    for (const store::VersionEntry& entry : *versions) ids.push_back(entry.id);
    auto hashes = (*store)->GetContentHashes(site, type, ids);
    if (!hashes) return base::Fail(hashes.error());
    live[type] = std::move(*hashes);
  }
  return live;
}

// The ids of the tenant's patients, read in process, one a line: the cohort file the bundle's
// sync.patient_cohort names. A real organisation hands over its cohort as a Group or a list.
base::Status WriteCohortFile(sandbox::Tenant& tenant, const fs::path& path) {
  auto snapshot = tenant.store().TakeSnapshot();
  if (!snapshot) return base::Fail(snapshot.error());
  auto rows = tenant.store().ReadAsOf("Patient", *snapshot, 0, 1'000'000);
  if (!rows) return base::Fail(rows.error());
  std::string text = "# The patients of this tenant, for per-patient refresh.\n";
  for (const auto& row : *rows) text += row.version.id + "\n";
  return WriteFile(path, text);
}

// What the site client met, from its metrics: retries by reason and the latency quantiles of its
// HTTP exchanges (each retry counted as an exchange of its own).
void ReadClientMetrics(observe::MetricsRegistry& metrics, const std::string& site,
                       SiteSummary& summary) {
  for (const char* reason : kRetryReasons) {
    const std::uint64_t count =
        metrics
            .GetCounter("fhirbridge_site_retries_total",
                        "Requests to a site sent again, by the reason of the retry.",
                        {{"site", site}, {"reason", reason}})
            .Value();
    if (count > 0) summary.retries[reason] = count;
  }
  const observe::Histogram& latency = metrics.GetHistogram(
      "fhirbridge_site_request_duration_seconds",
      "Time from sending a request to a site to its full answer.", {{"site", site}});
  summary.p50_ms = latency.Quantile(0.50) * 1000;
  summary.p95_ms = latency.Quantile(0.95) * 1000;
  summary.p99_ms = latency.Quantile(0.99) * 1000;
}

// Created, updated and deleted rows per planned type, from the store's live rows before and
// after the run, beside the sandbox tenant's own count.
void CountChanges(const std::vector<sync::TypePlan>& runnable,
                  std::map<std::string, std::map<std::string, std::string>>& before,
                  std::map<std::string, std::map<std::string, std::string>>& after,
                  const std::map<std::string, std::int64_t>& served, SiteSummary& summary) {
  for (const auto& entry : runnable) {
    TypeSync& type = summary.synced[entry.type];
    const auto& old_rows = before[entry.type];
    const auto& new_rows = after[entry.type];
    for (const auto& [id, hash] : new_rows) {
      const auto found = old_rows.find(id);
      if (found == old_rows.end()) {
        ++type.created;
      } else if (found->second != hash) {
        ++type.updated;
      }
    }
    for (const auto& [id, hash] : old_rows) type.deleted += new_rows.contains(id) ? 0 : 1;
    type.live = static_cast<std::int64_t>(new_rows.size());
    const auto sandbox_count = served.find(entry.type);
    type.sandbox = sandbox_count == served.end() ? 0 : sandbox_count->second;
  }
}

// One organisation, end to end: the sandbox side (app registration, seed, cohort) as the demo's
// set-up, then the runtime side exactly as `fhirbridge sync SITE` and `fhirbridge smoke SITE`
// run it: the bundle by name, one site connection, the live capability matrix, the plan, the
// engine into the replica store, the smoke journey.
SiteSummary RunSite(const sandbox::TenantConfig& tenant, sandbox::SandboxServer& server,
                    const DemoOptions& options, std::uint64_t seed,
                    observe::MetricsRegistry& sandbox_metrics,
                    observe::MetricsRegistry& client_metrics) {
  SiteSummary summary;
  summary.site = tenant.name;
  summary.display_name = tenant.display_name;
  summary.build_level = tenant.build_level;
  for (const auto& window : tenant.faults.maintenance_windows) {
    summary.maintenance_windows.push_back(window.text());
  }
  const std::string origin = server.Origin();
  const fs::path key_folder = fs::absolute(options.folder / "keys" / tenant.name);
  const fs::path cohort_file = fs::absolute(options.folder / "cohorts" / (tenant.name + ".txt"));
  const std::string store_path = (options.folder / "store.sqlite").string();
  auto fail = [&summary](std::string step, const base::Error& error) {
    summary.sync_failures.push_back(std::move(step) + ": " + error.ToString());
    return summary;
  };

  std::map<std::string, std::uint64_t> faults_before;
  auto fault_counter = [&](const std::string& kind) -> observe::Counter& {
    return sandbox_metrics.GetCounter(
        "fhirbridge_sandbox_injected_faults_total",
        "Faults injected on purpose by the tenants' fault settings, by kind.",
        {{"tenant", tenant.name}, {"kind", kind}});
  };
  auto& rate_limited = sandbox_metrics.GetCounter(
      "fhirbridge_sandbox_rate_limited_total",
      "FHIR requests refused with 429 by a tenant's per-client rate limit.",
      {{"tenant", tenant.name}});
  for (const char* kind : kFaultKinds) faults_before[kind] = fault_counter(kind).Value();
  const std::uint64_t rate_limited_before = rate_limited.Value();

  // The organisation's side: the app and its keys, synthetic data (idempotently: a second run
  // finds every resource present), and the cohort it would hand over.
  synth::BackendAppOptions app;
  app.client_id = std::string(kClientId);
  app.key_folder = key_folder;
  const bool narrow = tenant.name == kNarrowSite;
  app.scopes = narrow ? std::string(kNarrowScopes) : std::string(kRequestedScopes);
  if (auto registered = synth::RegisterBackendApp(origin, tenant.name, app); !registered) {
    return fail("register", registered.error());
  }
  synth::SeedOptions seed_options;
  seed_options.synth.patients = options.patients;
  seed_options.synth.seed = seed;
  seed_options.synth.organisation_name = tenant.display_name;
  seed_options.synth.rates = synth::DefectRates::ForProfile(synth::Profile::kRealistic);
  auto seeded = synth::BulkLoadSandbox(seed_options, origin, tenant.name);
  if (!seeded) return fail("seed", seeded.error());
  summary.seeded_created = seeded->Created();
  summary.seeded_present = seeded->AlreadyPresent();
  sandbox::Tenant* served = server.FindTenant(tenant.name);
  if (auto written = WriteCohortFile(*served, cohort_file); !written) {
    return fail("cohort", written.error());
  }

  // The application's side, from the bundle alone.
  const fs::path sites_folder = options.folder / "sites";
  if (auto written = WriteFile(sites_folder / (tenant.name + ".toml"),
                               BundleText(tenant, origin, key_folder, cohort_file, narrow));
      !written) {
    return fail("bundle", written.error());
  }
  sites::SiteLocation location;
  location.folder = sites_folder;
  location.home = fs::absolute(options.folder / "home").string();
  auto opened = sites::OpenSiteByName(location, tenant.name,
                                      sites::EnvironmentVariables::FromProcess(), &client_metrics);
  if (!opened) return fail("bundle", opened.error());
  sites::SiteConnection& connection = *opened->connection;
  auto matrix = connection.LoadCapabilities();
  if (!matrix) return fail("capabilities", matrix.error());
  summary.granted_scopes = connection.site_tokens()->Status().scope;

  // Sync: the plan from the bundle's [sync] and the live capability matrix; what the matrix or
  // the CapabilityStatement refuses is reported with its reason.
  auto inputs = sync::SitePlanInputs(connection);
  if (!inputs) return fail("plan", inputs.error());
  std::vector<sync::TypePlan> runnable;
  for (auto& entry : sync::PlanSync(*inputs)) {
    if (entry.strategy == sync::Strategy::kNone) {
      // A search the matrix refuses rules out every strategy: its reason says it all.
      const sync::TypePermission& permission = inputs->permissions[entry.type];
      summary.unavailable.push_back(
          {entry.type, permission.search ? entry.reason : permission.reason, entry.reason});
    } else {
      runnable.push_back(std::move(entry));
    }
  }
  auto before = LiveBySite(store_path, tenant.name);
  if (!before) return fail("store", before.error());
  auto sink = sync::StoreSyncSink::Open({store_path, {}}, tenant.name);
  if (!sink) return fail("store", sink.error());
  // An organisation with published maintenance windows also goes down outside them now and then:
  // this one starts a short unannounced window as sync begins. The bundle cannot know it, so the
  // client meets 503 with Retry-After and has to wait it out.
  if (!tenant.faults.maintenance_windows.empty()) {
    served->traffic().StartMaintenance(std::chrono::system_clock::now(), kUnannouncedMaintenance);
  }
  sync::SitePageSource source(connection, sites::MaintenanceMode::kWait);
  sync::LogProgress progress;
  sync::SyncEngine engine(source, **sink, progress,
                          sync::SiteSyncOptions(connection, inputs->patient_cohort));
  const sync::SyncReport report = engine.Run(runnable);
  sink->reset();
  summary.sync_requests = report.requests();
  summary.http_exchanges = source.attempts();
  for (const auto& outcome : report.types) {
    if (!outcome.succeeded) {
      summary.sync_failures.push_back(outcome.type + ": " +
                                      (outcome.error ? outcome.error->ToString() : "failed"));
    }
  }
  auto after = LiveBySite(store_path, tenant.name);
  if (!after) return fail("store", after.error());
  auto served_counts = served->store().CountByType();
  if (!served_counts) return fail("sandbox", served_counts.error());
  CountChanges(runnable, *before, *after, *served_counts, summary);

  // Smoke, through the same connection; steps the matrix refuses are skipped with its reason.
  verify::SmokeSite smoke_site;
  smoke_site.name = tenant.name;
  smoke_site.fhir_base = connection.config().base_url;
  auto patients = verify::SandboxBaselinePatients();
  if (!patients) return fail("smoke", patients.error());
  smoke_site.patients = std::move(*patients);
  verify::SiteRequester requester(connection);
  verify::SmokeDependencies dependencies;
  dependencies.requester = &requester;
  dependencies.token_source = connection.tokens();
  dependencies.capability = verify::MatrixCapability(**matrix);
  verify::SmokeReport smoke;
  smoke.journey = verify::DefaultJourney().name;
  smoke.generated_at = base::FormatInstant(std::chrono::system_clock::now());
  smoke.sites.push_back(verify::RunSmoke(verify::DefaultJourney(), smoke_site, dependencies));
  summary.smoke_passed = smoke.sites.front().Count(verify::StepOutcome::kPassed);
  summary.smoke_skipped = smoke.sites.front().Count(verify::StepOutcome::kSkipped);
  summary.smoke_failed = smoke.sites.front().Count(verify::StepOutcome::kFailed);
  auto formats = verify::ParseReportFormats("md,json,junit");
  if (!formats) return fail("smoke", formats.error());
  auto written =
      verify::WriteReports(smoke, (options.folder / "reports" / tenant.name).string(), *formats);
  if (!written) return fail("reports", written.error());
  summary.reports = *written;

  // Faults as the sandbox counted them and retries as the client counted them: survived when
  // sync and smoke finished regardless.
  ReadClientMetrics(client_metrics, tenant.name, summary);
  for (const char* kind : kFaultKinds) {
    const std::uint64_t met = fault_counter(kind).Value() - faults_before[kind];
    if (met > 0) summary.faults_met[kind] = met;
  }
  if (const std::uint64_t met = rate_limited.Value() - rate_limited_before; met > 0) {
    summary.faults_met["rate_limited_429"] = met;
  }
  summary.survived = summary.sync_failures.empty() && summary.smoke_failed == 0;
  LogInfo("demo.site_done", "A demo site was seeded, synced and smoke-tested.", tenant.name);
  return summary;
}

// The unavailable types by reason, in order of first appearance, each reason with the type's own
// name written {type}, so that types refused for the same reason share one line of the summary.
std::vector<std::pair<std::string, std::vector<std::string>>> GroupByReason(
    const std::vector<Unavailable>& unavailable) {
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  for (const Unavailable& entry : unavailable) {
    std::string reason = entry.reason;
    for (std::size_t at = reason.find(entry.type); at != std::string::npos;
         at = reason.find(entry.type, at)) {
      const std::size_t end = at + entry.type.size();
      const bool word =
          end == reason.size() || !std::isalnum(static_cast<unsigned char>(reason[end]));
      if (word) {
        reason.replace(at, entry.type.size(), "{type}");
        at += 6;
      } else {
        at = end;
      }
    }
    auto group = std::find_if(groups.begin(), groups.end(), [&reason](const auto& candidate) {
      return candidate.first == reason;
    });
    if (group == groups.end()) {
      groups.emplace_back(reason, std::vector<std::string>{entry.type});
    } else {
      group->second.push_back(entry.type);
    }
  }
  return groups;
}

// Binds the preferred port when it is free, else any free port.
base::Result<std::unique_ptr<sandbox::SandboxServer>> StartSandbox(
    sandbox::SandboxConfig config, unsigned short port, observe::MetricsRegistry& metrics) {
  config.server.port = port;
  auto server = sandbox::SandboxServer::Start(config, metrics);
  if (server || port == 0) return server;
  config.server.port = 0;
  return sandbox::SandboxServer::Start(std::move(config), metrics);
}

}  // namespace

bool DemoSummary::Succeeded() const {
  return std::all_of(sites.begin(), sites.end(),
                     [](const SiteSummary& site) { return site.survived; });
}

base::Result<DemoSummary> RunDemo(const DemoOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  std::error_code error;
  if (options.fresh && fs::exists(options.folder)) {
    // Only what the demo makes is removed, so that a mistyped --dir cannot empty another folder.
    for (const char* part : {"sandbox", "keys", "sites", "cohorts", "home", "reports", "logs",
                             "store.sqlite", "store.sqlite-wal", "store.sqlite-shm"}) {
      fs::remove_all(options.folder / part, error);
      if (error) {
        return base::Fail(base::ErrorCode::kIoFailure, "Cannot clear the demo folder.",
                          (options.folder / part).string());
      }
    }
  }
  for (const char* part : {"sandbox", "keys", "sites", "cohorts", "home", "reports", "logs"}) {
    fs::create_directories(options.folder / part, error);
    if (error) {
      return base::Fail(base::ErrorCode::kIoFailure, "Cannot create the demo folder.",
                        (options.folder / part).string());
    }
  }
  fs::permissions(options.folder / "keys", fs::perms::owner_all, error);
  fs::permissions(options.folder / "home", fs::perms::owner_all, error);

  DemoSummary summary;
  summary.folder = fs::absolute(options.folder);
  const std::string stamp = base::FormatInstant(std::chrono::system_clock::now());
  std::string file_stamp = stamp;
  std::replace(file_stamp.begin(), file_stamp.end(), ':', '-');
  summary.log_file = (summary.folder / "logs" / ("demo-" + file_stamp + ".jsonl")).string();
  std::ofstream log(summary.log_file, std::ios::app);
  if (!log) {
    return base::Fail(base::ErrorCode::kIoFailure, "Cannot open the demo's log file.",
                      summary.log_file);
  }
  observe::SetLogStream(&log);
  struct RestoreLog {
    ~RestoreLog() { observe::SetLogStream(nullptr); }
  } restore_log;
  LogInfo("demo.started", "The demo is starting.");

  auto config = DemoSandboxConfig();
  if (!config) return base::Fail(config.error());
  for (auto& tenant : config->tenants) {
    tenant.storage = (summary.folder / "sandbox" / (tenant.name + ".sqlite")).string();
  }
  observe::MetricsRegistry sandbox_metrics;
  auto server = StartSandbox(*config, options.port, sandbox_metrics);
  if (!server) return base::Fail(server.error());
  summary.origin = (*server)->Origin();

  observe::MetricsRegistry client_metrics;
  std::uint64_t seed = 1;
  for (const auto& tenant : (*server)->config().tenants) {
    const auto site_started = std::chrono::steady_clock::now();
    summary.sites.push_back(
        RunSite(tenant, **server, options, seed++, sandbox_metrics, client_metrics));
    summary.sites.back().seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - site_started).count();
  }
  (*server)->Stop();
  (*server)->Wait();
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  LogInfo("demo.finished", "The demo finished.");
  return summary;
}

std::string FormatSummary(const DemoSummary& summary) {
  std::ostringstream text;
  text << "fhirbridge demo: sandbox at " << summary.origin << ", folder " << summary.folder.string()
       << "\n";
  for (const SiteSummary& site : summary.sites) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1f s", site.seconds);
    text << "\n"
         << site.site << " - " << site.display_name << " [" << site.build_level << "], " << seconds
         << "\n";
    text << "  seeded: " << site.seeded_created << " new, " << site.seeded_present
         << " already present\n";
    text << "  granted: " << (site.granted_scopes.empty() ? "(none)" : site.granted_scopes) << "\n";
    if (!site.maintenance_windows.empty()) {
      text << "  maintenance windows:";
      for (const auto& window : site.maintenance_windows) text << " " << window;
      text << " (sync waits for one to end, smoke is refused during one)\n";
    }
    std::int64_t created = 0, updated = 0, deleted = 0, live = 0;
    text << "  synced (" << site.sync_requests << " requests, " << site.http_exchanges
         << " HTTP exchanges):";
    for (const auto& [type, counts] : site.synced) {
      text << " " << type << " " << counts.live;
      if (counts.created + counts.updated + counts.deleted > 0) {
        text << " (+" << counts.created << " ~" << counts.updated << " -" << counts.deleted << ")";
      }
      created += counts.created;
      updated += counts.updated;
      deleted += counts.deleted;
      live += counts.live;
    }
    text << "\n  store: " << live << " resources; this run " << created << " new, " << updated
         << " updated, " << deleted << " deleted\n";
    for (const auto& [reason, types] : GroupByReason(site.unavailable)) {
      text << "  unavailable: ";
      for (std::size_t i = 0; i < types.size(); ++i) text << (i > 0 ? ", " : "") << types[i];
      text << " - " << reason << "\n";
    }
    for (const auto& failure : site.sync_failures) text << "  FAILED: " << failure << "\n";
    text << "  faults met:";
    if (site.faults_met.empty()) text << " none";
    for (const auto& [kind, count] : site.faults_met) text << " " << kind << "=" << count;
    if (!site.retries.empty()) {
      text << "; client retries:";
      for (const auto& [reason, count] : site.retries) text << " " << reason << "=" << count;
    }
    text << (site.survived ? " - survived" : " - NOT survived") << "\n";
    char latency[160];
    std::snprintf(latency, sizeof latency, "  latency: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n",
                  site.p50_ms, site.p95_ms, site.p99_ms);
    text << latency;
    text << "  smoke: " << site.smoke_passed << " passed, " << site.smoke_skipped << " skipped, "
         << site.smoke_failed << " failed\n";
  }
  char total[120];
  std::snprintf(total, sizeof total, "\n%s in %.1f s; logs in %s\n",
                summary.Succeeded() ? "Done" : "Finished with failures", summary.seconds,
                summary.log_file.c_str());
  text << total;
  return text.str();
}

fhir::Json SummaryJson(const DemoSummary& summary) {
  fhir::Json sites = fhir::Json::array();
  for (const SiteSummary& site : summary.sites) {
    fhir::Json synced = fhir::Json::object();
    for (const auto& [type, counts] : site.synced) {
      synced[type] = {{"created", counts.created},
                      {"updated", counts.updated},
                      {"deleted", counts.deleted},
                      {"live", counts.live},
                      {"sandbox", counts.sandbox}};
    }
    fhir::Json unavailable = fhir::Json::array();
    for (const auto& entry : site.unavailable) {
      unavailable.push_back(
          {{"type", entry.type}, {"reason", entry.reason}, {"plan", entry.plan_reason}});
    }
    sites.push_back(
        {{"site", site.site},
         {"display_name", site.display_name},
         {"build_level", site.build_level},
         {"granted_scopes", site.granted_scopes},
         {"maintenance_windows", site.maintenance_windows},
         {"seeded_created", site.seeded_created},
         {"seeded_present", site.seeded_present},
         {"synced", synced},
         {"sync_requests", site.sync_requests},
         {"http_exchanges", site.http_exchanges},
         {"sync_failures", site.sync_failures},
         {"unavailable", unavailable},
         {"faults_met", site.faults_met},
         {"retries", site.retries},
         {"survived", site.survived},
         {"latency_ms", {{"p50", site.p50_ms}, {"p95", site.p95_ms}, {"p99", site.p99_ms}}},
         {"smoke",
          {{"passed", site.smoke_passed},
           {"skipped", site.smoke_skipped},
           {"failed", site.smoke_failed}}},
         {"reports", site.reports},
         {"seconds", site.seconds}});
  }
  return {{"origin", summary.origin},         {"folder", summary.folder.string()},
          {"seconds", summary.seconds},       {"log_file", summary.log_file},
          {"succeeded", summary.Succeeded()}, {"sites", sites}};
}

}  // namespace fhirbridge::demo
