#pragma once

// The Bulk Data export jobs of one tenant and the worker thread that runs them, in the
// background so that no HTTP worker ever waits for an export.
//
// A job reads the store as of the snapshot taken at its kick-off (ResourceStore::TakeSnapshot),
// a batch at a time, so writes go on while it runs and never leak into it; the snapshot's
// instant is the manifest's transactionTime. Output is NDJSON held in memory, one or more files
// per resource type (at most BulkExportSettings::max_resources_per_file resources each).
//
// What is exported:
// - deleted resources never appear in output; with _since, resources deleted after it (and
//   before the snapshot) are listed in the manifest's `deleted` files as transaction Bundles of
//   DELETE entries, one resource per Bundle, as Bulk Data 2.0 describes;
// - _since keeps resources whose meta.lastUpdated is strictly later than it (the spec's "later
//   than"); since every write after a snapshot is stamped after its instant, passing the last
//   transactionTime as the next _since loses nothing and repeats nothing;
// - with _since, a Group export does not add the older data of members who joined the Group
//   after _since (the IG allows either; a client that tracks membership exports new members in
//   full);
// - Patient-level and Group-level jobs keep the patient compartment of their cohort: Patient
//   resources of the cohort and resources whose `patient` search parameter names one of them.
//   Limitation: compartment links other than the `patient` parameter (an Observation whose
//   performer is the patient) do not count, and resources outside the compartment (Practitioner,
//   Organization) are not added; a system-level export has them.
//
// Limitation: files live in memory until the job expires, so exporting a store of millions of
// resources needs as much memory as its NDJSON.
//
// Thread safety: every method may be called from any thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "fhir/json_value.h"
#include "sandbox/build_level.h"
#include "sandbox/resource_store.h"

namespace fhirbridge::sandbox {

enum class ExportLevel { kSystem, kPatient, kGroup };

struct ExportJobRequest {
  ExportLevel level = ExportLevel::kSystem;
  std::vector<std::string> types;  // exported in this order; each one the level serves
  // FHIR instant (UTC, milliseconds): only resources updated strictly after it.
  std::optional<std::string> since;
  std::set<std::string, std::less<>> group_members;  // "Patient/{id}", for kGroup
  std::string request_url;                           // the kick-off URL, for the manifest
  std::string client_id;                             // "" when the kick-off carried no token
  bool requires_access_token = false;  // status and files need a token of the same client
  // OperationOutcomes for the manifest's error files (parameters ignored under
  // handling=lenient, types left out for want of scope).
  std::vector<fhir::Json> messages;
};

enum class ExportFileKind { kOutput, kDeleted, kError };

struct ExportFileInfo {
  ExportFileKind kind = ExportFileKind::kOutput;
  std::string type;        // resource type of every line (Bundle for deleted, OperationOutcome)
  std::int64_t count = 0;  // lines
  std::size_t index = 0;   // File(job, index) serves it
};

// A job as a poll sees it.
struct ExportJobView {
  enum class State { kInProgress, kComplete, kFailed };
  State state = State::kInProgress;
  std::string client_id;
  bool requires_access_token = false;
  std::vector<std::string> types;
  // In progress: a short description and when to poll again.
  std::string progress;
  std::chrono::seconds retry_after{1};
  // Complete.
  std::string transaction_time;
  std::string request_url;
  base::SystemTime expires;
  std::vector<ExportFileInfo> files;
  // Failed.
  std::optional<base::Error> failure;
};

class BulkExportJobs {
 public:
  // `store` and `settings` must outlive the jobs. `strict_meta`: files carry resources without
  // meta.versionId and meta.lastUpdated, as the tenant serves them. `tenant_name` is for logs.
  BulkExportJobs(std::string tenant_name, ResourceStore& store, const BulkExportSettings& settings,
                 bool strict_meta);
  // Cancels every job and waits for the one running, if any.
  ~BulkExportJobs();

  BulkExportJobs(const BulkExportJobs&) = delete;
  BulkExportJobs& operator=(const BulkExportJobs&) = delete;

  // Takes the snapshot, queues the job and returns its id (32 hex digits, unguessable).
  // kConcurrencyLimited when max_active_jobs jobs are not complete yet.
  base::Result<std::string> Start(ExportJobRequest request);

  // nullopt when no such job exists: never started, cancelled, or expired.
  std::optional<ExportJobView> Find(std::string_view id);

  // Cancels a job and forgets it (later polls find nothing); false when no such job exists.
  bool Cancel(std::string_view id);

  // The content of file `index` of a complete job; nullptr when there is no such file. The
  // content stays valid for as long as the caller holds it, even if the job expires meanwhile.
  std::shared_ptr<const std::string> File(std::string_view id, std::size_t index);

 private:
  struct Job;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fhirbridge::sandbox
