#pragma once

// Bulk loading: large sets of resources written straight into a tenant's store, without the
// FHIR API's per-request work, for seeding a sandbox with generated data (in process, or through
// the admin route POST /admin/tenants/{tenant}/bulk-load).
//
// Input is NDJSON: one FHIR resource per line, each with resourceType (an R4 type) and id (1 to
// 200 letters, digits, '-' or '.'); blank lines are allowed. A resource whose type and id are
// already current in the store is left as it is and counted as already present, so loading the
// same set twice stores nothing the second time. References are stored as written (the store
// does not check that they resolve, as a transaction Bundle's literal references are not
// checked either). Resources are indexed for search as every write is.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "sandbox/resource_store.h"

namespace fhirbridge::sandbox {

struct BulkLoadCounts {
  std::map<std::string, std::int64_t, std::less<>> created_by_type;
  std::map<std::string, std::int64_t, std::less<>> present_by_type;
  std::int64_t created = 0;
  std::int64_t already_present = 0;
  std::int64_t lines = 0;  // lines read, blank ones included
};

// Loads NDJSON into a store in transactions of a given size, holding the store's write lock
// while a transaction is open. Each call to Add prepares its lines on a second thread while the
// calling thread stores them. Not thread-safe; one loader per thread.
class BulkLoader {
 public:
  // `resources_per_transaction` 0 keeps everything in one transaction until Finish (all or
  // nothing); otherwise a transaction commits each time it holds that many resources.
  BulkLoader(ResourceStore& store, std::size_t resources_per_transaction);
  ~BulkLoader();
  BulkLoader(const BulkLoader&) = delete;
  BulkLoader& operator=(const BulkLoader&) = delete;

  // Loads complete lines (each ending in '\n'; the last may lack it). Lines are numbered from 1
  // across calls. On the first bad line returns kInvalidJson or kInvalidResource whose
  // diagnostic starts "line N:" and rolls back the open transaction; transactions committed
  // before stay, and the loader refuses further input.
  base::Status Add(std::string_view ndjson);

  // Commits the open transaction.
  base::Status Finish();

  // What committed transactions stored, plus the open one's.
  const BulkLoadCounts& counts() const { return counts_; }

 private:
  base::Status BeginIfNeeded();
  // Per line, the type of the resource when the store already holds it (else ""), found with
  // a light parse so that loading a set again costs little more than reading it.
  // Limitation: such a line is checked by simdjson's parser only, not parsed by nlohmann as the
  // other lines are; a line one of them accepts and the other refuses is then counted as
  // present rather than refused.
  base::Result<std::vector<std::string>> FindPresent(std::span<const std::string_view> lines);
  // Stores the resource prepared from line `line`.
  base::Status Store(PreparedLoad& load, std::int64_t line);
  // Marks the loader failed, rolls the open transaction back and returns `failure`.
  base::Status Abandon(base::Status failure);

  ResourceStore& store_;
  std::size_t resources_per_transaction_;
  std::unique_ptr<Transaction> transaction_;
  std::size_t in_transaction_ = 0;
  bool failed_ = false;
  BulkLoadCounts counts_;
};

// Loads `ndjson` in one transaction: every line is stored, or (on the first bad line, reported
// as above) none.
base::Result<BulkLoadCounts> BulkLoadNdjson(ResourceStore& store, std::string_view ndjson);

}  // namespace fhirbridge::sandbox
