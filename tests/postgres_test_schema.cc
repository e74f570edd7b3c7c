#include "postgres_test_schema.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "store/postgres.h"

namespace fhirbridge::testing {

void PostgresTestSchema::Name(std::string_view prefix) {
  const char* skip = std::getenv("FHIRBRIDGE_SKIP_POSTGRES");
  if (skip != nullptr && std::string_view(skip) == "1") {
    GTEST_SKIP() << "FHIRBRIDGE_SKIP_POSTGRES=1";
  }
  const char* dsn = std::getenv("FHIRBRIDGE_TEST_POSTGRES_DSN");
  ASSERT_TRUE(dsn != nullptr && *dsn != '\0')
      << "FHIRBRIDGE_TEST_POSTGRES_DSN is not set; run through ctest (postgres fixture) or "
         "eval \"$(scripts/postgres.sh start)\"";
  std::random_device device;
  std::uniform_int_distribution<unsigned long long> distribution;
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", distribution(device));
  dsn_ = dsn;
  schema_ = std::string(prefix) + "_" + suffix;
}

void PostgresTestSchema::Drop() {
  if (dsn_.empty()) return;
  auto connection = store::PgConnection::Connect(dsn_, "");
  ASSERT_TRUE(connection) << connection.error().diagnostic;
  auto dropped = connection->Execute(
      "DROP SCHEMA IF EXISTS " + connection->QuoteIdentifier(schema_) + " CASCADE",
      "drop a test schema");
  EXPECT_TRUE(dropped) << dropped.error().diagnostic;
}

}  // namespace fhirbridge::testing
