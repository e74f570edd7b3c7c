#pragma once

// A small RAII wrapper over libpq for the PostgreSQL ReplicaStore.
//
// Every failure comes back as kStorageFailure naming the action and the SQLSTATE. PostgreSQL's
// own message is added only for classes whose messages never quote data (connection,
// syntax and schema, resources, operator intervention, transaction rollback); messages of the
// other classes (data exceptions, constraint violations) can quote a value, so they are left out
// and the SQLSTATE alone identifies the failure.
//
// Thread safety: a connection is not thread-safe; the owner serialises access.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

struct pg_conn;
struct pg_result;

namespace fhirbridge::store {

class PgResult {
 public:
  int rows() const;
  bool IsNull(int row, int column) const;
  std::string Text(int row, int column) const;
  std::int64_t Int64(int row, int column) const;
  double Double(int row, int column) const;
  // Rows affected by an INSERT, UPDATE or DELETE.
  std::int64_t AffectedRows() const;

 private:
  friend class PgConnection;
  struct Clear {
    void operator()(pg_result* result) const;
  };
  explicit PgResult(pg_result* result) : result_(result) {}
  std::unique_ptr<pg_result, Clear> result_;
};

// Parameters travel as text; std::nullopt is SQL NULL.
using PgParams = std::vector<std::optional<std::string>>;

class PgConnection {
 public:
  // Connects with a libpq connection string or URI. When `schema` is not empty, creates it if
  // missing and puts it first on the search path.
  static base::Result<PgConnection> Connect(const std::string& dsn, const std::string& schema);

  // Runs one or more statements without parameters.
  base::Result<PgResult> Execute(std::string_view sql, std::string_view action);
  // Runs one statement with text parameters $1, $2, ...
  base::Result<PgResult> Query(const std::string& sql, const PgParams& params,
                               std::string_view action);

  // Quotes `name` as an SQL identifier.
  std::string QuoteIdentifier(std::string_view name) const;

 private:
  struct Finish {
    void operator()(pg_conn* connection) const;
  };
  explicit PgConnection(pg_conn* connection) : connection_(connection) {}
  base::Result<PgResult> Check(pg_result* raw, std::string_view action);

  std::unique_ptr<pg_conn, Finish> connection_;
};

// BEGIN on creation, ROLLBACK on destruction unless committed.
class PgTransaction {
 public:
  static base::Result<PgTransaction> Begin(PgConnection& connection);
  PgTransaction(PgTransaction&& other) noexcept;
  PgTransaction& operator=(PgTransaction&&) = delete;
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;
  ~PgTransaction();

  base::Status Commit();

 private:
  explicit PgTransaction(PgConnection& connection) : connection_(&connection) {}
  PgConnection* connection_ = nullptr;  // null once committed or moved from
};

}  // namespace fhirbridge::store
