#include "store/sqlite.h"

#include <sqlite3.h>

#include <cctype>
#include <utility>

namespace fhirbridge::store {
namespace {

// SQLITE_TRANSIENT is a C-style cast in SQLite's header; spelling it out keeps -Wold-style-cast
// quiet. It tells SQLite to copy the bound text before the call returns.
sqlite3_destructor_type TransientText() {
  return reinterpret_cast<sqlite3_destructor_type>(  // NOLINT(performance-no-int-to-ptr)
      static_cast<std::intptr_t>(-1));
}

// The diagnostic for a failed call: what was being done, SQLite's message and its extended
// result code. SQLite's messages name tables and columns, never bound values.
base::Error StorageError(sqlite3* connection, int result, std::string_view action) {
  std::string diagnostic = "SQLite could not ";
  diagnostic += action;
  diagnostic += ": ";
  diagnostic += connection != nullptr ? sqlite3_errmsg(connection) : sqlite3_errstr(result);
  diagnostic += " (code ";
  diagnostic +=
      std::to_string(connection != nullptr ? sqlite3_extended_errcode(connection) : result);
  diagnostic += ")";
  return base::MakeError(base::ErrorCode::kStorageFailure, std::move(diagnostic));
}

bool IsBlank(std::string_view text) {
  for (const char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

}  // namespace

// Statement.

Statement::Statement(sqlite3* connection, sqlite3_stmt* statement)
    : connection_(connection), statement_(statement) {}

Statement::Statement(Statement&& other) noexcept
    : connection_(std::exchange(other.connection_, nullptr)),
      statement_(std::exchange(other.statement_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(statement_);
    connection_ = std::exchange(other.connection_, nullptr);
    statement_ = std::exchange(other.statement_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(statement_); }

base::Status Statement::BindText(int index, std::string_view value) {
  const int result = sqlite3_bind_text64(statement_, index, value.data(), value.size(),
                                         TransientText(), SQLITE_UTF8);
  if (result != SQLITE_OK) return std::unexpected(StorageError(connection_, result, "bind text"));
  return {};
}

base::Status Statement::BindTextReference(int index, std::string_view value) {
  // A null destructor is SQLITE_STATIC (spelled as a C-style cast in SQLite's header): SQLite
  // reads the caller's bytes in place.
  const int result =
      sqlite3_bind_text64(statement_, index, value.data(), value.size(), nullptr, SQLITE_UTF8);
  if (result != SQLITE_OK) return std::unexpected(StorageError(connection_, result, "bind text"));
  return {};
}

base::Status Statement::BindInt64(int index, std::int64_t value) {
  const int result = sqlite3_bind_int64(statement_, index, value);
  if (result != SQLITE_OK) {
    return std::unexpected(StorageError(connection_, result, "bind an integer"));
  }
  return {};
}

base::Status Statement::BindDouble(int index, double value) {
  const int result = sqlite3_bind_double(statement_, index, value);
  if (result != SQLITE_OK) {
    return std::unexpected(StorageError(connection_, result, "bind a number"));
  }
  return {};
}

base::Status Statement::BindNull(int index) {
  const int result = sqlite3_bind_null(statement_, index);
  if (result != SQLITE_OK) return std::unexpected(StorageError(connection_, result, "bind null"));
  return {};
}

base::Result<bool> Statement::Step() {
  const int result = sqlite3_step(statement_);
  if (result == SQLITE_ROW) return true;
  if (result == SQLITE_DONE) return false;
  return std::unexpected(StorageError(connection_, result, "run a statement"));
}

base::Status Statement::Run() {
  for (;;) {
    const auto has_row = Step();
    if (!has_row) return std::unexpected(has_row.error());
    if (!*has_row) return {};
  }
}

std::string Statement::ColumnText(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
  if (text == nullptr) return {};
  const int size = sqlite3_column_bytes(statement_, column);
  return std::string(text, static_cast<std::size_t>(size));
}

std::int64_t Statement::ColumnInt64(int column) const {
  return sqlite3_column_int64(statement_, column);
}

double Statement::ColumnDouble(int column) const {
  return sqlite3_column_double(statement_, column);
}

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

Statement::ColumnType Statement::TypeOf(int column) const {
  switch (sqlite3_column_type(statement_, column)) {
    case SQLITE_INTEGER:
      return ColumnType::kInteger;
    case SQLITE_FLOAT:
      return ColumnType::kFloat;
    case SQLITE_TEXT:
      return ColumnType::kText;
    case SQLITE_BLOB:
      return ColumnType::kBlob;
    default:
      return ColumnType::kNull;
  }
}

void Statement::Reset() {
  // sqlite3_reset repeats the last step's error, which the caller has already seen.
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

// Database.

void Database::Closer::operator()(sqlite3* connection) const {
  // close_v2 defers the close until the last statement is finalized, so the order in which a
  // Database and its Statements are destroyed does not matter.
  sqlite3_close_v2(connection);
}

Database::Database(sqlite3* connection) : connection_(connection) {}

Database::~Database() = default;

base::Result<Database> Database::Open(const std::string& path, const OpenOptions& options) {
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int opened = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // SQLite hands back a connection even when opening fails; owning it at once frees it.
  Database database(raw);
  if (opened != SQLITE_OK) {
    return std::unexpected(StorageError(raw, opened, "open the database file"));
  }
  sqlite3_extended_result_codes(raw, 1);

  const int timeout = sqlite3_busy_timeout(raw, static_cast<int>(options.busy_timeout.count()));
  if (timeout != SQLITE_OK) {
    return std::unexpected(StorageError(raw, timeout, "set the busy timeout"));
  }

  // Write-ahead logging only applies to files; an in-memory database has no file name.
  const char* file_name = sqlite3_db_filename(raw, "main");
  if (file_name != nullptr && *file_name != '\0') {
    if (auto wal = database.Execute("PRAGMA journal_mode=WAL"); !wal) {
      return std::unexpected(wal.error());
    }
  }
  if (auto pragmas = database.Execute("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON");
      !pragmas) {
    return std::unexpected(pragmas.error());
  }
  return database;
}

base::Status Database::Execute(std::string_view sql) {
  // sqlite3_exec needs a terminated string.
  const std::string text(sql);
  char* message = nullptr;
  const int result = sqlite3_exec(connection_.get(), text.c_str(), nullptr, nullptr, &message);
  sqlite3_free(message);  // the same text is available from sqlite3_errmsg
  if (result != SQLITE_OK) {
    return std::unexpected(StorageError(connection_.get(), result, "execute SQL"));
  }
  return {};
}

base::Result<Statement> Database::Prepare(std::string_view sql, StatementLifetime lifetime) {
  const unsigned int flags =
      lifetime == StatementLifetime::kLongLived ? SQLITE_PREPARE_PERSISTENT : 0;
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  const int result = sqlite3_prepare_v3(connection_.get(), sql.data(), static_cast<int>(sql.size()),
                                        flags, &raw, &tail);
  Statement statement(connection_.get(), raw);
  if (result != SQLITE_OK) {
    return std::unexpected(StorageError(connection_.get(), result, "prepare a statement"));
  }
  if (raw == nullptr) {
    return base::Fail(base::ErrorCode::kStorageFailure,
                      "SQLite could not prepare a statement: the SQL text holds no statement");
  }
  const auto consumed = static_cast<std::size_t>(tail - sql.data());
  if (!IsBlank(sql.substr(consumed))) {
    return base::Fail(base::ErrorCode::kStorageFailure,
                      "SQLite could not prepare a statement: the SQL text holds more than one "
                      "statement; prepare each separately");
  }
  return statement;
}

std::int64_t Database::LastInsertRowId() const {
  return sqlite3_last_insert_rowid(connection_.get());
}

std::int64_t Database::ChangedRows() const { return sqlite3_changes64(connection_.get()); }

bool Database::InTransaction() const { return sqlite3_get_autocommit(connection_.get()) == 0; }

base::Result<std::int64_t> Database::ReadIntegerPragma(std::string_view name) {
  std::string sql = "PRAGMA ";
  sql += name;
  auto statement = Prepare(sql);
  if (!statement) return std::unexpected(statement.error());
  const auto has_row = statement->Step();
  if (!has_row) return std::unexpected(has_row.error());
  if (!*has_row) {
    return base::Fail(base::ErrorCode::kStorageFailure,
                      "SQLite returned no value for PRAGMA " + std::string(name));
  }
  return statement->ColumnInt64(0);
}

// TransactionGuard.

base::Result<TransactionGuard> TransactionGuard::Begin(Database& database, Mode mode) {
  std::string_view sql = "BEGIN IMMEDIATE";
  if (mode == Mode::kDeferred) sql = "BEGIN DEFERRED";
  if (mode == Mode::kExclusive) sql = "BEGIN EXCLUSIVE";
  if (auto begun = database.Execute(sql); !begun) return std::unexpected(begun.error());
  return TransactionGuard(database);
}

TransactionGuard::TransactionGuard(TransactionGuard&& other) noexcept
    : database_(std::exchange(other.database_, nullptr)) {}

TransactionGuard& TransactionGuard::operator=(TransactionGuard&& other) noexcept {
  if (this != &other) {
    RollbackIfOpen();
    database_ = std::exchange(other.database_, nullptr);
  }
  return *this;
}

TransactionGuard::~TransactionGuard() { RollbackIfOpen(); }

base::Status TransactionGuard::Commit() {
  if (database_ == nullptr) {
    return base::Fail(base::ErrorCode::kInternal, "commit of a transaction that is not open");
  }
  if (auto committed = database_->Execute("COMMIT"); !committed) {
    return std::unexpected(committed.error());
  }
  database_ = nullptr;
  return {};
}

void TransactionGuard::RollbackIfOpen() {
  // A failed COMMIT or statement may already have rolled the transaction back; a ROLLBACK
  // then would only fail, so ask the connection first.
  if (database_ != nullptr && database_->InTransaction()) {
    // Nothing useful can be done if the rollback itself fails: the connection reports it on
    // its next use.
    static_cast<void>(database_->Execute("ROLLBACK"));
  }
  database_ = nullptr;
}

}  // namespace fhirbridge::store
