#pragma once

// The embedded ReplicaStore: one SQLite file in write-ahead-log mode, created 0600 (it holds
// patient data), prepared statements kept and reused. Several processes may open the same file;
// SQLite serialises their writes.

#include <memory>
#include <string>

#include "base/result.h"
#include "store/replica_store.h"

namespace fhirbridge::store {

class Database;

// Applies the store's connection settings (page cache size, WAL checkpoint and size limits) to
// `database`. OpenSqliteReplicaStore does this itself; this is for tools that measure SQLite on
// the store's schema with the store's settings.
base::Status ConfigureReplicaConnection(Database& database);

// Opens (creating with mode 0600 when missing) and migrates the store at `path`. ":memory:"
// opens a private in-memory store.
base::Result<std::unique_ptr<ReplicaStore>> OpenSqliteReplicaStore(const std::string& path);

}  // namespace fhirbridge::store
