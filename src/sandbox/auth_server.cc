#include "sandbox/auth_server.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "jose/jose.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;
using base::Fail;
using fhir::Json;

constexpr std::string_view kJwtBearerAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
constexpr std::chrono::seconds kIdTokenLifetime{300};
constexpr std::chrono::seconds kEarlyExpiry{1};

std::string RandomToken(std::size_t bytes = 32) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  return jose::Base64UrlEncode(raw);
}

std::string Sha256Base64Url(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  return jose::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::int64_t EpochSeconds(base::SystemTime time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

std::string HtmlEscape(std::string_view text) {
  std::string escaped;
  for (const char c : text) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      case '\'':
        escaped += "&#39;";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~') {
      encoded += c;
    } else {
      encoded += '%';
      encoded += kHex[byte >> 4];
      encoded += kHex[byte & 15];
    }
  }
  return encoded;
}

// An OAuth error answer (RFC 6749 section 5.2).
http::Response OAuthError(const base::Error& error, int status = 0) {
  http::Response response;
  response.status = status != 0 ? status : error.info().http_status;
  response.SetHeader("Content-Type", "application/json");
  response.SetHeader("Cache-Control", "no-store");
  response.SetHeader("Pragma", "no-cache");
  response.body =
      Json{{"error", error.info().name},
           {"error_description",
            error.diagnostic.empty() ? std::string(error.info().message) : error.diagnostic}}
          .dump();
  return response;
}

http::Response JsonAnswer(const Json& body) {
  http::Response response;
  response.SetHeader("Content-Type", "application/json");
  response.SetHeader("Cache-Control", "no-store");
  response.SetHeader("Pragma", "no-cache");
  response.body = body.dump();
  return response;
}

http::Response HtmlAnswer(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.SetHeader("Content-Type", "text/html; charset=utf-8");
  response.SetHeader("Cache-Control", "no-store");
  response.body = std::move(body);
  return response;
}

http::Response Redirect(const std::string& location) {
  http::Response response;
  response.status = 302;
  response.SetHeader("Location", location);
  response.SetHeader("Cache-Control", "no-store");
  return response;
}

std::string WithQuery(const std::string& url,
                      const std::vector<std::pair<std::string, std::string>>& parameters) {
  std::string result = url + (url.find('?') == std::string::npos ? "?" : "&");
  bool first = true;
  for (const auto& [name, value] : parameters) {
    if (!first) result += '&';
    first = false;
    result += UrlEncode(name) + "=" + UrlEncode(value);
  }
  return result;
}

using Form = std::map<std::string, std::string>;

Form ReadForm(std::string_view body) {
  Form form;
  for (auto& [name, value] : http::ParseQuery(body))
    form.emplace(std::move(name), std::move(value));
  return form;
}

std::string FormValue(const Form& form, const std::string& name) {
  const auto found = form.find(name);
  return found == form.end() ? std::string() : found->second;
}

// Scopes granted: each requested scope the app was granted at registration, plus the protocol
// scopes (launch, openid, fhirUser, offline_access, online_access) that need no grant.
std::string Intersect(const std::string& requested, const std::string& registered) {
  const smart::ParsedScopes wanted = smart::ParseScopes(requested);
  const smart::ParsedScopes allowed = smart::ParseScopes(registered);
  static const std::set<std::string, std::less<>> kProtocolScopes = {
      "launch",   "launch/patient", "launch/encounter", "openid",
      "fhirUser", "profile",        "offline_access",   "online_access"};
  std::vector<smart::Scope> granted;
  for (const smart::Scope& scope : wanted.scopes) {
    if (kProtocolScopes.contains(scope.text) || allowed.Has(scope.text)) granted.push_back(scope);
  }
  return smart::JoinScopes(granted);
}

}  // namespace

struct AuthorizationServer::State {
  struct Code {
    std::string client_id;
    std::string redirect_uri;
    std::string code_challenge;
    std::string scope;
    std::string patient;
    std::string encounter;
    base::SystemTime expires;
    bool used = false;
    std::vector<std::string> issued;  // tokens issued from it, revoked if the code is replayed
  };
  struct AccessToken {
    std::string client_id;
    std::string scope;
    std::string patient;
    std::string encounter;
    base::SystemTime issued;
    base::SystemTime expires;
    bool backend = false;
    bool revoked = false;
  };
  struct RefreshToken {
    std::string client_id;
    std::string scope;
    std::string patient;
    std::string encounter;
    std::string family;  // every rotation of one grant shares a family id
    base::SystemTime expires;
    bool used = false;
    bool revoked = false;
  };
  // An authorization request waiting for the login form or the patient picker.
  struct PendingAuthorization {
    std::string client_id;
    std::string redirect_uri;
    std::string state;
    std::string code_challenge;
    std::string scope;
    std::string patient;
    std::string encounter;
    bool logged_in = false;
    base::SystemTime expires;
  };
  struct Launch {
    std::string patient;
    std::string encounter;
    base::SystemTime expires;
  };

  State(std::string tenant_name, AuthSettings auth_settings, JwksFetcher fetcher,
        Clock clock_function)
      : tenant(std::move(tenant_name)),
        settings(std::move(auth_settings)),
        jwks_cache(std::move(fetcher)),
        verifier(jwks_cache),
        clock(std::move(clock_function)),
        signing_key(*jose::PrivateKey::Generate(jose::Algorithm::kRS384)) {
    signing_key_id = signing_key.Public().Thumbprint();
  }

  const std::string tenant;
  mutable std::mutex mutex;
  AuthSettings settings;                                             // guarded by mutex
  SimulatedAuthErrors errors;                                        // guarded by mutex
  std::map<std::string, AppRegistration, std::less<>> apps;          // guarded by mutex
  std::map<std::string, Code, std::less<>> codes;                    // guarded by mutex
  std::map<std::string, AccessToken, std::less<>> access_tokens;     // guarded by mutex
  std::map<std::string, RefreshToken, std::less<>> refresh_tokens;   // guarded by mutex
  std::map<std::string, PendingAuthorization, std::less<>> pending;  // guarded by mutex
  std::map<std::string, Launch, std::less<>> launches;               // guarded by mutex
  JwksCache jwks_cache;
  ClientAssertionVerifier verifier;
  Clock clock;
  // Signs id_tokens. Generated at start: a restart invalidates earlier id_tokens, as a key
  // rotation would.
  jose::PrivateKey signing_key;
  std::string signing_key_id;
  base::SystemTime next_purge;  // guarded by mutex

  // Drops expired codes, tokens and pending requests so memory stays bounded. Runs at most once
  // a second: a sweep visits every record, and doing it per request made issuing tokens cost
  // more the more had been issued. Needs mutex.
  void Purge(base::SystemTime now) {
    if (now < next_purge) return;
    next_purge = now + std::chrono::seconds(1);
    std::erase_if(codes, [&](const auto& entry) { return entry.second.expires <= now; });
    std::erase_if(access_tokens, [&](const auto& entry) { return entry.second.expires <= now; });
    std::erase_if(refresh_tokens, [&](const auto& entry) { return entry.second.expires <= now; });
    std::erase_if(pending, [&](const auto& entry) { return entry.second.expires <= now; });
    std::erase_if(launches, [&](const auto& entry) { return entry.second.expires <= now; });
  }

  // Issues a single-use authorization code for an approved request; needs mutex.
  std::string IssueCode(const PendingAuthorization& approved, base::SystemTime now) {
    std::string code = RandomToken();
    State::Code& record = codes[code];
    record.client_id = approved.client_id;
    record.redirect_uri = approved.redirect_uri;
    record.code_challenge = approved.code_challenge;
    record.scope = approved.scope;
    record.patient = approved.patient;
    record.encounter = approved.encounter;
    record.expires = now + settings.code_lifetime;
    return code;
  }

  // Issues an access token; needs mutex.
  Json IssueAccessToken(const std::string& client_id, const std::string& scope,
                        const std::string& patient, const std::string& encounter, bool backend,
                        base::SystemTime now, std::string* token_out = nullptr) {
    const std::chrono::seconds lifetime =
        errors.expire_tokens_early ? kEarlyExpiry : settings.access_token_lifetime;
    std::string token = RandomToken();
    access_tokens[token] =
        AccessToken{client_id, scope, patient, encounter, now, now + lifetime, backend, false};
    if (token_out != nullptr) *token_out = token;
    Json answer = {{"access_token", token},
                   {"token_type", backend ? "bearer" : "Bearer"},
                   {"expires_in", lifetime.count()},
                   {"scope", scope}};
    if (!patient.empty()) answer["patient"] = patient;
    if (!encounter.empty()) answer["encounter"] = encounter;
    return answer;
  }

  std::string IssueRefreshToken(const std::string& client_id, const std::string& scope,
                                const std::string& patient, const std::string& encounter,
                                const std::string& family, base::SystemTime now) {
    std::string token = RandomToken();
    refresh_tokens[token] = RefreshToken{client_id, scope,  patient,
                                         encounter, family, now + settings.refresh_token_lifetime,
                                         false,     false};
    return token;
  }

  base::Result<std::string> IdToken(const std::string& client_id, const AuthUrls& urls,
                                    base::SystemTime now) const {
    const std::int64_t issued = EpochSeconds(now);
    // The subject is the test user: its Practitioner id when configured, else its user name.
    const std::string subject = settings.user_practitioner.empty() ? std::string(kTestUsername)
                                                                   : settings.user_practitioner;
    Json claims = {{"iss", urls.oauth_base},
                   {"sub", subject},
                   {"aud", client_id},
                   {"iat", issued},
                   {"exp", issued + kIdTokenLifetime.count()}};
    if (!settings.user_practitioner.empty()) {
      claims["fhirUser"] = urls.fhir_base + "/Practitioner/" + settings.user_practitioner;
    }
    return jose::SignJwt(claims, signing_key, jose::Algorithm::kRS256, {{"kid", signing_key_id}});
  }
};

AuthorizationServer::AuthorizationServer(std::string tenant, AuthSettings settings,
                                         JwksFetcher fetcher, Clock clock)
    : state_(std::make_unique<State>(std::move(tenant), std::move(settings), std::move(fetcher),
                                     std::move(clock))) {}

AuthorizationServer::~AuthorizationServer() = default;

void AuthorizationServer::Register(AppRegistration app) {
  std::lock_guard lock(state_->mutex);
  std::string id = app.client_id;
  state_->apps.insert_or_assign(std::move(id), std::move(app));
}

std::optional<AppRegistration> AuthorizationServer::FindApp(std::string_view client_id) const {
  std::lock_guard lock(state_->mutex);
  const auto found = state_->apps.find(client_id);
  if (found == state_->apps.end()) return std::nullopt;
  return found->second;
}

std::vector<AppRegistration> AuthorizationServer::Apps() const {
  std::lock_guard lock(state_->mutex);
  std::vector<AppRegistration> apps;
  for (const auto& [id, app] : state_->apps) apps.push_back(app);
  return apps;
}

base::Status AuthorizationServer::SetMappedToUser(std::string_view client_id, bool mapped) {
  std::lock_guard lock(state_->mutex);
  const auto found = state_->apps.find(client_id);
  if (found == state_->apps.end()) {
    return Fail(ErrorCode::kNotFound, "No app is registered with this client_id.");
  }
  found->second.mapped_to_user = mapped;
  return {};
}

std::size_t AuthorizationServer::RevokeRefreshTokens(std::string_view client_id) {
  std::lock_guard lock(state_->mutex);
  std::size_t revoked = 0;
  for (auto& [token, record] : state_->refresh_tokens) {
    if (record.client_id == client_id && !record.revoked) {
      record.revoked = true;
      ++revoked;
    }
  }
  return revoked;
}

SimulatedAuthErrors AuthorizationServer::simulated_errors() const {
  std::lock_guard lock(state_->mutex);
  return state_->errors;
}

void AuthorizationServer::SetSimulatedErrors(const SimulatedAuthErrors& errors) {
  std::lock_guard lock(state_->mutex);
  state_->errors = errors;
}

AuthSettings AuthorizationServer::settings() const {
  std::lock_guard lock(state_->mutex);
  return state_->settings;
}

void AuthorizationServer::SetAutoApprove(bool auto_approve) {
  std::lock_guard lock(state_->mutex);
  state_->settings.auto_approve = auto_approve;
}

std::string AuthorizationServer::CreateLaunch(std::string patient, std::string encounter) {
  std::lock_guard lock(state_->mutex);
  std::string launch = RandomToken(16);
  state_->launches[launch] = State::Launch{std::move(patient), std::move(encounter),
                                           state_->clock() + std::chrono::minutes(10)};
  return launch;
}

Json AuthorizationServer::SmartConfiguration(const AuthUrls& urls) const {
  std::lock_guard lock(state_->mutex);
  std::set<std::string> scopes = {"openid",         "fhirUser",       "launch",
                                  "launch/patient", "offline_access", "online_access"};
  for (const auto& [id, app] : state_->apps) {
    for (const smart::Scope& scope : smart::ParseScopes(app.granted_scopes).scopes) {
      scopes.insert(scope.text);
    }
  }
  return {
      {"issuer", urls.oauth_base},
      {"jwks_uri", urls.oauth_base + "/jwks"},
      {"authorization_endpoint", urls.oauth_base + "/authorize"},
      {"token_endpoint", urls.oauth_base + "/token"},
      {"introspection_endpoint", urls.oauth_base + "/introspect"},
      {"revocation_endpoint", urls.oauth_base + "/revoke"},
      {"grant_types_supported", {"authorization_code", "client_credentials", "refresh_token"}},
      {"response_types_supported", {"code"}},
      {"code_challenge_methods_supported", {"S256"}},
      {"token_endpoint_auth_methods_supported",
       {"private_key_jwt", "client_secret_basic", "client_secret_post"}},
      {"token_endpoint_auth_signing_alg_values_supported",
       {"RS384", "ES384", "RS256", "RS512", "ES256"}},
      {"scopes_supported", scopes},
      {"capabilities",
       {"launch-ehr", "launch-standalone", "authorize-post", "client-public",
        "client-confidential-symmetric", "client-confidential-asymmetric", "sso-openid-connect",
        "context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
        "permission-offline", "permission-online", "permission-patient", "permission-user",
        "permission-v1", "permission-v2"}},
  };
}

Json AuthorizationServer::Jwks() const {
  return {{"keys",
           {state_->signing_key.Public().ToJwk(state_->signing_key_id, jose::Algorithm::kRS256)}}};
}

// ---------------------------------------------------------------------------------------------
// The authorize endpoint: validate, then log in, pick a patient, and redirect with a code.

namespace {

std::string LoginPage(const std::string& transaction, const std::string& tenant,
                      const std::string& client_id, const std::string& message) {
  return "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in: " +
         HtmlEscape(tenant) + "</title></head><body><h1>fhirbridge sandbox: " + HtmlEscape(tenant) +
         "</h1><p>The application <b>" + HtmlEscape(client_id) + "</b> asks to access data.</p>" +
         (message.empty() ? "" : "<p class=\"error\">" + HtmlEscape(message) + "</p>") +
         "<form method=\"post\" action=\"authorize\"><input type=\"hidden\" name=\"transaction\" "
         "value=\"" +
         HtmlEscape(transaction) +
         "\"><label>User <input name=\"username\" autocomplete=\"username\"></label> "
         "<label>Password <input name=\"password\" type=\"password\"></label> "
         "<button type=\"submit\">Sign in and allow</button></form>"
         "<p>Test user: clinician / sandbox.</p></body></html>";
}

std::string PickerPage(const std::string& transaction, const std::string& tenant) {
  return "<!doctype html><html><head><meta charset=\"utf-8\"><title>Choose a patient: " +
         HtmlEscape(tenant) + "</title></head><body><h1>Choose a patient</h1>" +
         "<form method=\"post\" action=\"authorize\"><input type=\"hidden\" name=\"transaction\" "
         "value=\"" +
         HtmlEscape(transaction) +
         "\"><label>Patient id <input name=\"patient\"></label> "
         "<button type=\"submit\">Open this patient</button></form></body></html>";
}

}  // namespace

http::Response AuthorizationServer::Handle(const http::Request& request, std::string_view endpoint,
                                           const AuthUrls& urls) {
  State& state = *state_;
  const base::SystemTime now = state.clock();
  const std::string token_url = urls.oauth_base + "/token";

  if (endpoint == "jwks") {
    http::Response response = JsonAnswer(Jwks());
    response.SetHeader("Cache-Control", "max-age=3600");
    return response;
  }

  // -------------------------------------------------------------------------- authorize
  if (endpoint == "authorize") {
    if (request.method != "GET" && request.method != "POST") {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidRequest,
                                        "The authorize endpoint takes GET or POST."),
                        405);
    }
    const Form form = ReadForm(request.method == "GET" ? std::string_view(request.query)
                                                       : std::string_view(request.body));
    std::unique_lock lock(state.mutex);
    state.Purge(now);

    // A form post continuing an earlier request (login, then patient picker).
    if (const std::string transaction = FormValue(form, "transaction"); !transaction.empty()) {
      const auto found = state.pending.find(transaction);
      if (found == state.pending.end()) {
        return HtmlAnswer(400, "<p>This sign-in has expired; start again from the app.</p>");
      }
      State::PendingAuthorization& pending = found->second;
      if (!pending.logged_in) {
        if (FormValue(form, "username") != kTestUsername ||
            FormValue(form, "password") != kTestPassword) {
          return HtmlAnswer(200, LoginPage(transaction, state.tenant, pending.client_id,
                                           "Unknown user or wrong password."));
        }
        pending.logged_in = true;
      }
      if (pending.patient.empty()) {
        pending.patient = FormValue(form, "patient");
        if (pending.patient.empty() && smart::ParseScopes(pending.scope).Has("launch/patient")) {
          return HtmlAnswer(200, PickerPage(transaction, state.tenant));
        }
      }
      const std::string code = state.IssueCode(pending, now);
      const std::string location =
          WithQuery(pending.redirect_uri, {{"code", code}, {"state", pending.state}});
      state.pending.erase(found);
      return Redirect(location);
    }

    // A new request. Until client and redirect URI are known good, errors cannot be redirected.
    const std::string client_id = FormValue(form, "client_id");
    const auto app = state.apps.find(client_id);
    if (app == state.apps.end()) {
      return HtmlAnswer(400, "<p>Unknown client_id: register the app with this tenant first.</p>");
    }
    const std::string redirect_uri = FormValue(form, "redirect_uri");
    const auto& allowed = app->second.redirect_uris;
    if (std::find(allowed.begin(), allowed.end(), redirect_uri) == allowed.end()) {
      return HtmlAnswer(400,
                        "<p>redirect_uri is not one registered for this client (exact match, "
                        "case included).</p>");
    }
    const std::string client_state = FormValue(form, "state");
    const auto refuse = [&](std::string error, std::string description) {
      return Redirect(WithQuery(redirect_uri, {{"error", std::move(error)},
                                               {"error_description", std::move(description)},
                                               {"state", client_state}}));
    };
    if (FormValue(form, "response_type") != "code") {
      return refuse("unsupported_response_type", "response_type must be code");
    }
    if (FormValue(form, "aud") != urls.fhir_base) {
      return refuse("invalid_request",
                    "aud must be this tenant's FHIR base URL, " + urls.fhir_base);
    }
    if (FormValue(form, "code_challenge_method") != "S256" ||
        FormValue(form, "code_challenge").size() < 43) {
      return refuse("invalid_request",
                    "PKCE is required: send code_challenge with code_challenge_method=S256");
    }
    State::PendingAuthorization pending;
    pending.client_id = client_id;
    pending.redirect_uri = redirect_uri;
    pending.state = client_state;
    pending.code_challenge = FormValue(form, "code_challenge");
    pending.scope = Intersect(FormValue(form, "scope"), app->second.granted_scopes);
    pending.expires = now + std::chrono::minutes(10);
    if (const std::string launch = FormValue(form, "launch"); !launch.empty()) {
      const auto found = state.launches.find(launch);
      if (found == state.launches.end()) {
        return refuse("invalid_request", "launch is unknown or expired; relaunch from the EHR");
      }
      pending.patient = found->second.patient;
      pending.encounter = found->second.encounter;
      state.launches.erase(found);
    }
    if (state.settings.auto_approve) {
      pending.logged_in = true;
      if (pending.patient.empty() && smart::ParseScopes(pending.scope).Has("launch/patient")) {
        pending.patient = state.settings.default_patient;
      }
      const std::string code = state.IssueCode(pending, now);
      return Redirect(WithQuery(redirect_uri, {{"code", code}, {"state", client_state}}));
    }
    const std::string transaction = RandomToken(16);
    state.pending[transaction] = std::move(pending);
    return HtmlAnswer(200, LoginPage(transaction, state.tenant, client_id, ""));
  }

  // -------------------------------------------------------------------------- the rest are POST
  if (request.method != "POST") {
    return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidRequest,
                                      "This endpoint takes POST with a form body."));
  }
  const std::string* content_type = request.FindHeader("content-type");
  if (content_type == nullptr ||
      content_type->find("application/x-www-form-urlencoded") == std::string::npos) {
    return OAuthError(base::MakeError(
        ErrorCode::kOAuthInvalidRequest,
        "The body must be application/x-www-form-urlencoded, not JSON or anything else."));
  }
  if (!request.query.empty()) {
    return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidRequest,
                                      "Parameters belong in the form body, not the URL."));
  }
  const Form form = ReadForm(request.body);

  // Client authentication: private_key_jwt, HTTP Basic, client_secret_post, or none (public).
  std::string client_id = FormValue(form, "client_id");
  std::optional<AppRegistration> app;
  bool authenticated = false;
  const std::string assertion = FormValue(form, "client_assertion");
  const std::string* authorization = request.FindHeader("authorization");
  if (!assertion.empty()) {
    if (FormValue(form, "client_assertion_type") != kJwtBearerAssertionType) {
      return OAuthError(base::MakeError(
          ErrorCode::kOAuthInvalidRequest,
          "client_assertion_type must be " + std::string(kJwtBearerAssertionType) + "."));
    }
    auto decoded = jose::DecodeJwt(assertion);
    if (!decoded) {
      return OAuthError(base::MakeError(
          ErrorCode::kOAuthInvalidClient,
          "The client assertion is not a usable JWT: " + decoded.error().diagnostic));
    }
    client_id = decoded->claims.value("iss", "");
    app = FindApp(client_id);
    if (!app) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidClient,
                                        "The assertion's iss is not a registered client_id."));
    }
    if (simulated_errors().replay_every_jti) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidClient,
                                        "This jti was already used (simulated replay)."));
    }
    if (auto verified = state.verifier.Verify(assertion, *app, token_url, now); !verified) {
      return OAuthError(verified.error());
    }
    authenticated = true;
  } else if (authorization != nullptr && authorization->size() > 6 &&
             (authorization->starts_with("Basic ") || authorization->starts_with("basic "))) {
    auto decoded = [&]() -> std::optional<std::string> {
      // Basic uses standard base64; translate to base64url for the shared decoder.
      std::string text = authorization->substr(6);
      for (char& c : text) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
      }
      auto bytes = jose::Base64UrlDecode(text);
      if (!bytes) return std::nullopt;
      return *bytes;
    }();
    const std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      return OAuthError(
          base::MakeError(ErrorCode::kOAuthInvalidClient, "The Basic credentials are malformed."));
    }
    std::string id;
    std::string secret;
    http::PercentDecode(decoded->substr(0, colon), id, true);
    http::PercentDecode(decoded->substr(colon + 1), secret, true);
    client_id = id;
    app = FindApp(client_id);
    if (!app || app->type != ClientType::kConfidentialSymmetric || app->client_secret != secret) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidClient,
                                        "The client_id and secret do not match a client."));
    }
    authenticated = true;
  } else if (const std::string secret = FormValue(form, "client_secret"); !secret.empty()) {
    app = FindApp(client_id);
    if (!app || app->type != ClientType::kConfidentialSymmetric || app->client_secret != secret) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidClient,
                                        "The client_id and secret do not match a client."));
    }
    authenticated = true;
  } else if (!client_id.empty()) {
    app = FindApp(client_id);
  }

  // -------------------------------------------------------------------------- introspect, revoke
  if (endpoint == "introspect" || endpoint == "revoke") {
    if (!authenticated && !(app && app->type == ClientType::kPublic)) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidClient,
                                        "Authenticate the client to use this endpoint."),
                        401);
    }
    const std::string token = FormValue(form, "token");
    std::lock_guard lock(state.mutex);
    if (endpoint == "revoke") {
      // RFC 7009: the answer is 200 whether or not the token was known.
      if (auto found = state.access_tokens.find(token);
          found != state.access_tokens.end() && found->second.client_id == client_id) {
        found->second.revoked = true;
      }
      if (auto found = state.refresh_tokens.find(token);
          found != state.refresh_tokens.end() && found->second.client_id == client_id) {
        found->second.revoked = true;
      }
      return JsonAnswer(Json::object());
    }
    const auto found = state.access_tokens.find(token);
    if (found == state.access_tokens.end() || found->second.revoked ||
        found->second.expires <= now) {
      return JsonAnswer({{"active", false}});
    }
    Json answer = {{"active", true},
                   {"client_id", found->second.client_id},
                   {"scope", found->second.scope},
                   {"token_type", "Bearer"},
                   {"iat", EpochSeconds(found->second.issued)},
                   {"exp", EpochSeconds(found->second.expires)}};
    if (!found->second.patient.empty()) answer["patient"] = found->second.patient;
    return JsonAnswer(answer);
  }

  if (endpoint != "token") {
    return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidRequest,
                                      "Unknown OAuth endpoint; see the smart-configuration."),
                      404);
  }

  // -------------------------------------------------------------------------- token
  if (simulated_errors().token_endpoint_unavailable) {
    http::Response response =
        OAuthError(base::MakeError(ErrorCode::kOAuthInvalidRequest,
                                   "The token endpoint is unavailable (simulated); retry later."),
                   503);
    response.SetHeader("Retry-After", "5");
    return response;
  }
  const std::string grant_type = FormValue(form, "grant_type");
  if (!app) {
    return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidClient,
                                      "No registered client is named in this request."));
  }

  if (grant_type == "client_credentials") {
    if (!authenticated || app->type != ClientType::kConfidentialAsymmetric) {
      return OAuthError(base::MakeError(
          ErrorCode::kOAuthInvalidClient,
          "client_credentials needs a confidential-asymmetric client and a client assertion."));
    }
    if (!app->mapped_to_user) {
      return OAuthError(
          base::MakeError(ErrorCode::kOAuthUnauthorizedClient,
                          "This backend client is not yet mapped to a user at this organisation."));
    }
    // Without a scope parameter the client gets everything registered, as at Epic.
    const std::string requested = FormValue(form, "scope");
    std::string scope =
        requested.empty() ? app->granted_scopes : Intersect(requested, app->granted_scopes);
    if (!requested.empty() && scope.empty()) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidScope,
                                        "None of the requested scopes is granted to this "
                                        "client."));
    }
    std::lock_guard lock(state.mutex);
    state.Purge(now);
    return JsonAnswer(state.IssueAccessToken(client_id, scope, "", "", true, now));
  }

  if (grant_type == "authorization_code") {
    if (app->type != ClientType::kPublic && !authenticated) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidClient,
                                        "A confidential client must authenticate."));
    }
    std::lock_guard lock(state.mutex);
    state.Purge(now);
    const auto found = state.codes.find(FormValue(form, "code"));
    if (found == state.codes.end() || state.errors.reject_codes) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidGrant,
                                        "The code is unknown or expired; codes live "
                                        "one minute."));
    }
    State::Code& code = found->second;
    if (code.used) {
      // A replayed code means it leaked: everything issued from it is revoked.
      for (const std::string& token : code.issued) {
        if (auto access = state.access_tokens.find(token); access != state.access_tokens.end()) {
          access->second.revoked = true;
        }
        if (auto refresh = state.refresh_tokens.find(token);
            refresh != state.refresh_tokens.end()) {
          refresh->second.revoked = true;
        }
      }
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidGrant,
                                        "The code was already used; the tokens it gave are "
                                        "now revoked."));
    }
    if (code.client_id != client_id || code.redirect_uri != FormValue(form, "redirect_uri")) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidGrant,
                                        "The code was issued to another client or "
                                        "redirect_uri."));
    }
    if (Sha256Base64Url(FormValue(form, "code_verifier")) != code.code_challenge) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidGrant,
                                        "code_verifier does not match the code_challenge."));
    }
    code.used = true;
    std::string access_token;
    Json answer = state.IssueAccessToken(client_id, code.scope, code.patient, code.encounter, false,
                                         now, &access_token);
    code.issued.push_back(access_token);
    const smart::ParsedScopes scopes = smart::ParseScopes(code.scope);
    if (scopes.Has("offline_access") || scopes.Has("online_access")) {
      const std::string refresh = state.IssueRefreshToken(client_id, code.scope, code.patient,
                                                          code.encounter, RandomToken(8), now);
      code.issued.push_back(refresh);
      answer["refresh_token"] = refresh;
    }
    if (scopes.Has("openid") && (scopes.Has("fhirUser") || scopes.Has("profile"))) {
      auto id_token = state.IdToken(client_id, urls, now);
      if (id_token) answer["id_token"] = *id_token;
    }
    if (!code.patient.empty()) answer["need_patient_banner"] = true;
    return JsonAnswer(answer);
  }

  if (grant_type == "refresh_token") {
    if (app->type != ClientType::kPublic && !authenticated) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidClient,
                                        "A confidential client must authenticate."));
    }
    std::lock_guard lock(state.mutex);
    state.Purge(now);
    const auto found = state.refresh_tokens.find(FormValue(form, "refresh_token"));
    if (found == state.refresh_tokens.end() || found->second.client_id != client_id) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidGrant,
                                        "The refresh token is unknown or expired."));
    }
    State::RefreshToken old = found->second;
    if (old.revoked) {
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidGrant,
                                        "The refresh token was revoked; authorize again."));
    }
    if (old.used) {
      // Reuse of a rotated refresh token: the whole family is revoked (it may have leaked).
      for (auto& [token, record] : state.refresh_tokens) {
        if (record.family == old.family) record.revoked = true;
      }
      return OAuthError(base::MakeError(ErrorCode::kOAuthInvalidGrant,
                                        "The refresh token was already used; every token of "
                                        "this grant is revoked."));
    }
    found->second.used = true;
    std::string scope = old.scope;
    if (const std::string requested = FormValue(form, "scope"); !requested.empty()) {
      scope = Intersect(requested, old.scope);
    }
    Json answer = state.IssueAccessToken(client_id, scope, old.patient, old.encounter, false, now);
    answer["refresh_token"] =
        state.IssueRefreshToken(client_id, old.scope, old.patient, old.encounter, old.family, now);
    return JsonAnswer(answer);
  }

  return OAuthError(base::MakeError(ErrorCode::kOAuthUnsupportedGrantType,
                                    "grant_type must be client_credentials, authorization_code "
                                    "or refresh_token."));
}

base::Result<AccessGrant> AuthorizationServer::Authenticate(
    const std::string* authorization_header) const {
  if (authorization_header == nullptr) {
    return Fail(ErrorCode::kUnauthenticated, "The request has no Authorization header.");
  }
  const std::string& header = *authorization_header;
  if (header.size() < 8 ||
      (header.compare(0, 7, "Bearer ") != 0 && header.compare(0, 7, "bearer ") != 0)) {
    return Fail(ErrorCode::kUnauthenticated, "The Authorization header is not a Bearer token.");
  }
  const std::string token = header.substr(7);
  std::lock_guard lock(state_->mutex);
  const auto found = state_->access_tokens.find(token);
  if (found == state_->access_tokens.end()) {
    return Fail(ErrorCode::kUnauthenticated, "The access token is unknown.");
  }
  const State::AccessToken& record = found->second;
  if (record.revoked) return Fail(ErrorCode::kUnauthenticated, "The access token was revoked.");
  if (record.expires <= state_->clock()) {
    return Fail(ErrorCode::kUnauthenticated, "The access token has expired.");
  }
  if (state_->errors.reject_issued_tokens) {
    return Fail(ErrorCode::kUnauthenticated, "The access token was rejected (simulated).");
  }
  return AccessGrant{record.client_id, smart::ParseScopes(record.scope).scopes, record.patient,
                     record.encounter, record.backend};
}

}  // namespace fhirbridge::sandbox
