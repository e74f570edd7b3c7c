#include "auth/redirect_listener.h"

#include <openssl/crypto.h>

#include "observe/log.h"

namespace fhirbridge::auth {
namespace {

using base::ErrorCode;

http::Response Page(int status, std::string_view title, std::string_view text) {
  http::Response response;
  response.status = status;
  response.SetHeader("Content-Type", "text/html; charset=utf-8");
  response.SetHeader("Cache-Control", "no-store");
  response.SetHeader("Referrer-Policy", "no-referrer");
  response.body = "<!doctype html><html><head><meta charset=\"utf-8\"><title>" +
                  std::string(title) + "</title></head><body><h1>" + std::string(title) +
                  "</h1><p>" + std::string(text) + "</p></body></html>";
  return response;
}

bool SameSecret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Only a bounded set of characters from the server's error code reaches the terminal.
std::string SafeErrorCode(std::string_view error) {
  std::string out;
  for (char c : error.substr(0, 40)) {
    out.push_back((c >= 'a' && c <= 'z') || c == '_' ? c : '?');
  }
  return out;
}

}  // namespace

base::Result<std::unique_ptr<RedirectListener>> RedirectListener::Start(
    const RedirectListenerOptions& options) {
  std::unique_ptr<RedirectListener> listener(new RedirectListener());
  listener->path_ = options.path.starts_with("/") ? options.path : "/" + options.path;
  http::ServerOptions server_options;
  server_options.host = options.host;
  server_options.port = options.port;
  server_options.threads = 1;
  server_options.max_body_bytes = 16 * 1024;
  RedirectListener* self = listener.get();
  auto server = http::Server::Start(
      server_options, [self](const http::Request& request) { return self->Handle(request); },
      [](const base::Error&) { return Page(400, "Bad request", "The request was malformed."); });
  if (!server) return base::Fail(server.error());
  listener->server_ = std::move(*server);
  listener->redirect_uri_ =
      "http://" + options.host + ":" + std::to_string(listener->server_->port()) + listener->path_;
  return listener;
}

RedirectListener::~RedirectListener() {
  if (server_) server_->Stop();
}

void RedirectListener::Expect(std::string state) {
  std::lock_guard lock(mutex_);
  expected_state_ = std::move(state);
}

http::Response RedirectListener::Handle(const http::Request& request) {
  if (request.path != path_) return Page(404, "Not found", "Nothing here.");
  if (request.method != "GET") return Page(405, "Method not allowed", "Use GET.");

  std::string code;
  std::string state;
  std::string error;
  for (auto& [name, value] : http::ParseQuery(request.query)) {
    if (name == "code") code = std::move(value);
    if (name == "state") state = std::move(value);
    if (name == "error") error = std::move(value);
  }

  std::lock_guard lock(mutex_);
  if (outcome_) {
    return Page(409, "Already done", "This login has already finished; close this window.");
  }
  http::Response page;
  if (expected_state_.empty() || !SameSecret(state, expected_state_)) {
    outcome_ = base::Fail(ErrorCode::kInvalidParameter,
                          "the redirect's state does not match the one sent; it may be forged or "
                          "from an older login. Start the login again.",
                          "state");
    page = Page(400, "Login refused",
                "The answer did not match this login. Return to the terminal and start again.");
  } else if (!error.empty()) {
    outcome_ = base::Fail(ErrorCode::kRemoteRejected,
                          "the authorization server answered " + SafeErrorCode(error) +
                              " instead of a code (the user may have declined)");
    page = Page(200, "Login not completed",
                "The server did not grant access. You can close this window.");
  } else if (code.empty()) {
    outcome_ = base::Fail(ErrorCode::kRemoteRejected, "the redirect carries no code", "code");
    page = Page(400, "Login not completed", "No code arrived. You can close this window.");
  } else {
    outcome_ = std::move(code);
    page = Page(200, "Signed in", "fhirbridge has what it needs. You can close this window.");
  }
  arrived_.notify_all();
  return page;
}

base::Result<std::string> RedirectListener::WaitForCode(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!arrived_.wait_for(lock, timeout, [&] { return outcome_.has_value(); })) {
    return base::Fail(ErrorCode::kCancelled,
                      "no redirect arrived at " + redirect_uri_ + " within " +
                          std::to_string(timeout.count() / 1000) +
                          " s; finish the login in the browser sooner or raise --timeout");
  }
  return *outcome_;
}

}  // namespace fhirbridge::auth
