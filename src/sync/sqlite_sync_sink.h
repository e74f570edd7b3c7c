#pragma once

// A SyncSink over one SQLite file: the stand-in for the runtime's local store (src/store) until
// sync is wired to it. It keeps the current version of each resource (with tombstones), the
// checkpoints, quarantined pages and run records of one site.
//
// Thread safety: every method may be called from any thread; one mutex serialises them.

#include <memory>
#include <mutex>
#include <string>

#include "store/sqlite.h"
#include "sync/ports.h"

namespace fhirbridge::sync {

class SqliteSyncSink : public SyncSink {
 public:
  // Opens (creating if needed) the store at `path` for `site`.
  static base::Result<std::unique_ptr<SqliteSyncSink>> Open(const std::string& path,
                                                            std::string site);
  ~SqliteSyncSink() override;

  base::Result<std::optional<std::string>> ReadCheckpoint(const CheckpointKey& key) override;
  base::Status CommitPage(const PageWrite& page) override;
  base::Result<std::optional<StoredResourceInfo>> ReadResource(const std::string& type,
                                                               const std::string& id) override;
  base::Result<std::map<std::string, std::string>> ContentHashes(
      const std::string& type, const std::string& context) override;
  base::Result<std::vector<std::string>> LiveIds(const std::string& type) override;
  base::Status Quarantine(const QuarantinedPage& page) override;
  base::Result<std::int64_t> BeginRun(const RunRecord& run) override;
  base::Status FinishRun(std::int64_t run_id, const RunRecord& run) override;

  // Rows changed by CommitPage since the sink was opened: resource versions written and
  // tombstones applied. Lets callers and tests see that a repeated page changed nothing.
  std::int64_t resources_written() const;
  std::int64_t tombstones_written() const;

  // Live (type, id, version) rows, for comparisons in tests and benchmarks.
  struct LiveRow {
    std::string type;
    std::string id;
    std::int64_t version = 0;
    std::string content_hash;
  };
  base::Result<std::vector<LiveRow>> LiveRows();

 private:
  struct Impl;
  explicit SqliteSyncSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fhirbridge::sync
