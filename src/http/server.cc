#include "http/server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <list>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

namespace fhirbridge::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

class Session;

// State shared by the acceptor and every session.
struct Shared {
  ServerOptions options;
  AsyncHandler handler;
  ErrorResponder error_responder;
  std::atomic<bool> stopping{false};
  std::mutex sessions_mutex;
  std::list<std::weak_ptr<Session>> sessions;
};

base::Error ParseFailure(const beast::error_code& error) {
  if (error == bhttp::error::header_limit) {
    return base::MakeError(base::ErrorCode::kHeaderTooLarge);
  }
  if (error == bhttp::error::body_limit) {
    return base::MakeError(base::ErrorCode::kBodyTooLarge);
  }
  return base::MakeError(base::ErrorCode::kMalformedHttp,
                         "The HTTP request could not be parsed: " + error.message() + ".");
}

void RunAfterOn(const asio::any_io_executor& executor, std::chrono::milliseconds delay,
                std::function<void()> task) {
  if (delay <= std::chrono::milliseconds::zero()) {
    asio::post(executor, std::move(task));
    return;
  }
  // The timer owns itself through its handler, so it lives exactly as long as the wait.
  auto timer = std::make_shared<asio::steady_timer>(executor, delay);
  timer->async_wait([timer, task = std::move(task)](const beast::error_code& error) {
    if (!error) task();
  });
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<Shared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)) {}

  void Run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::ReadRequest, shared_from_this()));
  }

  // Called at shutdown: a session waiting for its next request is closed at once; one that is
  // handling a request closes after answering it.
  void CloseIfIdle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) self->Close();
    });
  }

  void ReadRequest() {
    if (shared_->stopping) return Close();
    busy_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(shared_->options.max_header_bytes));
    parser_->body_limit(shared_->options.max_body_bytes);
    stream_.expires_after(shared_->options.idle_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  asio::any_io_executor executor() { return stream_.get_executor(); }

  void Write(Response response, bool keep_alive, bool head_only) {
    auto message = std::make_shared<bhttp::response<bhttp::string_body>>();
    message->version(11);
    message->result(static_cast<unsigned>(response.status));
    for (Header& header : response.headers) {
      message->set(header.name, std::move(header.value));
    }
    message->body() = std::move(response.body);
    message->keep_alive(keep_alive && !shared_->stopping && !response.drop_midway);
    message->prepare_payload();
    if (head_only) message->body().clear();
    if (response.drop_midway) return WritePartAndClose(*message);

    stream_.expires_after(shared_->options.idle_timeout);
    bhttp::async_write(stream_, *message,
                       [self = shared_from_this(), message](beast::error_code error, std::size_t) {
                         if (error || !message->keep_alive()) return self->Close();
                         self->ReadRequest();
                       });
  }

 private:
  // Sends the headers and half of the body (half of the headers when there is no body to
  // split), then closes: the client sees a response cut short, as when a proxy drops out.
  void WritePartAndClose(const bhttp::response<bhttp::string_body>& message) {
    std::ostringstream serialized;
    serialized << message;
    auto bytes = std::make_shared<std::string>(std::move(serialized).str());
    const std::size_t header_end = bytes->find("\r\n\r\n");
    const std::size_t body_size = message.body().size();
    const std::size_t keep = body_size >= 2 && header_end != std::string::npos
                                 ? header_end + 4 + body_size / 2
                                 : std::max<std::size_t>(1, bytes->size() / 2);
    bytes->resize(keep);
    stream_.expires_after(shared_->options.idle_timeout);
    asio::async_write(
        stream_, asio::buffer(*bytes),
        [self = shared_from_this(), bytes](beast::error_code, std::size_t) { self->Close(); });
  }

  void OnRead(beast::error_code error, std::size_t /*bytes*/) {
    busy_ = true;
    if (error == bhttp::error::end_of_stream || error == asio::error::eof ||
        error == beast::error::timeout || error == asio::error::operation_aborted ||
        error == asio::error::connection_reset || error == asio::error::bad_descriptor) {
      return Close();
    }
    if (error) {
      // Nothing reliable can follow a request the parser refused: answer and close.
      Response response = shared_->error_responder(ParseFailure(error));
      response.close_connection = true;
      return Write(std::move(response), /*keep_alive=*/false, /*head_only=*/false);
    }
    Dispatch(parser_->release());
  }

  void Dispatch(bhttp::request<bhttp::string_body> message) {
    Request request;
    request.method = std::string(message.method_string());
    const std::string_view target = message.target();
    const std::size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) request.query = target.substr(question + 1);
    request.headers.reserve(16);
    for (const auto& field : message) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      request.headers.push_back(Header{std::move(name), std::string(field.value())});
    }
    request.body = std::move(message.body());
    beast::error_code ignored;
    const auto peer = stream_.socket().remote_endpoint(ignored);
    if (!ignored) request.remote_address = peer.address().to_string();

    Responder responder(std::make_shared<Responder::State>(
        shared_from_this(), shared_, message.keep_alive(), message.method() == bhttp::verb::head));
    try {
      shared_->handler(std::move(request), responder);
    } catch (const std::exception&) {
      // The handler's own error paths return values; reaching here is a programming error, and
      // the client still deserves an answer rather than a dropped connection. Ignored if the
      // handler answered before it threw.
      responder.Send(shared_->error_responder(base::MakeError(
          base::ErrorCode::kInternal, "The server failed while handling this request.")));
    }
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<Shared> shared_;
  bool busy_ = false;
};

}  // namespace

struct Responder::State {
  State(std::shared_ptr<Session> session_in, std::shared_ptr<Shared> shared_in, bool keep_alive_in,
        bool head_only_in)
      : session(std::move(session_in)),
        shared(std::move(shared_in)),
        executor(session->executor()),
        keep_alive(keep_alive_in),
        head_only(head_only_in) {}

  std::shared_ptr<Session> session;  // taken by the first Send, so later copies hold nothing
  std::shared_ptr<Shared> shared;
  asio::any_io_executor executor;  // the session's strand
  bool keep_alive;
  bool head_only;
  std::atomic<bool> sent{false};
};

Responder::Responder(std::shared_ptr<State> state) : state_(std::move(state)) {}

void Responder::Send(Response response) const {
  if (state_->sent.exchange(true)) return;
  std::shared_ptr<Session> session = std::move(state_->session);
  const bool keep_alive = state_->keep_alive && !response.close_connection;
  const bool head_only = state_->head_only;
  asio::dispatch(state_->executor, [session = std::move(session), response = std::move(response),
                                    keep_alive, head_only]() mutable {
    session->Write(std::move(response), keep_alive, head_only);
  });
}

void Responder::RunAfter(std::chrono::milliseconds delay, std::function<void()> task) const {
  RunAfterOn(state_->executor, delay, [state = state_, task = std::move(task)] {
    // As for the handler itself: a programming error still gets an answer, and the worker lives.
    try {
      task();
    } catch (const std::exception&) {
      Responder(state).Send(state->shared->error_responder(base::MakeError(
          base::ErrorCode::kInternal, "The server failed while handling this request.")));
    }
  });
}

struct Server::Impl {
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  asio::io_context io_context;
  tcp::acceptor acceptor{io_context};
  std::vector<std::thread> workers;
  std::optional<asio::steady_timer> shutdown_timer;
  std::chrono::steady_clock::time_point shutdown_deadline;
  std::once_flag stop_once;
  std::mutex wait_mutex;
  unsigned short bound_port = 0;

  std::vector<std::shared_ptr<Session>> LiveSessions() {
    std::vector<std::shared_ptr<Session>> live;
    std::lock_guard lock(shared->sessions_mutex);
    for (const auto& weak : shared->sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
    return live;
  }

  // After Stop(): checks every few milliseconds whether the last session has ended, and stops
  // the workers then, or when the grace period is over with sessions still busy.
  void WatchShutdown() {
    if (LiveSessions().empty() || std::chrono::steady_clock::now() >= shutdown_deadline) {
      io_context.stop();
      return;
    }
    shutdown_timer.emplace(io_context, std::chrono::milliseconds(10));
    shutdown_timer->async_wait([this](beast::error_code error) {
      if (!error) WatchShutdown();
    });
  }

  void Accept() {
    acceptor.async_accept(
        asio::make_strand(io_context), [this](beast::error_code error, tcp::socket socket) {
          if (error == asio::error::operation_aborted || !acceptor.is_open()) return;
          if (!error) {
            socket.set_option(tcp::no_delay(true), error);
            auto session = std::make_shared<Session>(std::move(socket), shared);
            {
              std::lock_guard lock(shared->sessions_mutex);
              // Forget sessions that have ended, so the list stays as long as the live ones.
              shared->sessions.remove_if([](const auto& weak) { return weak.expired(); });
              shared->sessions.push_back(session);
            }
            session->Run();
          }
          Accept();
        });
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  Stop();
  Wait();
}

base::Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Handler handler,
                                                    ErrorResponder error_responder) {
  return StartAsync(
      options,
      [handler = std::move(handler)](Request request, Responder responder) {
        responder.Send(handler(request));
      },
      std::move(error_responder));
}

base::Result<std::unique_ptr<Server>> Server::StartAsync(const ServerOptions& options,
                                                         AsyncHandler handler,
                                                         ErrorResponder error_responder) {
  auto impl = std::make_unique<Impl>();
  impl->shared->options = options;
  impl->shared->handler = std::move(handler);
  impl->shared->error_responder = std::move(error_responder);

  const std::string where = options.host + ":" + std::to_string(options.port);
  beast::error_code error;
  const auto address = asio::ip::make_address(options.host, error);
  if (error) {
    return base::Fail(base::ErrorCode::kIoFailure,
                      "Cannot listen on " + where + ": '" + options.host +
                          "' is not an IP address; set server.host to one such as 127.0.0.1.");
  }
  const tcp::endpoint endpoint(address, options.port);
  impl->acceptor.open(endpoint.protocol(), error);
  if (!error) impl->acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) impl->acceptor.bind(endpoint, error);
  if (!error) impl->acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return base::Fail(base::ErrorCode::kIoFailure,
                      "Cannot listen on " + where + ": " + error.message() +
                          ". Choose another port with --port or stop the other process.");
  }
  impl->bound_port = impl->acceptor.local_endpoint().port();

  impl->Accept();
  const unsigned threads =
      options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < threads; ++i) {
    impl->workers.emplace_back([io = &impl->io_context] { io->run(); });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

unsigned short Server::port() const { return impl_->bound_port; }

void Server::RunAfter(std::chrono::milliseconds delay, std::function<void()> task) {
  RunAfterOn(impl_->io_context.get_executor(), delay, std::move(task));
}

void Server::Stop() {
  std::call_once(impl_->stop_once, [this] {
    Impl& impl = *impl_;
    impl.shared->stopping = true;
    asio::post(impl.io_context, [&impl] {
      beast::error_code ignored;
      impl.acceptor.close(ignored);
      for (const auto& session : impl.LiveSessions()) session->CloseIfIdle();
      impl.shutdown_deadline =
          std::chrono::steady_clock::now() + impl.shared->options.shutdown_grace;
      impl.WatchShutdown();
    });
  });
}

void Server::Wait() {
  std::lock_guard lock(impl_->wait_mutex);
  for (std::thread& worker : impl_->workers) {
    if (worker.joinable()) worker.join();
  }
}

}  // namespace fhirbridge::http
