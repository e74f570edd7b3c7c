#include "store/replica_store.h"

#include "store/postgres_replica_store.h"
#include "store/sqlite_replica_store.h"

namespace fhirbridge::store {
namespace {

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

base::Result<std::unique_ptr<ReplicaStore>> OpenReplicaStore(const StoreLocation& location) {
  const std::string_view text = location.location;
  if (StartsWith(text, "sqlite:")) {
    return OpenSqliteReplicaStore(std::string(text.substr(7)));
  }
  if (EndsWith(text, ".db") || EndsWith(text, ".sqlite") || text == ":memory:") {
    return OpenSqliteReplicaStore(location.location);
  }
  if (StartsWith(text, "postgresql://") || StartsWith(text, "postgres://") ||
      text.find('=') != std::string_view::npos) {
    return OpenPostgresReplicaStore(location.location, location.schema);
  }
  return base::Fail(base::ErrorCode::kConfigInvalid,
                    "the store location is neither sqlite:PATH (or a .db or .sqlite file) nor a "
                    "PostgreSQL URI or key=value connection string",
                    "store");
}

}  // namespace fhirbridge::store
