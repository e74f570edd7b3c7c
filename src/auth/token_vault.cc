#include "auth/token_vault.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "jose/jose.h"

namespace fhirbridge::auth {
namespace {

using base::ErrorCode;

constexpr std::size_t kNonceBytes = 12;  // 96 bits, GCM's natural nonce size
constexpr std::size_t kTagBytes = 16;
constexpr std::string_view kAadPrefix = "fhirbridge-vault/1";
constexpr std::string_view kKeyCheckText = "fhirbridge vault key check";
constexpr std::string_view kTokenKind = "token";
constexpr std::string_view kKeyCheckKind = "key-check";

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS vault_meta (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vault_tokens (
  site TEXT NOT NULL,
  user TEXT NOT NULL,
  expires_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  has_refresh_token INTEGER NOT NULL,
  sealed TEXT NOT NULL,
  PRIMARY KEY (site, user)
);
)sql";

struct CipherContextFree {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextFree>;

// A std::string whose bytes are overwritten when it goes out of scope.
struct CleansedString {
  std::string text;
  ~CleansedString() { base::CleanseString(text); }
};

std::int64_t Milliseconds(base::SystemTime time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

base::SystemTime FromMilliseconds(std::int64_t milliseconds) {
  return base::SystemTime(std::chrono::milliseconds(milliseconds));
}

// What the ciphertext is bound to: the kind of record, its site and user, and the clear-text
// columns stored beside it.
std::string AdditionalData(std::string_view kind, std::string_view site, std::string_view user,
                           std::int64_t expires_at_ms, bool has_refresh_token) {
  std::string aad(kAadPrefix);
  for (const std::string_view part : {kind, site, user}) {
    aad += '\0';
    aad += part;
  }
  aad += '\0';
  aad += std::to_string(expires_at_ms);
  aad += has_refresh_token ? "\0r" : "\0-";
  return aad;
}

base::Error Unreadable(std::string diagnostic) {
  return base::MakeError(ErrorCode::kVaultUnreadable, std::move(diagnostic));
}

// nonce || ciphertext || tag.
base::Result<std::string> Seal(const base::Secret& key, std::string_view plaintext,
                               std::string_view aad) {
  std::string sealed(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(sealed.data());
  if (RAND_bytes(bytes, static_cast<int>(kNonceBytes)) != 1) {
    return base::Fail(ErrorCode::kInternal, "the random number generator failed");
  }
  CipherContext context(EVP_CIPHER_CTX_new());
  int length = 0;
  const auto* key_bytes = reinterpret_cast<const unsigned char*>(key.reveal().data());
  const bool ok =
      context != nullptr &&
      EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
      EVP_EncryptInit_ex(context.get(), nullptr, nullptr, key_bytes, bytes) == 1 &&
      EVP_EncryptUpdate(context.get(), nullptr, &length,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_EncryptUpdate(context.get(), bytes + kNonceBytes, &length,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(context.get(), bytes + kNonceBytes + length, &length) == 1 &&
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          bytes + kNonceBytes + plaintext.size()) == 1;
  if (!ok) return base::Fail(ErrorCode::kInternal, "AES-256-GCM encryption failed");
  return jose::Base64UrlEncode(sealed);
}

// The plaintext, into `plaintext` (which the caller cleanses); kVaultUnreadable when the
// ciphertext, its nonce, tag or additional data were changed, or the key is not the one it was
// sealed with. GCM checks the tag before anything is returned, so a wrong key never yields
// garbage.
base::Status OpenSealed(const base::Secret& key, std::string_view encoded, std::string_view aad,
                        std::string& plaintext) {
  auto decoded = jose::Base64UrlDecode(encoded);
  if (!decoded || decoded->size() < kNonceBytes + kTagBytes) {
    return base::Fail(Unreadable("a vault record is damaged (not a sealed record)"));
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(decoded->data());
  const std::size_t ciphertext_size = decoded->size() - kNonceBytes - kTagBytes;
  plaintext.assign(ciphertext_size, '\0');
  std::array<unsigned char, kTagBytes> tag{};
  std::memcpy(tag.data(), bytes + kNonceBytes + ciphertext_size, kTagBytes);

  CipherContext context(EVP_CIPHER_CTX_new());
  int length = 0;
  auto* out = reinterpret_cast<unsigned char*>(plaintext.data());
  const auto* key_bytes = reinterpret_cast<const unsigned char*>(key.reveal().data());
  const bool ok =
      context != nullptr &&
      EVP_DecryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
      EVP_DecryptInit_ex(context.get(), nullptr, nullptr, key_bytes, bytes) == 1 &&
      EVP_DecryptUpdate(context.get(), nullptr, &length,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(context.get(), out, &length, bytes + kNonceBytes,
                        static_cast<int>(ciphertext_size)) == 1 &&
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(context.get(), out + length, &length) == 1;
  if (!ok) {
    base::CleanseString(plaintext);
    plaintext.clear();
    return base::Fail(Unreadable(
        "a vault record does not open with this key: the key is not the one the vault was "
        "written with, or the record was changed"));
  }
  return {};
}

// The sealed part of a record: length-prefixed fields, so that no field's text needs escaping.
void AppendField(std::string& out, std::string_view field) {
  const auto size = static_cast<std::uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((size >> shift) & 0xff);
  out += field;
}

bool ReadField(std::string_view& in, std::string_view& field) {
  if (in.size() < 4) return false;
  std::uint32_t size = 0;
  for (int i = 0; i < 4; ++i) size = (size << 8) | static_cast<unsigned char>(in[i]);
  in.remove_prefix(4);
  if (in.size() < size) return false;
  field = in.substr(0, size);
  in.remove_prefix(size);
  return true;
}

base::Status TightenMode(const std::filesystem::path& path) {
  if (::chmod(path.c_str(), S_IRUSR | S_IWUSR) != 0 && errno != ENOENT) {
    return base::Fail(ErrorCode::kIoFailure,
                      "cannot set mode 0600 on " + path.string() + ": " + std::strerror(errno));
  }
  return {};
}

// Creates `path` empty with mode 0600 if it does not exist; refuses an existing file that other
// users can read.
base::Status PrepareVaultFile(const std::filesystem::path& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) == 0) {
    if ((status.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      return base::Fail(Unreadable("the vault " + path.string() +
                                   " can be read by other users; run chmod 600 on it and check "
                                   "who has read it"));
    }
    return {};
  }
  const int descriptor = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (descriptor < 0) {
    return base::Fail(ErrorCode::kIoFailure,
                      "cannot create the vault " + path.string() + ": " + std::strerror(errno));
  }
  // The umask may only have removed bits; this makes the mode exact.
  const int changed = ::fchmod(descriptor, S_IRUSR | S_IWUSR);
  ::close(descriptor);
  if (changed != 0) return TightenMode(path);
  return {};
}

base::Result<base::Secret> DecodeKey(std::string_view text, std::string_view where) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  const auto invalid = [&] {
    return base::Fail(ErrorCode::kSecretUnavailable,
                      std::string(where) +
                          " does not hold a vault key: it must be 32 bytes in base64 (44 "
                          "characters), as `fhirbridge vault init-key` writes");
  };
  if (text.size() != 44) return invalid();
  CleansedString decoded;
  decoded.text.assign(33, '\0');  // EVP_DecodeBlock writes whole 3-byte groups
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.text.data()),
                                     reinterpret_cast<const unsigned char*>(text.data()),
                                     static_cast<int>(text.size()));
  // 44 characters with one '=' of padding hold 32 bytes.
  if (length != 33 || text[43] != '=' || text[42] == '=') return invalid();
  return base::Secret(std::string_view(decoded.text).substr(0, kVaultKeyBytes));
}

// Opens the key-check record with `key`, or writes it when the vault is new.
base::Status CheckKey(store::Database& database, const base::Secret& key,
                      const std::filesystem::path& path) {
  const std::string aad = AdditionalData(kKeyCheckKind, "", "", 0, false);
  auto select = database.Prepare("SELECT value FROM vault_meta WHERE name = 'key_check'");
  if (!select) return base::Fail(select.error());
  auto found = select->Step();
  if (!found) return base::Fail(found.error());
  if (*found) {
    CleansedString plaintext;
    if (auto opened = OpenSealed(key, select->ColumnText(0), aad, plaintext.text); !opened) {
      return base::Fail(Unreadable("the vault key does not open the vault " + path.string() +
                                   ": it was written with another key. Use the key it was "
                                   "created with, or move the vault aside and sign in again"));
    }
    if (plaintext.text != kKeyCheckText) {
      return base::Fail(Unreadable("the vault's key check record is damaged"));
    }
    return {};
  }
  auto sealed = Seal(key, kKeyCheckText, aad);
  if (!sealed) return base::Fail(sealed.error());
  auto insert = database.Prepare("INSERT INTO vault_meta (name, value) VALUES ('key_check', ?1)");
  if (!insert) return base::Fail(insert.error());
  if (auto bound = insert->BindText(1, *sealed); !bound) return base::Fail(bound.error());
  return insert->Run();
}

}  // namespace

base::Status CreateVaultKeyFile(const std::filesystem::path& path) {
  CleansedString key;
  key.text.assign(kVaultKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.text.data()),
                 static_cast<int>(kVaultKeyBytes)) != 1) {
    return base::Fail(ErrorCode::kInternal, "the random number generator failed");
  }
  CleansedString encoded;
  encoded.text.assign(45, '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.text.data()),
                  reinterpret_cast<const unsigned char*>(key.text.data()),
                  static_cast<int>(kVaultKeyBytes));
  encoded.text[44] = '\n';

  const int descriptor = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (descriptor < 0) {
    if (errno == EEXIST) {
      return base::Fail(ErrorCode::kConfigInvalid,
                        "the key file " + path.string() +
                            " already exists; a new key would make every token sealed under it "
                            "unreadable, so it is left as it is");
    }
    return base::Fail(ErrorCode::kIoFailure,
                      "cannot create the key file " + path.string() + ": " + std::strerror(errno));
  }
  const bool written = ::fchmod(descriptor, S_IRUSR | S_IWUSR) == 0 &&
                       ::write(descriptor, encoded.text.data(), encoded.text.size()) ==
                           static_cast<ssize_t>(encoded.text.size()) &&
                       ::fsync(descriptor) == 0;
  ::close(descriptor);
  if (!written) {
    std::filesystem::remove(path);
    return base::Fail(ErrorCode::kIoFailure, "cannot write the key file " + path.string());
  }
  return {};
}

base::Result<base::Secret> LoadVaultKey(const std::optional<std::filesystem::path>& key_file,
                                        const std::optional<std::string_view>& environment_value) {
  if (key_file) {
    const std::string where = "the key file " + key_file->string();
    struct stat status {};
    if (::stat(key_file->c_str(), &status) != 0) {
      return base::Fail(ErrorCode::kSecretUnavailable,
                        "cannot find " + where + ": " + std::strerror(errno) +
                            "; create one with `fhirbridge vault init-key`");
    }
    if ((status.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      return base::Fail(ErrorCode::kSecretUnavailable,
                        where + " can be read by other users; run chmod 600 on it");
    }
    std::ifstream file(*key_file, std::ios::binary);
    CleansedString text;
    text.text.assign(64, '\0');
    file.read(text.text.data(), static_cast<std::streamsize>(text.text.size()));
    if (file.bad()) return base::Fail(ErrorCode::kSecretUnavailable, "cannot read " + where);
    return DecodeKey(std::string_view(text.text).substr(0, static_cast<std::size_t>(file.gcount())),
                     where);
  }
  if (environment_value) {
    return DecodeKey(*environment_value,
                     "the environment variable " + std::string(kVaultKeyVariable));
  }
  return base::Fail(ErrorCode::kSecretUnavailable,
                    "no vault key: give a key file (made by `fhirbridge vault init-key`) or set " +
                        std::string(kVaultKeyVariable));
}

TokenVault::TokenVault(store::Database database, base::Secret key)
    : database_(std::move(database)), key_(std::move(key)) {}

TokenVault::~TokenVault() = default;

base::Result<std::unique_ptr<TokenVault>> TokenVault::Open(const std::filesystem::path& path,
                                                           base::Secret key) {
  if (key.size() != kVaultKeyBytes) {
    return base::Fail(ErrorCode::kSecretUnavailable, "the vault key must be 32 bytes");
  }
  if (auto prepared = PrepareVaultFile(path); !prepared) return base::Fail(prepared.error());

  auto database = store::Database::Open(path.string());
  if (!database) return base::Fail(database.error());
  // Erased rows are overwritten, not left in free pages.
  if (auto pragma = database->Execute("PRAGMA secure_delete=ON"); !pragma) {
    return base::Fail(pragma.error());
  }
  if (auto schema = database->Execute(kSchema); !schema) return base::Fail(schema.error());
  // SQLite gives -wal and -shm the main file's mode; this holds even if that ever changes.
  for (const char* suffix : {"-wal", "-shm"}) {
    if (auto tightened = TightenMode(path.string() + suffix); !tightened) {
      return base::Fail(tightened.error());
    }
  }

  if (auto checked = CheckKey(*database, key, path); !checked) return base::Fail(checked.error());

  return std::unique_ptr<TokenVault>(new TokenVault(std::move(*database), std::move(key)));
}

base::Status TokenVault::Put(const VaultRecord& record, base::SystemTime now) {
  CleansedString plaintext;
  const std::size_t size = record.access_token.size() + record.refresh_token.size() +
                           record.granted_scope.size() + record.patient.size() +
                           record.fhir_user.size() + 5 * 4;
  plaintext.text.reserve(size);  // one allocation: no stray copies from regrowth
  AppendField(plaintext.text, record.access_token.reveal());
  AppendField(plaintext.text, record.refresh_token.reveal());
  AppendField(plaintext.text, record.granted_scope);
  AppendField(plaintext.text, record.patient);
  AppendField(plaintext.text, record.fhir_user);

  const std::int64_t expires_at_ms = Milliseconds(record.expires_at);
  const bool has_refresh_token = !record.refresh_token.empty();
  auto sealed =
      Seal(key_, plaintext.text,
           AdditionalData(kTokenKind, record.site, record.user, expires_at_ms, has_refresh_token));
  if (!sealed) return base::Fail(sealed.error());

  std::lock_guard lock(mutex_);
  auto statement = database_.Prepare(
      "INSERT INTO vault_tokens (site, user, expires_at_ms, updated_at_ms, has_refresh_token, "
      "sealed) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (site, user) DO UPDATE SET "
      "expires_at_ms = excluded.expires_at_ms, updated_at_ms = excluded.updated_at_ms, "
      "has_refresh_token = excluded.has_refresh_token, sealed = excluded.sealed");
  if (!statement) return base::Fail(statement.error());
  for (const auto& bound :
       {statement->BindText(1, record.site), statement->BindText(2, record.user),
        statement->BindInt64(3, expires_at_ms), statement->BindInt64(4, Milliseconds(now)),
        statement->BindInt64(5, has_refresh_token ? 1 : 0), statement->BindText(6, *sealed)}) {
    if (!bound) return base::Fail(bound.error());
  }
  return statement->Run();
}

base::Result<VaultRecord> TokenVault::Get(std::string_view site, std::string_view user) {
  std::lock_guard lock(mutex_);
  auto statement = database_.Prepare(
      "SELECT expires_at_ms, has_refresh_token, sealed FROM vault_tokens WHERE site = ?1 AND "
      "user = ?2");
  if (!statement) return base::Fail(statement.error());
  if (auto bound = statement->BindText(1, site); !bound) return base::Fail(bound.error());
  if (auto bound = statement->BindText(2, user); !bound) return base::Fail(bound.error());
  auto found = statement->Step();
  if (!found) return base::Fail(found.error());
  if (!*found) {
    return base::Fail(ErrorCode::kNotFound, "the vault holds no tokens for site \"" +
                                                std::string(site) + "\" and this user");
  }
  const std::int64_t expires_at_ms = statement->ColumnInt64(0);
  const bool has_refresh_token = statement->ColumnInt64(1) != 0;
  CleansedString plaintext;
  if (auto opened = OpenSealed(
          key_, statement->ColumnText(2),
          AdditionalData(kTokenKind, site, user, expires_at_ms, has_refresh_token), plaintext.text);
      !opened) {
    return base::Fail(opened.error());
  }

  std::string_view rest = plaintext.text;
  std::array<std::string_view, 5> fields;
  for (auto& field : fields) {
    if (!ReadField(rest, field)) {
      return base::Fail(Unreadable("a vault record opened but its content is malformed"));
    }
  }
  VaultRecord record;
  record.site = std::string(site);
  record.user = std::string(user);
  record.access_token = base::Secret(fields[0]);
  record.refresh_token = base::Secret(fields[1]);
  record.expires_at = FromMilliseconds(expires_at_ms);
  record.granted_scope = std::string(fields[2]);
  record.patient = std::string(fields[3]);
  record.fhir_user = std::string(fields[4]);
  return record;
}

base::Result<bool> TokenVault::Erase(std::string_view site, std::string_view user) {
  std::lock_guard lock(mutex_);
  auto statement = database_.Prepare("DELETE FROM vault_tokens WHERE site = ?1 AND user = ?2");
  if (!statement) return base::Fail(statement.error());
  if (auto bound = statement->BindText(1, site); !bound) return base::Fail(bound.error());
  if (auto bound = statement->BindText(2, user); !bound) return base::Fail(bound.error());
  if (auto run = statement->Run(); !run) return base::Fail(run.error());
  return database_.ChangedRows() > 0;
}

base::Result<std::vector<VaultEntry>> TokenVault::List() {
  std::lock_guard lock(mutex_);
  auto statement = database_.Prepare(
      "SELECT site, user, expires_at_ms, updated_at_ms, has_refresh_token FROM vault_tokens "
      "ORDER BY site, user");
  if (!statement) return base::Fail(statement.error());
  std::vector<VaultEntry> entries;
  while (true) {
    auto row = statement->Step();
    if (!row) return base::Fail(row.error());
    if (!*row) break;
    entries.push_back({statement->ColumnText(0), statement->ColumnText(1),
                       FromMilliseconds(statement->ColumnInt64(2)),
                       FromMilliseconds(statement->ColumnInt64(3)),
                       statement->ColumnInt64(4) != 0});
  }
  return entries;
}

}  // namespace fhirbridge::auth
