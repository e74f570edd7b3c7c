#include "store/sqlite.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

namespace fhirbridge::store {
namespace {

Database OpenInMemory() {
  auto database = Database::Open(":memory:");
  EXPECT_TRUE(database.has_value()) << database.error().ToString();
  return std::move(*database);
}

std::filesystem::path FreshDirectory(const std::string& name) {
  const auto directory = std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  return directory;
}

std::int64_t CountRows(Database& database, std::string_view table) {
  auto statement = database.Prepare("SELECT COUNT(*) FROM " + std::string(table));
  EXPECT_TRUE(statement.has_value());
  EXPECT_TRUE(statement->Step().value_or(false));
  return statement->ColumnInt64(0);
}

TEST(SqliteTest, BindsAndReadsTextIntegersAndNull) {
  Database database = OpenInMemory();
  ASSERT_TRUE(database.Execute("CREATE TABLE t (name TEXT, number INTEGER, note TEXT)"));

  auto insert = database.Prepare("INSERT INTO t VALUES (?1, ?2, ?3)");
  ASSERT_TRUE(insert.has_value());
  // Text with an embedded NUL proves the length, not a terminator, is used.
  const std::string name("a\0b", 3);
  ASSERT_TRUE(insert->BindText(1, name));
  ASSERT_TRUE(insert->BindInt64(2, 9'000'000'000));
  ASSERT_TRUE(insert->BindNull(3));
  ASSERT_TRUE(insert->Run());
  EXPECT_EQ(database.LastInsertRowId(), 1);
  EXPECT_EQ(database.ChangedRows(), 1);

  auto select = database.Prepare("SELECT name, number, note FROM t");
  ASSERT_TRUE(select.has_value());
  auto has_row = select->Step();
  ASSERT_TRUE(has_row.has_value());
  ASSERT_TRUE(*has_row);
  EXPECT_EQ(select->ColumnText(0), name);
  EXPECT_EQ(select->ColumnInt64(1), 9'000'000'000);
  EXPECT_FALSE(select->ColumnIsNull(1));
  EXPECT_TRUE(select->ColumnIsNull(2));
  EXPECT_EQ(select->ColumnText(2), "");
  EXPECT_FALSE(select->Step().value());
}

TEST(SqliteTest, ResetAllowsReuseWithFreshBindings) {
  Database database = OpenInMemory();
  auto statement = database.Prepare("SELECT ?1 + 1", StatementLifetime::kLongLived);
  ASSERT_TRUE(statement.has_value());
  for (std::int64_t i = 0; i < 3; ++i) {
    StatementScope scope(*statement);
    ASSERT_TRUE(scope->BindInt64(1, i));
    ASSERT_TRUE(scope->Step().value());
    EXPECT_EQ(scope->ColumnInt64(0), i + 1);
  }
  // Bindings were cleared by the last reset: NULL + 1 is NULL.
  ASSERT_TRUE(statement->Step().value());
  EXPECT_TRUE(statement->ColumnIsNull(0));
}

TEST(SqliteTest, ErrorsAreStorageFailuresWithSqliteMessageButNoValues) {
  Database database = OpenInMemory();
  ASSERT_TRUE(database.Execute("CREATE TABLE t (name TEXT UNIQUE)"));
  auto insert = database.Prepare("INSERT INTO t VALUES (?1)");
  ASSERT_TRUE(insert.has_value());
  ASSERT_TRUE(insert->BindText(1, "secret-value"));
  ASSERT_TRUE(insert->Run());
  insert->Reset();
  ASSERT_TRUE(insert->BindText(1, "secret-value"));

  const auto duplicate = insert->Run();
  ASSERT_FALSE(duplicate.has_value());
  EXPECT_EQ(duplicate.error().code, base::ErrorCode::kStorageFailure);
  EXPECT_NE(duplicate.error().diagnostic.find("UNIQUE constraint failed"), std::string::npos);
  EXPECT_EQ(duplicate.error().diagnostic.find("secret-value"), std::string::npos);

  const auto bad_sql = database.Prepare("SELEC nothing");
  ASSERT_FALSE(bad_sql.has_value());
  EXPECT_EQ(bad_sql.error().code, base::ErrorCode::kStorageFailure);
  EXPECT_NE(bad_sql.error().diagnostic.find("syntax error"), std::string::npos);

  const auto bad_execute = database.Execute("DROP TABLE missing");
  ASSERT_FALSE(bad_execute.has_value());
  EXPECT_NE(bad_execute.error().diagnostic.find("no such table"), std::string::npos);

  EXPECT_FALSE(insert->BindText(7, "x").has_value());
}

TEST(SqliteTest, PrepareRefusesMoreThanOneStatement) {
  Database database = OpenInMemory();
  EXPECT_FALSE(database.Prepare("SELECT 1; SELECT 2").has_value());
  EXPECT_FALSE(database.Prepare("   ").has_value());
  EXPECT_TRUE(database.Prepare("SELECT 1;  \n").has_value());
}

TEST(SqliteTest, TransactionGuardRollsBackUnlessCommitted) {
  Database database = OpenInMemory();
  ASSERT_TRUE(database.Execute("CREATE TABLE t (x INTEGER)"));
  {
    auto guard = TransactionGuard::Begin(database);
    ASSERT_TRUE(guard.has_value());
    EXPECT_TRUE(database.InTransaction());
    ASSERT_TRUE(database.Execute("INSERT INTO t VALUES (1)"));
  }
  EXPECT_FALSE(database.InTransaction());
  EXPECT_EQ(CountRows(database, "t"), 0);

  {
    auto guard = TransactionGuard::Begin(database, TransactionGuard::Mode::kDeferred);
    ASSERT_TRUE(guard.has_value());
    ASSERT_TRUE(database.Execute("INSERT INTO t VALUES (2)"));
    ASSERT_TRUE(guard->Commit());
    EXPECT_FALSE(guard->active());
    EXPECT_FALSE(guard->Commit().has_value());
  }
  EXPECT_EQ(CountRows(database, "t"), 1);
}

TEST(SqliteTest, GuardSurvivesTransactionEndedBehindItsBack) {
  Database database = OpenInMemory();
  ASSERT_TRUE(database.Execute("CREATE TABLE t (x INTEGER)"));
  {
    auto guard = TransactionGuard::Begin(database);
    ASSERT_TRUE(guard.has_value());
    ASSERT_TRUE(database.Execute("ROLLBACK"));
  }
  // The guard's destructor found no open transaction and left the connection usable.
  auto next = TransactionGuard::Begin(database);
  ASSERT_TRUE(next.has_value()) << next.error().ToString();
  ASSERT_TRUE(database.Execute("INSERT INTO t VALUES (1)"));
  ASSERT_TRUE(next->Commit());
  EXPECT_EQ(CountRows(database, "t"), 1);
}

TEST(SqliteTest, FileDatabaseUsesWalAndForeignKeys) {
  const auto path = FreshDirectory("sqlite_test_wal") / "store.db";
  {
    auto database = Database::Open(path.string());
    ASSERT_TRUE(database.has_value()) << database.error().ToString();
    auto mode = database->Prepare("PRAGMA journal_mode");
    ASSERT_TRUE(mode.has_value());
    ASSERT_TRUE(mode->Step().value());
    EXPECT_EQ(mode->ColumnText(0), "wal");
    EXPECT_EQ(database->ReadIntegerPragma("foreign_keys").value(), 1);
    // synchronous=NORMAL is 1.
    EXPECT_EQ(database->ReadIntegerPragma("synchronous").value(), 1);
    EXPECT_EQ(database->ReadIntegerPragma("busy_timeout").value(), 5000);

    ASSERT_TRUE(
        database->Execute("CREATE TABLE parent (id INTEGER PRIMARY KEY);"
                          "CREATE TABLE child (parent INTEGER REFERENCES parent(id));"
                          "PRAGMA user_version = 7"));
    EXPECT_FALSE(database->Execute("INSERT INTO child VALUES (42)").has_value());
  }

  auto reopened = Database::Open(path.string());
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ(reopened->ReadIntegerPragma("user_version").value(), 7);
}

TEST(SqliteTest, OpenFailureIsStorageFailure) {
  const auto missing = FreshDirectory("sqlite_test_missing") / "no-such-dir" / "store.db";
  const auto database = Database::Open(missing.string());
  ASSERT_FALSE(database.has_value());
  EXPECT_EQ(database.error().code, base::ErrorCode::kStorageFailure);
  EXPECT_NE(database.error().diagnostic.find("unable to open"), std::string::npos);
}

TEST(SqliteTest, StatementMayOutliveItsDatabaseObject) {
  std::optional<Statement> statement;
  {
    Database database = OpenInMemory();
    auto prepared = database.Prepare("SELECT 1");
    ASSERT_TRUE(prepared.has_value());
    statement = std::move(*prepared);
  }
  // The connection closes only when the statement is finalized; finalizing must be safe.
  statement.reset();
}

}  // namespace
}  // namespace fhirbridge::store
