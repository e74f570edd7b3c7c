#include "auth/token_vault.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace fhirbridge::auth {
namespace {

constexpr std::string_view kAccessToken = "eyJhbGciOi.ACCESS-TOKEN-TEXT.sig";
constexpr std::string_view kRefreshToken = "REFRESH-TOKEN-TEXT-0123456789";

class TokenVaultTest : public testing::Test {
 protected:
  void SetUp() override {
    folder_ = std::filesystem::path(::testing::TempDir()) /
              ("token-vault-" +
               std::string(testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
               std::to_string(::getpid()));
    std::filesystem::remove_all(folder_);
    std::filesystem::create_directories(folder_);
    vault_path_ = folder_ / "vault.sqlite";
  }
  void TearDown() override { std::filesystem::remove_all(folder_); }

  static base::Secret Key(char fill) { return base::Secret(std::string(kVaultKeyBytes, fill)); }

  static VaultRecord Record(std::string site, std::string user) {
    VaultRecord record;
    record.site = std::move(site);
    record.user = std::move(user);
    record.access_token = base::Secret(kAccessToken);
    record.refresh_token = base::Secret(kRefreshToken);
    record.expires_at = base::SystemTime(std::chrono::seconds(1'900'000'000));
    record.granted_scope = "patient/Observation.rs launch/patient offline_access";
    record.patient = "eXyz123";
    record.fhir_user = "Practitioner/abc";
    return record;
  }

  std::string FileBytes(const std::filesystem::path& path) const {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream bytes;
    bytes << file.rdbuf();
    return bytes.str();
  }

  // Runs `sql` directly on the vault file, as an attacker with write access would.
  void Tamper(const std::string& sql) const {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(vault_path_.c_str(), &raw), SQLITE_OK);
    char* message = nullptr;
    const int result = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &message);
    sqlite3_free(message);
    sqlite3_close(raw);
    ASSERT_EQ(result, SQLITE_OK) << sql;
  }

  std::filesystem::path folder_;
  std::filesystem::path vault_path_;
};

const base::SystemTime kNow(std::chrono::seconds(1'800'000'000));

TEST_F(TokenVaultTest, RoundTripsEveryField) {
  auto vault = TokenVault::Open(vault_path_, Key('k'));
  ASSERT_TRUE(vault.has_value()) << vault.error().diagnostic;
  ASSERT_TRUE((*vault)->Put(Record("clinic", "dr-a"), kNow).has_value());

  auto record = (*vault)->Get("clinic", "dr-a");
  ASSERT_TRUE(record.has_value()) << record.error().diagnostic;
  EXPECT_EQ(record->access_token.reveal(), kAccessToken);
  EXPECT_EQ(record->refresh_token.reveal(), kRefreshToken);
  EXPECT_EQ(record->expires_at, Record("", "").expires_at);
  EXPECT_EQ(record->granted_scope, "patient/Observation.rs launch/patient offline_access");
  EXPECT_EQ(record->patient, "eXyz123");
  EXPECT_EQ(record->fhir_user, "Practitioner/abc");

  // It survives closing and reopening with the same key.
  vault->reset();
  auto reopened = TokenVault::Open(vault_path_, Key('k'));
  ASSERT_TRUE(reopened.has_value()) << reopened.error().diagnostic;
  EXPECT_EQ((*reopened)->Get("clinic", "dr-a")->access_token.reveal(), kAccessToken);
}

TEST_F(TokenVaultTest, PutReplacesEraseRemovesAndMissingIsNotFound) {
  auto vault = TokenVault::Open(vault_path_, Key('k'));
  ASSERT_TRUE(vault.has_value());
  ASSERT_TRUE((*vault)->Put(Record("clinic", "system"), kNow).has_value());
  VaultRecord newer = Record("clinic", "system");
  newer.access_token = base::Secret("SECOND-TOKEN");
  newer.refresh_token = base::Secret();
  ASSERT_TRUE((*vault)->Put(newer, kNow + std::chrono::minutes(5)).has_value());

  auto record = (*vault)->Get("clinic", "system");
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->access_token.reveal(), "SECOND-TOKEN");
  EXPECT_TRUE(record->refresh_token.empty());

  EXPECT_EQ((*vault)->Get("clinic", "someone-else").error().code, base::ErrorCode::kNotFound);
  EXPECT_EQ((*vault)->Erase("clinic", "system"), true);
  EXPECT_EQ((*vault)->Erase("clinic", "system"), false);
  EXPECT_EQ((*vault)->Get("clinic", "system").error().code, base::ErrorCode::kNotFound);
}

TEST_F(TokenVaultTest, ListShowsSiteUserAndExpiryButNoTokenText) {
  auto vault = TokenVault::Open(vault_path_, Key('k'));
  ASSERT_TRUE(vault.has_value());
  ASSERT_TRUE((*vault)->Put(Record("north", "system"), kNow).has_value());
  VaultRecord other = Record("alpha", "dr-b");
  other.refresh_token = base::Secret();
  ASSERT_TRUE((*vault)->Put(other, kNow).has_value());

  auto entries = (*vault)->List();
  ASSERT_TRUE(entries.has_value());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].site, "alpha");
  EXPECT_EQ((*entries)[0].user, "dr-b");
  EXPECT_FALSE((*entries)[0].has_refresh_token);
  EXPECT_EQ((*entries)[1].site, "north");
  EXPECT_TRUE((*entries)[1].has_refresh_token);
  EXPECT_EQ((*entries)[1].expires_at, Record("", "").expires_at);
  EXPECT_EQ((*entries)[1].updated_at, kNow);
}

TEST_F(TokenVaultTest, NothingSecretIsStoredInClear) {
  {
    auto vault = TokenVault::Open(vault_path_, Key('k'));
    ASSERT_TRUE(vault.has_value());
    ASSERT_TRUE((*vault)->Put(Record("clinic", "dr-a"), kNow).has_value());
  }
  // The WAL is checkpointed into the main file when the last connection closes; read every file.
  std::string bytes;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    bytes += FileBytes(vault_path_.string() + suffix);
  }
  ASSERT_FALSE(bytes.empty());
  for (const std::string_view secret :
       {kAccessToken, kRefreshToken, std::string_view("eXyz123"),
        std::string_view("Practitioner/abc"), std::string_view("patient/Observation.rs")}) {
    EXPECT_EQ(bytes.find(secret), std::string::npos) << secret;
  }
}

TEST_F(TokenVaultTest, WrongKeyFailsAtOpenNotWithGarbage) {
  {
    auto vault = TokenVault::Open(vault_path_, Key('k'));
    ASSERT_TRUE(vault.has_value());
    ASSERT_TRUE((*vault)->Put(Record("clinic", "dr-a"), kNow).has_value());
  }
  const auto wrong = TokenVault::Open(vault_path_, Key('w'));
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, base::ErrorCode::kVaultUnreadable);
  EXPECT_NE(wrong.error().diagnostic.find("written with another key"), std::string::npos);

  const auto short_key = TokenVault::Open(vault_path_, base::Secret("too short"));
  ASSERT_FALSE(short_key.has_value());
  EXPECT_EQ(short_key.error().code, base::ErrorCode::kSecretUnavailable);
}

TEST_F(TokenVaultTest, TamperedOrMovedRecordsFailLoudly) {
  {
    auto vault = TokenVault::Open(vault_path_, Key('k'));
    ASSERT_TRUE(vault.has_value());
    ASSERT_TRUE((*vault)->Put(Record("clinic", "dr-a"), kNow).has_value());
    ASSERT_TRUE((*vault)->Put(Record("clinic", "dr-b"), kNow).has_value());
    ASSERT_TRUE((*vault)->Put(Record("clinic", "dr-c"), kNow).has_value());
  }
  // One changed character of dr-a's ciphertext (base64url: swap A and B, or set A).
  Tamper(
      "UPDATE vault_tokens SET sealed = substr(sealed, 1, 30) || CASE substr(sealed, 31, 1) WHEN "
      "'A' THEN 'B' ELSE 'A' END || substr(sealed, 32) WHERE user = 'dr-a'");
  // dr-b's sealed record copied under another user's name.
  Tamper("DELETE FROM vault_tokens WHERE user = 'dr-x'");
  Tamper(
      "INSERT INTO vault_tokens SELECT site, 'dr-x', expires_at_ms, updated_at_ms, "
      "has_refresh_token, sealed FROM vault_tokens WHERE user = 'dr-b'");
  // dr-c's expiry extended in the clear column.
  Tamper("UPDATE vault_tokens SET expires_at_ms = expires_at_ms + 86400000 WHERE user = 'dr-c'");

  auto vault = TokenVault::Open(vault_path_, Key('k'));
  ASSERT_TRUE(vault.has_value()) << vault.error().diagnostic;
  for (const char* user : {"dr-a", "dr-x", "dr-c"}) {
    const auto record = (*vault)->Get("clinic", user);
    ASSERT_FALSE(record.has_value()) << user;
    EXPECT_EQ(record.error().code, base::ErrorCode::kVaultUnreadable) << user;
    EXPECT_EQ(record.error().ToString().find("TOKEN-TEXT"), std::string::npos);
  }
  EXPECT_TRUE((*vault)->Get("clinic", "dr-b").has_value()) << "untouched records still open";
}

TEST_F(TokenVaultTest, FilesAreCreatedOwnerOnly) {
  const mode_t previous = ::umask(022);
  auto vault = TokenVault::Open(vault_path_, Key('k'));
  ::umask(previous);
  ASSERT_TRUE(vault.has_value());
  ASSERT_TRUE((*vault)->Put(Record("clinic", "dr-a"), kNow).has_value());
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string path = vault_path_.string() + suffix;
    struct stat status {};
    ASSERT_EQ(::stat(path.c_str(), &status), 0) << path;
    EXPECT_EQ(status.st_mode & 0777, 0600u) << path;
  }
}

TEST_F(TokenVaultTest, VaultReadableByOthersIsRefused) {
  { ASSERT_TRUE(TokenVault::Open(vault_path_, Key('k')).has_value()); }
  std::filesystem::permissions(vault_path_, std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  const auto vault = TokenVault::Open(vault_path_, Key('k'));
  ASSERT_FALSE(vault.has_value());
  EXPECT_EQ(vault.error().code, base::ErrorCode::kVaultUnreadable);
  EXPECT_NE(vault.error().diagnostic.find("chmod 600"), std::string::npos);
}

TEST_F(TokenVaultTest, ManyThreadsShareOneVault) {
  auto vault = TokenVault::Open(vault_path_, Key('k'));
  ASSERT_TRUE(vault.has_value());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const std::string user = "user-" + std::to_string(t) + "-" + std::to_string(i % 5);
        EXPECT_TRUE((*vault)->Put(Record("clinic", user), kNow).has_value());
        EXPECT_TRUE((*vault)->Get("clinic", user).has_value());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ((*vault)->List()->size(), 20u);
}

TEST_F(TokenVaultTest, KeyFileIsCreatedOwnerOnlyAndNeverReplaced) {
  const auto key_file = folder_ / "vault.key";
  ASSERT_TRUE(CreateVaultKeyFile(key_file).has_value());
  struct stat status {};
  ASSERT_EQ(::stat(key_file.c_str(), &status), 0);
  EXPECT_EQ(status.st_mode & 0777, 0600u);

  const std::string text = FileBytes(key_file);
  EXPECT_EQ(text.size(), 45u);  // 44 base64 characters and a newline
  auto key = LoadVaultKey(key_file, std::nullopt);
  ASSERT_TRUE(key.has_value()) << key.error().diagnostic;
  EXPECT_EQ(key->size(), kVaultKeyBytes);

  // The same key from the environment opens a vault made with the file's key.
  ASSERT_TRUE(TokenVault::Open(vault_path_, std::move(*key)).has_value());
  auto from_environment = LoadVaultKey(std::nullopt, std::string_view(text).substr(0, 44));
  ASSERT_TRUE(from_environment.has_value());
  EXPECT_TRUE(TokenVault::Open(vault_path_, std::move(*from_environment)).has_value());

  const auto again = CreateVaultKeyFile(key_file);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, base::ErrorCode::kConfigInvalid);
  EXPECT_EQ(FileBytes(key_file), text) << "the existing key is untouched";

  // Two key files never hold the same key.
  ASSERT_TRUE(CreateVaultKeyFile(folder_ / "other.key").has_value());
  EXPECT_NE(FileBytes(folder_ / "other.key"), text);
}

TEST_F(TokenVaultTest, BadKeysAreRefusedWithoutQuotingThem) {
  const std::string bad = "bm90LWEta2V5LW5vdC1hLWtleS1ub3QtYS1rZXktbm90LWE=";  // 36 bytes
  const auto wrong_length = LoadVaultKey(std::nullopt, bad);
  ASSERT_FALSE(wrong_length.has_value());
  EXPECT_EQ(wrong_length.error().code, base::ErrorCode::kSecretUnavailable);
  EXPECT_EQ(wrong_length.error().diagnostic.find(bad), std::string::npos);
  EXPECT_NE(wrong_length.error().diagnostic.find("FHIRBRIDGE_VAULT_KEY"), std::string::npos);

  EXPECT_FALSE(LoadVaultKey(std::nullopt, std::string(44, '!')).has_value());
  EXPECT_EQ(LoadVaultKey(std::nullopt, std::nullopt).error().code,
            base::ErrorCode::kSecretUnavailable);
  EXPECT_EQ(LoadVaultKey(folder_ / "missing.key", std::nullopt).error().code,
            base::ErrorCode::kSecretUnavailable);

  const auto open_key = folder_ / "open.key";
  ASSERT_TRUE(CreateVaultKeyFile(open_key).has_value());
  std::filesystem::permissions(open_key, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  const auto readable = LoadVaultKey(open_key, std::nullopt);
  ASSERT_FALSE(readable.has_value());
  EXPECT_NE(readable.error().diagnostic.find("chmod 600"), std::string::npos);
}

TEST(CoreDumpTest, DisablingCoreDumpsSetsTheLimitToZero) {
  // In a child, so that the test process itself keeps its settings.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!base::DisableCoreDumps().has_value()) ::_exit(2);
    rlimit limit{};
    if (::getrlimit(RLIMIT_CORE, &limit) != 0 || limit.rlim_cur != 0 || limit.rlim_max != 0) {
      ::_exit(3);
    }
#if !defined(__SANITIZE_ADDRESS__)
    if (::prctl(PR_GET_DUMPABLE) != 0) ::_exit(4);
#endif
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SecretTest, MovesWithoutCopyingAndTakesFromStrings) {
  base::Secret first("abc");
  const char* buffer = first.reveal().data();
  base::Secret second = std::move(first);
  EXPECT_EQ(second.reveal().data(), buffer) << "a move hands the buffer over";
  EXPECT_TRUE(first.empty());  // NOLINT(bugprone-use-after-move): checking the moved-from state

  std::string text = "token-value";
  base::Secret taken = base::Secret::Take(text);
  EXPECT_TRUE(text.empty());
  EXPECT_EQ(taken.reveal(), "token-value");
}

}  // namespace
}  // namespace fhirbridge::auth
