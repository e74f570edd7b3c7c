#pragma once

// The client side of an OAuth 2.0 token request: form encoding, client authentication (none for
// public clients, a client secret by HTTP Basic or in the form, or a private_key_jwt client
// assertion signed with the key ring's current key), and the POST itself. Used by backend
// services, the code exchange and refresh.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/token_response.h"
#include "base/clock.h"
#include "base/result.h"
#include "http/client.h"
#include "jose/jose.h"

namespace fhirbridge::auth {

using FormFields = std::vector<std::pair<std::string, std::string>>;

// application/x-www-form-urlencoded: unreserved characters kept, everything else %XX.
std::string FormEncode(const FormFields& fields);
std::string PercentEncode(std::string_view text);

// `bytes` bytes from OpenSSL's CSPRNG, base64url-encoded (43 characters for 32 bytes). Used for
// jti, state and PKCE verifiers. kInternal if the generator fails (it never should once seeded).
base::Result<std::string> RandomUrlSafe(std::size_t bytes);

// The key that signs client assertions, with the header values that name it.
struct AssertionKey {
  std::string kid;
  jose::Algorithm algorithm = jose::Algorithm::kRS384;
  std::shared_ptr<const jose::PrivateKey> key;
  std::string jku;  // sent as the "jku" header when not empty (must equal the registered URL)
};

// Called at every assertion, so a key rotation takes effect at the next token request.
using AssertionKeyProvider = std::function<base::Result<AssertionKey>()>;

// Reads the key ring in `folder` at each call and signs with its current key, using the
// algorithm recorded for that key, or `algorithm` when given (kConfigInvalid if the key cannot
// sign with it, e.g. ES384 with an RSA key).
AssertionKeyProvider KeyRingAssertionKeys(std::filesystem::path folder,
                                          std::optional<jose::Algorithm> algorithm = std::nullopt,
                                          std::string jku = {});

// A signed client assertion (RFC 7523 as SMART profiles it): iss = sub = client_id, aud = the
// token endpoint, a fresh random jti, iat = now and exp = now + lifetime; header alg, typ and kid.
base::Result<std::string> SignClientAssertion(std::string_view client_id,
                                              std::string_view token_endpoint,
                                              const AssertionKey& key,
                                              std::chrono::seconds lifetime, base::SystemTime now);

enum class ClientAuthMethod {
  kNone,               // public client: client_id in the form, PKCE protects the code
  kClientSecretBasic,  // HTTP Basic with client_id:client_secret
  kClientSecretPost,   // client_id and client_secret in the form
  kPrivateKeyJwt,      // client_assertion signed with an AssertionKey
};

struct ClientCredentials {
  std::string client_id;
  ClientAuthMethod method = ClientAuthMethod::kNone;
  std::string client_secret;            // for the two secret methods; never logged
  AssertionKeyProvider assertion_keys;  // for kPrivateKeyJwt
  // SMART caps an assertion's lifetime at five minutes.
  std::chrono::seconds assertion_lifetime{300};
};

// POSTs `fields` plus the client's authentication to `token_endpoint` and parses the answer.
// `what` names the request in errors ("the backend-services token request"). Failures: the
// assertion could not be signed (as returned by the key provider), kTokenRequestFailed when no
// answer arrives, the OAuth error mapped by TokenRequestError, or kMalformedResponse.
base::Result<TokenResponse> RequestToken(http::Client& client, const std::string& token_endpoint,
                                         FormFields fields, const ClientCredentials& credentials,
                                         base::SystemTime now, std::string_view what,
                                         std::chrono::milliseconds timeout);

}  // namespace fhirbridge::auth
