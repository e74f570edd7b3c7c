#include "store/postgres.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <utility>

#include "store/store_support.h"

namespace fhirbridge::store {
namespace {

// SQLSTATE classes whose messages name objects and settings, never row data.
bool MessageIsSafe(std::string_view sqlstate) {
  const std::string_view group = sqlstate.substr(0, 2);
  return group == "08" || group == "42" || group == "53" || group == "57" || group == "40" ||
         group == "3F" || group == "55";
}

std::string FirstLine(const char* message) {
  std::string line = message != nullptr ? message : "";
  if (const auto end = line.find('\n'); end != std::string::npos) line.resize(end);
  return line;
}

void IgnoreNotice(void* /*argument*/, const char* /*message*/) {}

}  // namespace

void PgResult::Clear::operator()(pg_result* result) const { PQclear(result); }

int PgResult::rows() const { return PQntuples(result_.get()); }

bool PgResult::IsNull(int row, int column) const {
  return PQgetisnull(result_.get(), row, column) != 0;
}

std::string PgResult::Text(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<std::size_t>(PQgetlength(result_.get(), row, column)));
}

std::int64_t PgResult::Int64(int row, int column) const {
  return std::strtoll(PQgetvalue(result_.get(), row, column), nullptr, 10);
}

double PgResult::Double(int row, int column) const {
  return std::strtod(PQgetvalue(result_.get(), row, column), nullptr);
}

std::int64_t PgResult::AffectedRows() const {
  return std::strtoll(PQcmdTuples(result_.get()), nullptr, 10);
}

void PgConnection::Finish::operator()(pg_conn* connection) const { PQfinish(connection); }

base::Result<PgConnection> PgConnection::Connect(const std::string& dsn,
                                                 const std::string& schema) {
  PgConnection connection(PQconnectdb(dsn.c_str()));
  if (connection.connection_ == nullptr) {
    return base::Fail(base::ErrorCode::kStorageFailure, "PostgreSQL: out of memory connecting");
  }
  if (PQstatus(connection.connection_.get()) != CONNECTION_OK) {
    // Connection messages name the host, port and socket, never data.
    return base::Fail(
        base::ErrorCode::kStorageFailure,
        "PostgreSQL could not connect: " + FirstLine(PQerrorMessage(connection.connection_.get())));
  }
  PQsetNoticeProcessor(connection.connection_.get(), IgnoreNotice, nullptr);
  if (!schema.empty()) {
    const std::string quoted = connection.QuoteIdentifier(schema);
    auto created = connection.Execute(
        "CREATE SCHEMA IF NOT EXISTS " + quoted + "; SET search_path TO " + quoted,
        "select the schema");
    if (!created) {
      // Two connections creating the same schema at once: one loses the race; the schema is
      // there either way.
      auto again = connection.Execute(
          "CREATE SCHEMA IF NOT EXISTS " + quoted + "; SET search_path TO " + quoted,
          "select the schema");
      if (!again) return std::unexpected(again.error());
    }
  }
  return connection;
}

std::string PgConnection::QuoteIdentifier(std::string_view name) const {
  char* quoted = PQescapeIdentifier(connection_.get(), name.data(), name.size());
  std::string text = quoted != nullptr ? quoted : "\"\"";
  PQfreemem(quoted);
  return text;
}

base::Result<PgResult> PgConnection::Check(pg_result* raw, std::string_view action) {
  PgResult result(raw);
  const ExecStatusType status = PQresultStatus(raw);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
  const std::string sqlstate = state != nullptr ? state : "";
  std::string diagnostic = "PostgreSQL could not ";
  diagnostic += action;
  diagnostic += ": SQLSTATE ";
  diagnostic += sqlstate.empty() ? "unknown" : sqlstate;
  if (sqlstate.empty() || MessageIsSafe(sqlstate)) {
    const char* message =
        raw != nullptr ? PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    diagnostic += " (";
    diagnostic += message != nullptr ? message : FirstLine(PQerrorMessage(connection_.get()));
    diagnostic += ")";
  }
  return base::Fail(base::ErrorCode::kStorageFailure, std::move(diagnostic));
}

base::Result<PgResult> PgConnection::Execute(std::string_view sql, std::string_view action) {
  const std::string text(sql);
  return Check(PQexec(connection_.get(), text.c_str()), action);
}

base::Result<PgResult> PgConnection::Query(const std::string& sql, const PgParams& params,
                                           std::string_view action) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param ? param->c_str() : nullptr);
  return Check(PQexecParams(connection_.get(), sql.c_str(), static_cast<int>(values.size()),
                            nullptr, values.data(), nullptr, nullptr, 0),
               action);
}

base::Result<PgTransaction> PgTransaction::Begin(PgConnection& connection) {
  auto begun = connection.Execute("BEGIN", "begin a transaction");
  if (!begun) return std::unexpected(begun.error());
  return PgTransaction(connection);
}

PgTransaction::PgTransaction(PgTransaction&& other) noexcept
    : connection_(std::exchange(other.connection_, nullptr)) {}

PgTransaction::~PgTransaction() {
  if (connection_ != nullptr) {
    // A failed rollback leaves nothing to do: the server discards the transaction when the
    // connection closes, and the next BEGIN reports the broken connection.
    (void)connection_->Execute("ROLLBACK", "roll back a transaction");
  }
}

base::Status PgTransaction::Commit() {
  PgConnection* connection = std::exchange(connection_, nullptr);
  auto committed = connection->Execute("COMMIT", "commit a transaction");
  if (!committed) return std::unexpected(committed.error());
  return {};
}

}  // namespace fhirbridge::store
