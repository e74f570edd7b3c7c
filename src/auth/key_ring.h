#pragma once

// The runtime's signing keys for SMART backend services, kept in one folder per site:
//
//   keys/<kid>.pem   a private key, created with mode 0600
//   jwks.json        the public JWK Set to host at the app's JWK Set URL (or register inline)
//   keyring.json     which key signs now, and until when each retired key stays published
//
// Rotation follows Epic's advice: publish the new key, sign with it, and keep the old key in the
// JWK Set for a grace period (at least five minutes after its last use) before removing it.
// Generation and rotation are single commands (`fhirbridge keys generate|rotate`), never manual
// steps.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "jose/jose.h"

namespace fhirbridge::auth {

struct KeyRingEntry {
  std::string kid;
  jose::Algorithm algorithm = jose::Algorithm::kRS384;
  std::string created;                 // FHIR instant
  std::optional<std::string> retires;  // FHIR instant after which it leaves the JWK Set
};

class KeyRing {
 public:
  // Reads the key ring in `folder`; kConfigNotFound if there is none yet.
  static base::Result<KeyRing> Open(const std::filesystem::path& folder);
  // Creates a key ring with one fresh key; kConfigInvalid if one already exists there.
  static base::Result<KeyRing> Create(const std::filesystem::path& folder,
                                      jose::Algorithm algorithm, base::SystemTime now);

  // Adds a fresh key that signs from now on; the previous signing key stays published until
  // now + `grace`. Keys whose grace has passed are removed (files included). Rewrites jwks.json.
  base::Status Rotate(jose::Algorithm algorithm, std::chrono::seconds grace, base::SystemTime now);

  // The key that signs now and its kid.
  const KeyRingEntry& current() const { return entries_.back(); }
  base::Result<jose::PrivateKey> LoadCurrentKey() const;
  // The public JWK Set of every key still published at `now`.
  base::Result<fhir::Json> PublicJwks(base::SystemTime now) const;
  const std::vector<KeyRingEntry>& entries() const { return entries_; }

 private:
  KeyRing(std::filesystem::path folder, std::vector<KeyRingEntry> entries);
  base::Status Save(base::SystemTime now) const;
  base::Result<KeyRingEntry> AddKey(jose::Algorithm algorithm, base::SystemTime now);

  std::filesystem::path folder_;
  std::vector<KeyRingEntry> entries_;  // oldest first; the last one signs
};

}  // namespace fhirbridge::auth
