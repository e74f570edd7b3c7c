#pragma once

// A PostgreSQL schema of its own for one test, on the server FHIRBRIDGE_TEST_POSTGRES_DSN names
// (ctest's postgres fixture sets it; by hand: eval "$(scripts/postgres.sh start)").

#include <string>
#include <string_view>

namespace fhirbridge::testing {

class PostgresTestSchema {
 public:
  // Reads the DSN and names a fresh schema "PREFIX_<random hex>" (created by whatever opens it
  // first). Skips the calling test under FHIRBRIDGE_SKIP_POSTGRES=1 and fails it when no DSN is
  // set: the caller returns when ::testing::Test::IsSkipped() or HasFatalFailure().
  void Name(std::string_view prefix);

  // Drops the schema and everything in it; nothing when Name did not get that far.
  void Drop();

  const std::string& dsn() const { return dsn_; }
  const std::string& schema() const { return schema_; }

 private:
  std::string dsn_;
  std::string schema_;
};

}  // namespace fhirbridge::testing
