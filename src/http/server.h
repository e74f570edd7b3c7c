#pragma once

// An HTTP/1.1 server on Boost.Beast: keep-alive, a pool of worker threads, limits on header and
// body size, and graceful shutdown. Handlers are called on a worker thread with a complete
// request. A Handler returns the complete response; an AsyncHandler answers through a Responder,
// at once or later, so that a request can wait (in a queue, or for an injected delay) without
// holding one of the few worker threads. Neither should block for long.
//
// Requests the parser rejects (oversize headers or body, malformed HTTP) never reach the handler:
// the server asks the ErrorResponder for the answer, sends it and closes the connection.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "http/message.h"

namespace fhirbridge::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 0;  // 0: let the system choose (see Server::port())
  unsigned threads = 0;     // 0: one per core
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  std::chrono::seconds idle_timeout{30};    // a keep-alive connection idle this long is closed
  std::chrono::seconds shutdown_grace{10};  // in-flight requests get this long after Stop()
};

using Handler = std::function<Response(const Request&)>;
using ErrorResponder = std::function<Response(const base::Error&)>;

// Answers one request. Copies share the request: the first Send is sent and later ones are
// ignored. If every copy is dropped without a Send, the connection is closed unanswered. All
// methods may be called from any thread.
class Responder {
 public:
  struct State;  // defined by the server
  explicit Responder(std::shared_ptr<State> state);

  void Send(Response response) const;
  // Runs `task` on a worker thread after `delay`, without occupying a worker while it waits. A
  // task still waiting when the server stops is dropped, not run. If it throws, the request is
  // answered with the ErrorResponder's 500 (unless already answered).
  void RunAfter(std::chrono::milliseconds delay, std::function<void()> task) const;

 private:
  std::shared_ptr<State> state_;
};

using AsyncHandler = std::function<void(Request request, Responder responder)>;

class Server {
 public:
  // Binds, listens and starts the worker threads. Fails with kIoFailure if the address cannot be
  // bound (the diagnostic names host and port).
  static base::Result<std::unique_ptr<Server>> Start(const ServerOptions& options, Handler handler,
                                                     ErrorResponder error_responder);
  // The same with a handler that answers through a Responder.
  static base::Result<std::unique_ptr<Server>> StartAsync(const ServerOptions& options,
                                                          AsyncHandler handler,
                                                          ErrorResponder error_responder);
  ~Server();  // Stops and waits.

  unsigned short port() const;

  // Runs `task` on a worker thread after `delay`, without occupying a worker while it waits; for
  // work on a schedule. A task still waiting when the server stops is dropped, not run. Any thread.
  // The task must not throw.
  void RunAfter(std::chrono::milliseconds delay, std::function<void()> task);

  // Stops accepting, closes idle connections, lets in-flight requests finish (up to the grace
  // period), then stops the workers. Safe to call more than once and from any thread.
  void Stop();
  // Blocks until the workers have stopped.
  void Wait();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fhirbridge::http
