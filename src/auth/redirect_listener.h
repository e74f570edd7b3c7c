#pragma once

// The loopback end of a browser-based login (RFC 8252): a small HTTP server on 127.0.0.1 that
// waits for the authorization server to send the browser back to
// http://127.0.0.1:{port}{path}?code=...&state=..., checks the state, shows a "you can close this
// window" page and hands the code to the waiting command. Requests for any other path get 404
// and are otherwise ignored (browsers ask for /favicon.ico); the first request to the path
// decides the outcome.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/result.h"
#include "http/server.h"

namespace fhirbridge::auth {

struct RedirectListenerOptions {
  std::string host = "127.0.0.1";  // loopback: nothing else on the network can reach it
  unsigned short port = 0;         // 0: a free port (the app must accept any loopback port)
  std::string path = "/callback";
};

class RedirectListener {
 public:
  // Listens at once; kIoFailure if the port is taken.
  static base::Result<std::unique_ptr<RedirectListener>> Start(
      const RedirectListenerOptions& options);
  ~RedirectListener();

  // The redirect_uri to register and send: http://{host}:{port}{path}.
  const std::string& redirect_uri() const { return redirect_uri_; }

  // Sets the state the redirect must carry; call before sending the browser to authorize.
  void Expect(std::string state);

  // Waits for the redirect. Returns the code; fails with kInvalidParameter when the state is
  // missing or differs (a forged or stale redirect: the flow stops), kRemoteRejected with the
  // server's error (e.g. access_denied) when it sent one, kCancelled after `timeout`.
  base::Result<std::string> WaitForCode(std::chrono::milliseconds timeout);

 private:
  RedirectListener() = default;
  http::Response Handle(const http::Request& request);

  std::string path_;
  std::string redirect_uri_;
  std::unique_ptr<http::Server> server_;

  std::mutex mutex_;
  std::condition_variable arrived_;
  std::string expected_state_;                        // guarded by mutex_
  std::optional<base::Result<std::string>> outcome_;  // guarded by mutex_
};

}  // namespace fhirbridge::auth
