#pragma once

// Versioned FHIR resource storage for one sandbox tenant, in SQLite (a file or in memory).
//
// Every version of every resource is kept. The store assigns ids (through the tenant's id
// generator), meta.versionId (1, 2, ...) and meta.lastUpdated (UTC, milliseconds), and writes
// them into the stored JSON. A delete is a version of its own with no body. The values of every
// R4 search parameter (fhir/search_parameters.h) are indexed when a resource is written, inside
// the write's transaction: replaced on update and removed on delete, so search never reads JSON.
//
// Thread safety: every method may be called from any thread. One connection serves the tenant
// and a mutex serialises access; a Transaction holds that mutex for its whole life, so all the
// steps of a conditional create or a transaction Bundle are atomic with respect to other clients.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "fhir/json_value.h"
#include "sandbox/search_query.h"

namespace fhirbridge::fhir {
struct SearchIndexEntries;
}  // namespace fhirbridge::fhir

namespace fhirbridge::sandbox {

// One stored version of a resource.
struct StoredVersion {
  std::string type;
  std::string id;
  std::int64_t version = 0;
  std::string last_updated;  // FHIR instant, UTC with milliseconds
  bool deleted = false;
  std::string json;           // the resource with id and meta filled in; empty for a delete
  std::string method;         // how this version was made: "POST", "PUT" or "DELETE"
  std::int64_t sequence = 0;  // store-wide write order; later writes have larger numbers
};

struct WriteOutcome {
  StoredVersion stored;
  // True when this write created the resource: version 1, or the first version after a delete.
  bool created = false;
};

// A search criterion the store can answer from its index.
struct IdentifierCriterion {
  std::optional<std::string> system;  // nullopt: any system; "" : no system
  std::string value;
};

struct HistoryQuery {
  std::optional<std::string> type;   // nullopt: whole tenant
  std::optional<std::string> id;     // needs type
  std::optional<std::string> since;  // FHIR instant; only versions updated at or after it
  std::int64_t count = 100;          // at most this many entries, newest first
  // Only versions written before this sequence number: the cursor of the next page is the
  // sequence of the last entry of the page before.
  std::optional<std::int64_t> before_sequence;
};

struct HistoryPage {
  std::vector<StoredVersion> entries;  // newest first
  std::int64_t total = 0;              // how many versions match, ignoring `count`
};

// One page of a search.
struct SearchPage {
  std::vector<StoredVersion> matches;   // in the search's order
  std::vector<StoredVersion> included;  // _include and _revinclude, each resource once
  std::optional<std::int64_t> total;    // per StoreSearch::total; an estimate stops at 10,000
  // Where the next page starts; nullopt on the last page.
  std::optional<SearchPosition> next;
  bool included_truncated = false;  // StoreSearch::max_included was reached
};

// A point in the store's write order, for reading the store as it was then while writes go on
// (Bulk Data export). Every version it includes was stamped at or before `instant`, and every
// later write is stamped strictly after it.
struct StoreSnapshot {
  std::int64_t sequence = 0;     // the last write included; 0 for an empty store
  std::string instant;           // FHIR instant, UTC with milliseconds
  std::uint64_t generation = 0;  // the store's clear count when the snapshot was taken
};

// One resource as a snapshot saw it: its latest version at or before the snapshot (a delete
// when it was deleted by then).
struct SnapshotRow {
  std::int64_t key = 0;  // the resource's number; rows come in increasing key order
  StoredVersion version;
};

using IdGenerator = std::function<std::string()>;

// Which R4 search parameters a store indexes: true to index `code` on `type`. Whatever it says,
// a store indexes `identifier` (conditional creates), `patient` (the patient column of token
// rows) and every reference parameter (_include and _revinclude may name any of them). A null
// filter indexes every parameter.
using IndexFilter = std::function<bool(std::string_view type, std::string_view code)>;

// A resource made ready for Transaction::LoadPrepared by PrepareLoad: stamped and serialised as
// its first version, and its search index values extracted. Preparing needs no store and no
// lock, so a bulk load prepares resources on another thread while the transaction writes.
struct PreparedLoad {
  PreparedLoad();
  ~PreparedLoad();
  PreparedLoad(PreparedLoad&&) noexcept;
  PreparedLoad& operator=(PreparedLoad&&) noexcept;

  std::string type;
  std::string id;
  std::string instant;  // the meta.lastUpdated it was stamped with
  std::string json;     // the resource with id, meta.versionId "1" and meta.lastUpdated
  std::unique_ptr<fhir::SearchIndexEntries> entries;
};

// Prepares `resource` (a JSON object whose resourceType is `type`; modified: it receives the id
// and meta) for LoadPrepared, stamped with `instant` (Transaction::LoadInstant). Thread-safe.
base::Result<PreparedLoad> PrepareLoad(std::string_view type, std::string_view id,
                                       fhir::Json& resource, std::string_view instant);

class ResourceStore;

// Exclusive access to the store inside one SQLite transaction. Commit() makes the writes durable;
// destroying an uncommitted Transaction rolls every write back.
class Transaction {
 public:
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // kNotFound if no such resource, kGone if its current version is a delete.
  base::Result<StoredVersion> Read(std::string_view type, std::string_view id);
  // kVersionNotFound if the resource exists but not at `version`; kNotFound if it never existed.
  base::Result<StoredVersion> ReadVersion(std::string_view type, std::string_view id,
                                          std::int64_t version);

  // Stores `resource` (a JSON object whose resourceType is `type`) under a new id: `id` when
  // given (kVersionConflict if a resource of that type already has it), else one from the id
  // generator. Any id or meta.versionId/lastUpdated in the input is replaced.
  base::Result<StoredVersion> Create(std::string_view type, const fhir::Json& resource,
                                     const std::optional<std::string>& id = std::nullopt);

  // Stores a new version of `type/id`. If `expected_version` is set and differs from the
  // current version, fails with kVersionConflict. If the resource does not exist (or is
  // deleted), creates it when `allow_create` is true, else fails with kNotFound.
  base::Result<WriteOutcome> Update(std::string_view type, std::string_view id,
                                    const fhir::Json& resource, bool allow_create,
                                    std::optional<std::int64_t> expected_version = std::nullopt);

  // Records a delete as a new version. Deleting a resource that is already deleted changes
  // nothing and succeeds; deleting one that never existed fails with kNotFound.
  base::Status Delete(std::string_view type, std::string_view id);

  // For bulk loads: stores `resource` (a JSON object whose resourceType is `type`) as type/id
  // unless a current, not deleted resource has that type and id, which is left as it is.
  // Returns true when it stored the resource. `resource` is modified: it receives the id and
  // meta as stored. Every resource this transaction loads gets the same meta.lastUpdated (a
  // bulk load is one moment), which saves a clock read and keeps lastUpdated near the clock
  // however many resources are loaded.
  base::Result<bool> LoadIfAbsent(std::string_view type, std::string_view id, fhir::Json& resource);

  // The meta.lastUpdated of the resources this transaction loads, for PrepareLoad.
  base::Result<std::string> LoadInstant();

  // LoadIfAbsent for a prepared resource: stores exactly what LoadIfAbsent would have stored
  // for the resource PrepareLoad was given. A resource prepared with another instant than this
  // transaction's, or one that reloads a deleted resource (so is not version 1), is stamped
  // again here, which costs a parse.
  base::Result<bool> LoadPrepared(PreparedLoad& prepared);

  // Ids of current (not deleted) resources of `type` carrying a matching identifier.
  base::Result<std::vector<std::string>> FindByIdentifier(std::string_view type,
                                                          const IdentifierCriterion& criterion);

  base::Result<HistoryPage> History(const HistoryQuery& query);

  // Removes every resource and version (the reset to a baseline starts with this).
  base::Status Clear();

  base::Status Commit();

 private:
  friend class ResourceStore;
  explicit Transaction(ResourceStore& store);
  struct State;
  std::unique_ptr<State> state_;
};

class ResourceStore {
 public:
  // Opens (creating if needed) the store at `path`; ":memory:" keeps it in memory. Creates the
  // schema on first use. A store opened with another filter than the one its index was built
  // with rebuilds the index.
  static base::Result<std::unique_ptr<ResourceStore>> Open(const std::string& path,
                                                           IdGenerator id_generator,
                                                           IndexFilter index_filter = nullptr);
  ~ResourceStore();

  // Begins an exclusive transaction; blocks while another is open.
  base::Result<std::unique_ptr<Transaction>> Begin();

  // Single-step conveniences, each in its own transaction.
  base::Result<StoredVersion> Read(std::string_view type, std::string_view id);
  base::Result<StoredVersion> ReadVersion(std::string_view type, std::string_view id,
                                          std::int64_t version);

  // Removes every resource and version, as for a reset to the baseline.
  base::Status Clear();

  // Number of current (not deleted) resources per type.
  base::Result<std::map<std::string, std::int64_t>> CountByType();

  // Takes a snapshot of the store as it is now (see StoreSnapshot).
  base::Result<StoreSnapshot> TakeSnapshot();

  // Up to `limit` resources of `type` with keys greater than `after_key`, each as of `snapshot`;
  // resources created after the snapshot are left out. Each call holds the store only for its
  // own reads. kCancelled when the store was cleared (reset) since the snapshot, because the
  // versions it named are gone.
  base::Result<std::vector<SnapshotRow>> ReadAsOf(std::string_view type,
                                                  const StoreSnapshot& snapshot,
                                                  std::int64_t after_key, std::int64_t limit);

  // One page of `search` over current resources, answered from the search index (see
  // sandbox/search_query.h). Read-only; the page, its total and its included resources are
  // read while no writer can run, so they agree with each other.
  base::Result<SearchPage> Search(const StoreSearch& search);

 private:
  friend class Transaction;
  struct Impl;
  explicit ResourceStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fhirbridge::sandbox
