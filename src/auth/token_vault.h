#pragma once

// The token vault: the access and refresh tokens the runtime holds, per site and per user,
// encrypted at rest.
//
// Format: one SQLite file (created 0600, with its -wal and -shm files) holding one row per
// (site, user). The site, the user and the expiry are stored in clear so that List() works
// without decrypting; everything else (the tokens, the granted scope, the patient and user
// context) is sealed with AES-256-GCM under the vault key: a fresh random 96-bit nonce per
// write, and additional authenticated data binding the row to its site, user, record kind and
// expiry, so that a row copied to another site or user, or an edited expiry, fails to open. A
// key-check row, sealed when the vault is created, makes a wrong key fail at Open() with
// kVaultUnreadable, rather than later or with garbage; a tampered row fails with
// kVaultUnreadable too. Erased rows are overwritten on disk (SQLite's secure_delete).
//
// The vault key is 32 random bytes, written in base64 in a key file (0600, made by
// `fhirbridge vault init-key`) or given in the environment variable FHIRBRIDGE_VAULT_KEY.
//
// Tokens never appear in errors, logs or List(). Callers should call base::DisableCoreDumps()
// before opening a vault so that a crash cannot write them to a core file.
//
// Thread safety: a TokenVault may be used from many threads; calls are serialised.

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/secret.h"
#include "store/sqlite.h"

namespace fhirbridge::auth {

inline constexpr std::string_view kVaultKeyVariable = "FHIRBRIDGE_VAULT_KEY";
inline constexpr std::size_t kVaultKeyBytes = 32;

// Writes a new key file with 32 random bytes in base64, mode 0600. Refuses (kConfigInvalid) to
// replace an existing file, since every token sealed under the old key would be lost.
base::Status CreateVaultKeyFile(const std::filesystem::path& path);

// The vault key: from `key_file` when given, else from `environment_value` (the value of
// FHIRBRIDGE_VAULT_KEY, when set). kSecretUnavailable when neither is given, when the file is
// missing or readable by other users, or when the text is not 32 bytes in base64; the message
// never holds the key.
base::Result<base::Secret> LoadVaultKey(const std::optional<std::filesystem::path>& key_file,
                                        const std::optional<std::string_view>& environment_value);

// What is stored for one user of one site. For backend services, where no user is involved, the
// user is conventionally "system".
struct VaultRecord {
  std::string site;
  std::string user;
  base::Secret access_token;
  base::Secret refresh_token;  // empty when the site gave none
  base::SystemTime expires_at{};
  std::string granted_scope;  // the scope string the site granted, as received
  std::string patient;        // launch context: the patient's id, if any
  std::string fhir_user;      // launch context: the user's FHIR resource URL, if any
};

// What List() shows: no token text, no context.
struct VaultEntry {
  std::string site;
  std::string user;
  base::SystemTime expires_at{};
  base::SystemTime updated_at{};
  bool has_refresh_token = false;
};

class TokenVault {
 public:
  // Opens the vault at `path`, creating it (mode 0600) if missing. kVaultUnreadable when `key`
  // does not open an existing vault, or the file is readable by other users; kSecretUnavailable
  // when `key` is not 32 bytes; kStorageFailure when the file is not a vault.
  static base::Result<std::unique_ptr<TokenVault>> Open(const std::filesystem::path& path,
                                                        base::Secret key);

  // Stores `record`, replacing what was stored for its site and user.
  base::Status Put(const VaultRecord& record, base::SystemTime now);
  // kNotFound when nothing is stored for the site and user; kVaultUnreadable when the row does
  // not open (tampered, or moved from another site or user).
  base::Result<VaultRecord> Get(std::string_view site, std::string_view user);
  // Removes what is stored for the site and user; false when there was nothing.
  base::Result<bool> Erase(std::string_view site, std::string_view user);
  // Every stored entry, by site then user.
  base::Result<std::vector<VaultEntry>> List();

  ~TokenVault();
  TokenVault(const TokenVault&) = delete;
  TokenVault& operator=(const TokenVault&) = delete;

 private:
  TokenVault(store::Database database, base::Secret key);

  std::mutex mutex_;
  store::Database database_;
  base::Secret key_;
};

}  // namespace fhirbridge::auth
