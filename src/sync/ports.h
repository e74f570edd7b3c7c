#pragma once

// The two narrow ports through which the sync engine meets the rest of the runtime: a PageSource
// that GETs URLs from a site (the site client's throttle, retries and authorization sit behind
// it) and a SyncSink that keeps what sync learns (the local store behind it). The engine needs
// nothing else from either side.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "fhir/resource_summary.h"
#include "http/message.h"

namespace fhirbridge::sync {

struct FetchRequest {
  std::string url;                    // absolute URL
  std::vector<http::Header> headers;  // extra headers, e.g. If-None-Match or Prefer
  std::string method = "GET";         // GET, or DELETE to cancel a Bulk Data job
};

// A final answer from the site: whatever status it has (200, 304, 404, 410, 400, ...).
struct FetchResponse {
  int status = 0;
  std::vector<http::Header> headers;  // names lower-case
  std::string body;
  std::string request_id;             // the X-Request-Id the site echoed, else the one sent
  std::vector<std::string> warnings;  // PHI-free summaries of OperationOutcome warnings seen

  const std::string* FindHeader(std::string_view lower_case_name) const;
};

// GETs URLs from one site (and DELETEs a Bulk Data status URL when `method` says so).
// Implementations retry what is worth retrying (429 with Retry-After, 5xx, dropped connections)
// under their own policy and return the final response; they fail only when no usable answer came
// (kRetriesExhausted, kCircuitOpen, kIoFailure, kCancelled). Paging-session expiry (410) is
// returned as a response: the engine decides what to do.
class PageSource {
 public:
  virtual ~PageSource() = default;
  virtual base::Result<FetchResponse> Get(const FetchRequest& request) = 0;
};

// Identifies one checkpoint: a site, a resource type and a context ("" for the whole type, or a
// patient id for per-patient work).
struct CheckpointKey {
  std::string site;
  std::string resource_type;
  std::string context;

  auto operator<=>(const CheckpointKey&) const = default;
};

// One resource version as sync saw it.
struct SyncedResource {
  std::string type;
  std::string id;
  std::int64_t version = 0;  // 0 when the site does not say (Epic omits meta.versionId)
  std::string last_updated;  // FHIR instant, or "" when the site does not say
  std::string json;          // the resource as served, minified
  std::string content_hash;  // lower-case hex SHA-256 of `json` without meta
  std::string etag;          // the ETag the site gave for this version, if any
  std::string context;       // the patient whose compartment it was read from, or ""
  // What the local store reads from `json` (fhir::ResourceSummariser), when the page parser
  // read it off its own parse; the store then does not parse `json` again.
  std::optional<fhir::ResourceSummary> summary;
};

// A resource the site no longer has.
struct Tombstone {
  std::string type;
  std::string id;
  std::int64_t version = 0;  // the deleting version when the site says, else 0
  // When the site deleted it (a history entry's response.lastModified, a FHIR instant); "" when
  // the site does not say, and for deletions found by absence (they count as seen now).
  std::string deleted_at;
};

// Everything one page changes, committed in one transaction: the resources, the tombstones and
// the checkpoint that says the page is done. Applying the same PageWrite twice changes nothing
// the second time.
struct PageWrite {
  CheckpointKey key;
  std::vector<SyncedResource> resources;
  std::vector<Tombstone> tombstones;
  // The new checkpoint value (opaque to the sink); nullopt leaves the checkpoint as it is.
  std::optional<std::string> checkpoint;
};

// A fleet work item's lease that a write depends on.
struct LeaseFence {
  std::int64_t item_id = 0;
  std::int64_t lease_token = 0;
};

// What the sink holds about one stored resource.
struct StoredResourceInfo {
  std::int64_t version = 0;
  std::string content_hash;
  std::string etag;
  bool deleted = false;
};

// A page the engine refused, kept for inspection.
struct QuarantinedPage {
  std::string site;
  std::string resource_type;
  std::string request_id;
  std::string position;  // where in the run: strategy, checkpoint and page number
  std::string url;       // the URL fetched; may hold patient ids, so never logged
  std::string error;     // the PHI-free diagnostic
  std::string body;      // the body as received
};

// Counts and outcome of one run over one resource type.
struct RunRecord {
  std::string site;
  std::string resource_type;
  std::string strategy;
  std::string outcome;  // "succeeded", "failed"
  std::string error;    // PHI-free diagnostic when failed
  std::int64_t requests = 0;
  std::int64_t resources_written = 0;
  std::int64_t tombstones_written = 0;
  // PHI-free notes that did not fail the run, e.g. a Bulk Data export's error files.
  std::vector<std::string> warnings;
};

// Keeps what sync learns. Thread safety: implementations serialise their own access.
class SyncSink {
 public:
  virtual ~SyncSink() = default;

  // nullopt when no checkpoint was ever committed for `key`.
  virtual base::Result<std::optional<std::string>> ReadCheckpoint(const CheckpointKey& key) = 0;

  // Writes the page's resources (a version replaces the stored one only when it is newer, or,
  // when versions are unknown, when its content hash differs), its tombstones (applied unless
  // the stored version is newer than the deleting one) and the checkpoint, all or nothing.
  virtual base::Status CommitPage(const PageWrite& page) = 0;

  // CommitPage that keeps nothing (kLeaseLost) unless `fence`'s lease is still held when the
  // page's transaction commits. Only a sink writing into the store that holds the work items can
  // check that; the others refuse with kInvalidPrecondition and write nothing.
  virtual base::Status CommitFencedPage(const PageWrite& page, const LeaseFence& fence);

  // What is stored about `type/id`, or nullopt if nothing is.
  virtual base::Result<std::optional<StoredResourceInfo>> ReadResource(const std::string& type,
                                                                       const std::string& id) = 0;

  // Content hashes of the live resources of `type` read under `context`, by id.
  virtual base::Result<std::map<std::string, std::string>> ContentHashes(
      const std::string& type, const std::string& context) = 0;

  // Ids of the live resources of `type` (any context).
  virtual base::Result<std::vector<std::string>> LiveIds(const std::string& type) = 0;

  virtual base::Status Quarantine(const QuarantinedPage& page) = 0;

  // Records a run when it starts; FinishRun completes the same record.
  virtual base::Result<std::int64_t> BeginRun(const RunRecord& run) = 0;
  virtual base::Status FinishRun(std::int64_t run_id, const RunRecord& run) = 0;
};

}  // namespace fhirbridge::sync
