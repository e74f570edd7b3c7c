#include "auth/oauth_client.h"

#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "auth/key_ring.h"

namespace fhirbridge::auth {
namespace {

using base::ErrorCode;

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::int64_t EpochSeconds(base::SystemTime time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

// Base64 (with padding) for HTTP Basic credentials.
std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned value = (static_cast<unsigned char>(bytes[i]) << 16) |
                           (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                           static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(value >> 18) & 63];
    out += kAlphabet[(value >> 12) & 63];
    out += kAlphabet[(value >> 6) & 63];
    out += kAlphabet[value & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned value = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(value >> 18) & 63];
    out += kAlphabet[(value >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const unsigned value = (static_cast<unsigned char>(bytes[i]) << 16) |
                           (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(value >> 18) & 63];
    out += kAlphabet[(value >> 12) & 63];
    out += kAlphabet[(value >> 6) & 63];
    out += '=';
  }
  return out;
}

}  // namespace

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (IsUnreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string FormEncode(const FormFields& fields) {
  std::string body;
  for (const auto& [name, value] : fields) {
    if (!body.empty()) body += '&';
    body += PercentEncode(name) + "=" + PercentEncode(value);
  }
  return body;
}

base::Result<std::string> RandomUrlSafe(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return base::Fail(ErrorCode::kInternal, "OpenSSL's random generator failed");
  }
  return jose::Base64UrlEncode(raw);
}

AssertionKeyProvider KeyRingAssertionKeys(std::filesystem::path folder,
                                          std::optional<jose::Algorithm> algorithm,
                                          std::string jku) {
  return [folder = std::move(folder), algorithm,
          jku = std::move(jku)]() -> base::Result<AssertionKey> {
    auto ring = KeyRing::Open(folder);
    if (!ring) return base::Fail(ring.error());
    auto key = ring->LoadCurrentKey();
    if (!key) return base::Fail(key.error());
    AssertionKey assertion_key;
    assertion_key.kid = ring->current().kid;
    assertion_key.algorithm = algorithm.value_or(ring->current().algorithm);
    if (!key->Fits(assertion_key.algorithm)) {
      return base::Fail(ErrorCode::kConfigInvalid,
                        "the current key " + assertion_key.kid + " cannot sign " +
                            std::string(jose::AlgorithmName(assertion_key.algorithm)) +
                            "; rotate to a key of that kind (fhirbridge keys rotate --alg ...)",
                        folder.string());
    }
    assertion_key.key = std::make_shared<const jose::PrivateKey>(std::move(*key));
    assertion_key.jku = jku;
    return assertion_key;
  };
}

base::Result<std::string> SignClientAssertion(std::string_view client_id,
                                              std::string_view token_endpoint,
                                              const AssertionKey& key,
                                              std::chrono::seconds lifetime, base::SystemTime now) {
  auto jti = RandomUrlSafe(32);
  if (!jti) return base::Fail(jti.error());
  const std::int64_t issued = EpochSeconds(now);
  const jose::Json claims = {{"iss", client_id},      {"sub", client_id},
                             {"aud", token_endpoint}, {"jti", *jti},
                             {"iat", issued},         {"exp", issued + lifetime.count()}};
  jose::Json header = {{"kid", key.kid}};
  if (!key.jku.empty()) header["jku"] = key.jku;
  return jose::SignJwt(claims, *key.key, key.algorithm, header);
}

base::Result<TokenResponse> RequestToken(http::Client& client, const std::string& token_endpoint,
                                         FormFields fields, const ClientCredentials& credentials,
                                         base::SystemTime now, std::string_view what,
                                         std::chrono::milliseconds timeout) {
  http::ClientRequest request;
  request.method = "POST";
  request.url = token_endpoint;
  request.timeout = timeout;
  request.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  request.headers.push_back({"Accept", "application/json"});

  switch (credentials.method) {
    case ClientAuthMethod::kNone:
      fields.emplace_back("client_id", credentials.client_id);
      break;
    case ClientAuthMethod::kClientSecretBasic:
      // RFC 6749 section 2.3.1: both parts are form-encoded before joining.
      request.headers.push_back(
          {"Authorization", "Basic " + Base64(PercentEncode(credentials.client_id) + ":" +
                                              PercentEncode(credentials.client_secret))});
      break;
    case ClientAuthMethod::kClientSecretPost:
      fields.emplace_back("client_id", credentials.client_id);
      fields.emplace_back("client_secret", credentials.client_secret);
      break;
    case ClientAuthMethod::kPrivateKeyJwt: {
      if (!credentials.assertion_keys) {
        return base::Fail(ErrorCode::kConfigInvalid,
                          "private_key_jwt needs a signing key; give the key folder");
      }
      auto key = credentials.assertion_keys();
      if (!key) return base::Fail(key.error());
      auto assertion = SignClientAssertion(credentials.client_id, token_endpoint, *key,
                                           credentials.assertion_lifetime, now);
      if (!assertion) return base::Fail(assertion.error());
      fields.emplace_back("client_assertion_type",
                          "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
      fields.emplace_back("client_assertion", *assertion);
      break;
    }
  }
  request.body = FormEncode(fields);

  auto response = client.Send(request);
  if (!response) {
    return base::Fail(ErrorCode::kTokenRequestFailed,
                      std::string(what) + " got no answer: " + response.error().diagnostic);
  }
  if (response->status != 200)
    return base::Fail(TokenRequestError(response->status, response->body, what));
  return ParseTokenResponse(response->body);
}

}  // namespace fhirbridge::auth
