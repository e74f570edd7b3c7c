#pragma once

// The fleet ReplicaStore: PostgreSQL through libpq. Many `fhirbridge worker` processes on many
// machines share one database: pages are written with multi-row upserts, work items are leased
// with FOR UPDATE SKIP LOCKED, and lease and budget times come from the server's clock.

#include <memory>
#include <string>

#include "base/result.h"
#include "store/replica_store.h"

namespace fhirbridge::store {

// Connects with `dsn` (a libpq URI or key=value string) and migrates. When `schema` is not
// empty every table lives in that schema, created if missing.
base::Result<std::unique_ptr<ReplicaStore>> OpenPostgresReplicaStore(const std::string& dsn,
                                                                     const std::string& schema);

}  // namespace fhirbridge::store
