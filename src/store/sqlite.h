#pragma once

// A small RAII wrapper over the SQLite C API, shared by the sandbox's resource store and the
// runtime's local store.
//
// Every failure SQLite reports comes back as base::ErrorCode::kStorageFailure whose diagnostic
// holds SQLite's own message and result code. Diagnostics never contain bound values, so they
// are safe to log even when the data is a patient's.
//
// Thread safety: a Database and its Statements are not thread-safe (the connection is opened
// without SQLite's internal mutex); the owner serialises access, typically with one mutex per
// connection.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace fhirbridge::store {

class Database;

// Whether a statement is kept and reused; SQLite allocates long-lived statements so that they
// do not exhaust the connection's small-allocation pool.
enum class StatementLifetime { kShortLived, kLongLived };

// One prepared statement, finalized when destroyed. It may be destroyed after its Database
// (SQLite closes a connection only once its last statement is finalized) but must not be used
// after that.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are numbered from 1, as in SQL ("?1"). Text is copied by SQLite.
  base::Status BindText(int index, std::string_view value);
  // Binds text without copying it (for large values such as a resource's JSON): `value` must
  // stay alive and unchanged until the statement is reset or the parameter bound again.
  base::Status BindTextReference(int index, std::string_view value);
  base::Status BindInt64(int index, std::int64_t value);
  base::Status BindDouble(int index, double value);
  base::Status BindNull(int index);

  // Advances to the next row: true when a row is available, false when the statement is done.
  base::Result<bool> Step();

  // Steps a statement that returns no rows (INSERT, UPDATE, DELETE) to completion.
  base::Status Run();

  // Columns of the current row, numbered from 0 as in SQLite's C API. Only valid after Step()
  // returned true. A NULL reads as "" or 0.
  std::string ColumnText(int column) const;
  std::int64_t ColumnInt64(int column) const;
  double ColumnDouble(int column) const;
  bool ColumnIsNull(int column) const;
  // The storage class of the column's value in the current row.
  enum class ColumnType { kInteger, kFloat, kText, kBlob, kNull };
  ColumnType TypeOf(int column) const;

  // Makes the statement ready to run again and clears its bindings. A statement that is left
  // mid-result keeps a read transaction open, so reused statements should be reset after use
  // (see StatementScope).
  void Reset();

 private:
  friend class Database;
  Statement(sqlite3* connection, sqlite3_stmt* statement);

  sqlite3* connection_ = nullptr;  // not owned; used for error messages
  sqlite3_stmt* statement_ = nullptr;
};

// Resets a reused statement when the scope ends, whichever way the scope is left.
class StatementScope {
 public:
  explicit StatementScope(Statement& statement) : statement_(statement) {}
  StatementScope(const StatementScope&) = delete;
  StatementScope& operator=(const StatementScope&) = delete;
  ~StatementScope() { statement_.Reset(); }

  Statement* operator->() const { return &statement_; }
  Statement& operator*() const { return statement_; }

 private:
  Statement& statement_;
};

struct OpenOptions {
  // How long a write waits for another connection's lock before failing with "database is
  // locked".
  std::chrono::milliseconds busy_timeout{5000};
};

// One connection. Opening applies the settings every fhirbridge store relies on: the busy
// timeout, write-ahead logging for files (readers never block the writer), synchronous=NORMAL
// (durable across process crashes, and fast) and enforced foreign keys.
class Database {
 public:
  // Opens `path`, creating the file if missing; ":memory:" opens a private in-memory database.
  static base::Result<Database> Open(const std::string& path, const OpenOptions& options = {});

  Database(Database&& other) noexcept = default;
  Database& operator=(Database&& other) noexcept = default;
  ~Database();

  // Runs one or more statements that need no bindings (schema, pragmas, BEGIN/COMMIT).
  base::Status Execute(std::string_view sql);

  // Prepares exactly one statement; trailing text other than whitespace is an error.
  base::Result<Statement> Prepare(std::string_view sql,
                                  StatementLifetime lifetime = StatementLifetime::kShortLived);

  // Row id of the last successful INSERT on this connection.
  std::int64_t LastInsertRowId() const;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  std::int64_t ChangedRows() const;
  // True while an explicit transaction (BEGIN ... COMMIT/ROLLBACK) is open.
  bool InTransaction() const;

  // Reads an integer pragma, for example "user_version".
  base::Result<std::int64_t> ReadIntegerPragma(std::string_view name);

 private:
  struct Closer {
    void operator()(sqlite3* connection) const;
  };
  explicit Database(sqlite3* connection);

  std::unique_ptr<sqlite3, Closer> connection_;
};

// An explicit transaction that rolls back unless committed.
class TransactionGuard {
 public:
  // kImmediate takes the write lock at BEGIN, so a read-then-write sequence cannot fail midway
  // because another connection wrote first.
  enum class Mode { kDeferred, kImmediate, kExclusive };

  static base::Result<TransactionGuard> Begin(Database& database, Mode mode = Mode::kImmediate);

  TransactionGuard(TransactionGuard&& other) noexcept;
  TransactionGuard& operator=(TransactionGuard&& other) noexcept;
  TransactionGuard(const TransactionGuard&) = delete;
  TransactionGuard& operator=(const TransactionGuard&) = delete;
  // Rolls back if the transaction is still open.
  ~TransactionGuard();

  // Commits. On failure the transaction is rolled back when the guard is destroyed.
  base::Status Commit();

  bool active() const { return database_ != nullptr; }

 private:
  explicit TransactionGuard(Database& database) : database_(&database) {}
  void RollbackIfOpen();

  Database* database_ = nullptr;  // null once committed or moved from
};

}  // namespace fhirbridge::store
