#include "sandbox/app_registration.h"

#include <nlohmann/json.hpp>

#include "jose/jose.h"

namespace fhirbridge::sandbox {
namespace {

constexpr std::size_t kMaxClientIdLength = 128;

bool IsSafeClientId(std::string_view id) {
  if (id.empty() || id.size() > kMaxClientIdLength) return false;
  for (const char c : id) {
    const bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
    if (!safe) return false;
  }
  return true;
}

bool IsHttpUrl(std::string_view url) {
  return url.starts_with("http://") || url.starts_with("https://");
}

}  // namespace

std::string_view ClientTypeName(ClientType type) {
  switch (type) {
    case ClientType::kPublic:
      return "public";
    case ClientType::kConfidentialSymmetric:
      return "confidential-symmetric";
    case ClientType::kConfidentialAsymmetric:
      return "confidential-asymmetric";
  }
  return "public";
}

base::Result<AppRegistration> ParseAppRegistration(const fhir::Json& body) {
  if (!body.is_object()) {
    return base::Fail(base::ErrorCode::kInvalidParameter, "A registration is a JSON object.");
  }
  std::vector<std::string> problems;
  AppRegistration app;

  const auto text = [&](const char* member, std::string& out, bool required) {
    const auto found = body.find(member);
    if (found == body.end()) {
      if (required) problems.push_back(std::string(member) + ": required");
      return;
    }
    if (!found->is_string()) {
      problems.push_back(std::string(member) + ": must be a string");
      return;
    }
    out = found->get<std::string>();
  };

  text("client_id", app.client_id, true);
  if (!app.client_id.empty() && !IsSafeClientId(app.client_id)) {
    problems.push_back("client_id: 1 to 128 letters, digits, '-', '_' or '.'");
  }
  std::string type = "confidential-asymmetric";
  text("type", type, false);
  if (type == "public") {
    app.type = ClientType::kPublic;
  } else if (type == "confidential-symmetric") {
    app.type = ClientType::kConfidentialSymmetric;
  } else if (type == "confidential-asymmetric") {
    app.type = ClientType::kConfidentialAsymmetric;
  } else {
    problems.push_back("type: must be public, confidential-symmetric or confidential-asymmetric");
  }
  text("scopes", app.granted_scopes, false);
  text("client_secret", app.client_secret, false);
  text("jwks_url", app.jwks_url, false);

  if (const auto uris = body.find("redirect_uris"); uris != body.end()) {
    if (!uris->is_array()) {
      problems.push_back("redirect_uris: must be an array of URLs");
    } else {
      for (const auto& uri : *uris) {
        if (!uri.is_string() || !IsHttpUrl(uri.get<std::string>()) ||
            uri.get<std::string>().find('#') != std::string::npos) {
          problems.push_back("redirect_uris: each must be an http(s) URL without a fragment");
          break;
        }
        app.redirect_uris.push_back(uri.get<std::string>());
      }
    }
  }
  if (const auto jwks = body.find("jwks"); jwks != body.end()) {
    auto keys = jose::ParseJwkSet(*jwks);
    if (!keys) {
      problems.push_back("jwks: " + keys.error().diagnostic);
    } else if (keys->empty()) {
      problems.push_back("jwks: holds no RSA or EC signing key");
    } else {
      app.jwks = jwks->dump();
    }
  }
  if (const auto mapped = body.find("mapped_to_user"); mapped != body.end()) {
    if (!mapped->is_boolean()) {
      problems.push_back("mapped_to_user: must be true or false");
    } else {
      app.mapped_to_user = mapped->get<bool>();
    }
  }

  // What each client type needs to authenticate.
  if (app.type == ClientType::kConfidentialSymmetric && app.client_secret.size() < 16) {
    problems.push_back("client_secret: a confidential-symmetric client needs one of 16+ chars");
  }
  if (app.type != ClientType::kConfidentialSymmetric && !app.client_secret.empty()) {
    problems.push_back("client_secret: only confidential-symmetric clients have one");
  }
  if (app.type == ClientType::kConfidentialAsymmetric && app.jwks_url.empty() && app.jwks.empty()) {
    problems.push_back("jwks_url or jwks: a confidential-asymmetric client needs its keys");
  }
  if (!app.jwks_url.empty() && !IsHttpUrl(app.jwks_url)) {
    problems.push_back("jwks_url: must be an http(s) URL");
  }
  if (app.type == ClientType::kPublic && app.redirect_uris.empty()) {
    problems.push_back("redirect_uris: a public client needs at least one");
  }

  if (!problems.empty()) {
    std::string joined;
    for (const std::string& problem : problems) {
      if (!joined.empty()) joined += "\n";
      joined += problem;
    }
    return base::Fail(base::ErrorCode::kInvalidParameter, joined);
  }
  return app;
}

fhir::Json DescribeApp(const AppRegistration& app) {
  fhir::Json described = {{"client_id", app.client_id},
                          {"type", ClientTypeName(app.type)},
                          {"redirect_uris", app.redirect_uris},
                          {"scopes", app.granted_scopes},
                          {"mapped_to_user", app.mapped_to_user}};
  if (!app.jwks_url.empty()) described["jwks_url"] = app.jwks_url;
  if (!app.jwks.empty()) described["jwks"] = fhir::Json::parse(app.jwks);
  if (!app.client_secret.empty()) described["client_secret"] = "********";
  return described;
}

}  // namespace fhirbridge::sandbox
