#include "auth/key_ring.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fhirbridge::auth {
namespace {

using base::ErrorCode;
using base::Fail;
using fhir::Json;

constexpr char kRingFile[] = "keyring.json";
constexpr char kJwksFile[] = "jwks.json";
constexpr char kKeyFolder[] = "keys";

// Writes `contents` to `path` through a temporary file and a rename, so a crash never leaves a
// half-written file; `mode` applies from the first byte (0600 for private keys).
base::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view contents,
                                 mode_t mode) {
  const std::filesystem::path temporary = path.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return Fail(ErrorCode::kIoFailure, "Cannot write " + temporary.string() + ".");
  }
  ::fchmod(fd, mode);  // the umask may have narrowed or the file may have existed
  std::size_t written = 0;
  while (written < contents.size()) {
    const ssize_t count = ::write(fd, contents.data() + written, contents.size() - written);
    if (count <= 0) {
      ::close(fd);
      return Fail(ErrorCode::kIoFailure, "Cannot write " + temporary.string() + ".");
    }
    written += static_cast<std::size_t>(count);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || std::rename(temporary.c_str(), path.c_str()) != 0) {
    return Fail(ErrorCode::kIoFailure, "Cannot replace " + path.string() + ".");
  }
  return {};
}

base::Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) return Fail(ErrorCode::kConfigNotFound, "Cannot read " + path.string() + ".");
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

}  // namespace

KeyRing::KeyRing(std::filesystem::path folder, std::vector<KeyRingEntry> entries)
    : folder_(std::move(folder)), entries_(std::move(entries)) {}

base::Result<KeyRing> KeyRing::Open(const std::filesystem::path& folder) {
  auto text = ReadFile(folder / kRingFile);
  if (!text) {
    return Fail(ErrorCode::kConfigNotFound, "No key ring in " + folder.string() +
                                                "; create one with `fhirbridge keys "
                                                "generate`.");
  }
  const Json ring = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!ring.is_object() || !ring.contains("keys") || !ring["keys"].is_array() ||
      ring["keys"].empty()) {
    return Fail(ErrorCode::kConfigInvalid, (folder / kRingFile).string() +
                                               ": expected {\"keys\": [...]} with one key or "
                                               "more.");
  }
  std::vector<KeyRingEntry> entries;
  for (const Json& key : ring["keys"]) {
    const auto algorithm = jose::ParseAlgorithm(key.value("alg", ""));
    if (!key.contains("kid") || !key["kid"].is_string() || !algorithm) {
      return Fail(ErrorCode::kConfigInvalid,
                  (folder / kRingFile).string() + ": every key needs a kid and an alg.");
    }
    KeyRingEntry entry{key["kid"].get<std::string>(), *algorithm, key.value("created", ""),
                       std::nullopt};
    if (key.contains("retires") && key["retires"].is_string()) {
      entry.retires = key["retires"].get<std::string>();
    }
    entries.push_back(std::move(entry));
  }
  return KeyRing(folder, std::move(entries));
}

base::Result<KeyRing> KeyRing::Create(const std::filesystem::path& folder,
                                      jose::Algorithm algorithm, base::SystemTime now) {
  if (std::filesystem::exists(folder / kRingFile)) {
    return Fail(ErrorCode::kConfigInvalid,
                folder.string() + " already holds a key ring; use `fhirbridge keys rotate`.");
  }
  std::error_code error;
  std::filesystem::create_directories(folder / kKeyFolder, error);
  if (error) return Fail(ErrorCode::kIoFailure, "Cannot create " + folder.string() + ".");
  ::chmod((folder / kKeyFolder).c_str(), 0700);

  KeyRing ring(folder, {});
  auto added = ring.AddKey(algorithm, now);
  if (!added) return Fail(added.error());
  ring.entries_.push_back(std::move(*added));
  if (auto saved = ring.Save(now); !saved) return Fail(saved.error());
  return ring;
}

base::Result<KeyRingEntry> KeyRing::AddKey(jose::Algorithm algorithm, base::SystemTime now) {
  auto key = jose::PrivateKey::Generate(algorithm);
  if (!key) return Fail(key.error());
  auto pem = key->ToPem();
  if (!pem) return Fail(pem.error());
  // The thumbprint makes a kid that is stable, unique and says nothing about the site.
  KeyRingEntry entry{key->Public().Thumbprint(), algorithm, base::FormatInstant(now), std::nullopt};
  if (auto written = WriteFileAtomically(folder_ / kKeyFolder / (entry.kid + ".pem"), *pem, 0600);
      !written) {
    return Fail(written.error());
  }
  return entry;
}

base::Status KeyRing::Rotate(jose::Algorithm algorithm, std::chrono::seconds grace,
                             base::SystemTime now) {
  auto added = AddKey(algorithm, now);
  if (!added) return Fail(added.error());
  for (KeyRingEntry& entry : entries_) {
    if (!entry.retires) entry.retires = base::FormatInstant(now + grace);
  }
  entries_.push_back(std::move(*added));

  // Keys past their grace leave the ring and the disk.
  const std::string now_text = base::FormatInstant(now);
  std::erase_if(entries_, [&](const KeyRingEntry& entry) {
    if (!entry.retires || *entry.retires > now_text) return false;
    std::error_code ignored;
    std::filesystem::remove(folder_ / kKeyFolder / (entry.kid + ".pem"), ignored);
    return true;
  });
  return Save(now);
}

base::Result<jose::PrivateKey> KeyRing::LoadCurrentKey() const {
  const std::filesystem::path path = folder_ / kKeyFolder / (current().kid + ".pem");
  auto pem = ReadFile(path);
  if (!pem) return Fail(pem.error());
  auto key = jose::PrivateKey::FromPem(*pem);
  if (!key) return Fail(ErrorCode::kConfigInvalid, path.string() + ": " + key.error().diagnostic);
  return key;
}

base::Result<fhir::Json> KeyRing::PublicJwks(base::SystemTime now) const {
  const std::string now_text = base::FormatInstant(now);
  Json keys = Json::array();
  for (const KeyRingEntry& entry : entries_) {
    if (entry.retires && *entry.retires <= now_text) continue;
    auto pem = ReadFile(folder_ / kKeyFolder / (entry.kid + ".pem"));
    if (!pem) return Fail(pem.error());
    auto key = jose::PrivateKey::FromPem(*pem);
    if (!key) return Fail(key.error());
    keys.push_back(key->Public().ToJwk(entry.kid, entry.algorithm));
  }
  return Json{{"keys", std::move(keys)}};
}

base::Status KeyRing::Save(base::SystemTime now) const {
  Json ring = {{"keys", Json::array()}};
  for (const KeyRingEntry& entry : entries_) {
    Json key = {{"kid", entry.kid},
                {"alg", jose::AlgorithmName(entry.algorithm)},
                {"created", entry.created}};
    if (entry.retires) key["retires"] = *entry.retires;
    ring["keys"].push_back(std::move(key));
  }
  if (auto written = WriteFileAtomically(folder_ / kRingFile, ring.dump(2) + "\n", 0600);
      !written) {
    return written;
  }
  auto jwks = PublicJwks(now);
  if (!jwks) return Fail(jwks.error());
  return WriteFileAtomically(folder_ / kJwksFile, jwks->dump(2) + "\n", 0644);
}

}  // namespace fhirbridge::auth
