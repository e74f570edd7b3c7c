#pragma once

// The sync engine: runs a plan (sync/plan.h) for one site, type by type, reading pages through a
// PageSource and committing each page with its checkpoint through a SyncSink.
//
// Guarantees, given a sink whose CommitPage is atomic:
// - a checkpoint never moves past data that was not stored: it is committed with the page that
//   justifies it, or after the last page of a traversal;
// - a run stopped at any point (killed, failed, cancelled) resumes from the last committed
//   checkpoint, and pages read twice change nothing the second time (dedupe by id and version,
//   or by content hash where the site gives no versions);
// - a malformed page is quarantined with the site, request id and position, the type's run is
//   marked failed, and the other types go on.
//
// Thread safety: one SyncEngine runs one plan at a time on the calling thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sync/plan.h"
#include "sync/ports.h"
#include "sync/progress.h"

namespace fhirbridge::sync {

struct SyncOptions {
  std::string site;      // the site's name, recorded with checkpoints, runs and quarantine
  std::string base_url;  // the FHIR base, without a trailing slash
  int page_size = 1000;  // _count asked for; sites may lower it
  // How far behind the checkpoint a _lastUpdated window or _history _since starts, so that
  // resources committed late with an earlier timestamp (clock skew, long transactions) and
  // resources sharing the checkpoint's timestamp are read again; dedupe makes that harmless.
  std::chrono::milliseconds overlap{1000};
  std::vector<std::string> patient_cohort;  // patient ids for per-patient refresh
  // Extra search parameters per type for per-patient refresh, e.g. Observation ->
  // "category=vital-signs,laboratory" where the site requires a category.
  std::map<std::string, std::string> per_patient_filters = DefaultPerPatientFilters();
  // How many times one type's traversal may start over (expired paging sessions, pages that
  // end early) before the type fails.
  int max_restarts = 20;

  // Bulk export. PageSources are not thread-safe (one per thread), so parallel downloads need
  // `download_sources` to make one per download thread; without it files are downloaded one at a
  // time through the engine's own source. At most `export_parallel_downloads` files at once:
  // keep it within the site's concurrency limit.
  std::function<std::unique_ptr<PageSource>()> download_sources;
  int export_parallel_downloads = 4;
  // Polling waits what Retry-After asks, but at least the minimum and at most the maximum, and
  // gives up (the status URL stays in the checkpoint for the next run) after `export_timeout`.
  std::chrono::milliseconds export_min_poll{100};
  std::chrono::milliseconds export_max_poll{30000};
  std::chrono::milliseconds export_timeout{std::chrono::hours(2)};

  static std::map<std::string, std::string> DefaultPerPatientFilters();
};

struct TypeOutcome {
  std::string type;
  Strategy strategy = Strategy::kNone;
  bool succeeded = false;
  std::optional<base::Error> error;
  std::int64_t requests = 0;
  std::int64_t resources_received = 0;
  std::int64_t tombstones_received = 0;
  int restarts = 0;
  // _lastUpdated: how deletions were looked for: "history" (type history since the run
  // started), "sweep" (every id, after the counts differed) or "" (counts agreed, or first run).
  // Bulk export: "deleted-files" (a _since export) or "absence" (a full export).
  std::string deletion_check;
  // PHI-free notes that did not fail the type (bulk export: the manifest's error files).
  std::vector<std::string> warnings;
  // Bulk export: whether this run kicked off a job, or resumed one from the checkpoint.
  bool export_kicked_off = false;
  bool export_resumed = false;
};

struct SyncReport {
  std::vector<TypeOutcome> types;
  bool succeeded() const;
  std::int64_t requests() const;
  std::int64_t resources_received() const;
};

class SyncEngine {
 public:
  SyncEngine(PageSource& source, SyncSink& sink, ProgressObserver& progress, SyncOptions options);

  // Runs every planned type (types planned kNone are reported as failed with their reason).
  SyncReport Run(const std::vector<TypePlan>& plan);

  // Runs one type's strategy to the end, or to its first failure.
  TypeOutcome SyncType(const TypePlan& plan);

 private:
  class TypeRun;

  PageSource& source_;
  SyncSink& sink_;
  ProgressObserver& progress_;
  SyncOptions options_;
};

}  // namespace fhirbridge::sync
