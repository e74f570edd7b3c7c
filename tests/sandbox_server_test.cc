// Behaviour of the running sandbox that a request table cannot express: concurrency, hostile
// HTTP on a raw socket, keep-alive, graceful shutdown, and what reaches logs and metrics.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "http/client.h"
#include "sandbox_test_server.h"

namespace fhirbridge::testing {
namespace {

using nlohmann::json;

// A raw TCP connection to the sandbox, for requests no well-behaved client would send.
class RawConnection {
 public:
  explicit RawConnection(unsigned short port) {
    socket_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ =
        ::connect(socket_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    timeval timeout{5, 0};
    ::setsockopt(socket_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~RawConnection() { ::close(socket_); }

  bool connected() const { return connected_; }

  void Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(socket_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return;
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
  }

  // Reads until the peer closes or `complete` says a whole answer has arrived.
  std::string ReceiveUntilClosed() {
    std::string received;
    char buffer[4096];
    for (;;) {
      const ssize_t count = ::recv(socket_, buffer, sizeof buffer, 0);
      if (count <= 0) return received;
      received.append(buffer, static_cast<std::size_t>(count));
    }
  }

  // Reads one response whose body length is given by Content-Length.
  std::string ReceiveOneResponse() {
    std::string received;
    char buffer[4096];
    for (;;) {
      const std::size_t header_end = received.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        const std::size_t length_at = received.find("Content-Length: ");
        const std::size_t length =
            length_at == std::string::npos ? 0 : std::stoul(received.substr(length_at + 16));
        if (received.size() >= header_end + 4 + length) return received;
      }
      const ssize_t count = ::recv(socket_, buffer, sizeof buffer, 0);
      if (count <= 0) return received;
      received.append(buffer, static_cast<std::size_t>(count));
    }
  }

 private:
  int socket_ = -1;
  bool connected_ = false;
};

std::string BodyOf(const std::string& response) {
  const std::size_t header_end = response.find("\r\n\r\n");
  return header_end == std::string::npos ? std::string() : response.substr(header_end + 4);
}

http::ClientRequest CreatePatientRequest(const std::string& origin, const std::string& mrn) {
  http::ClientRequest request;
  request.method = "POST";
  request.url = origin + "/open-lab/api/FHIR/R4/Patient";
  request.headers = {{"Content-Type", "application/fhir+json"},
                     {"If-None-Exist", "identifier=urn:example:mrn|" + mrn}};
  request.body = json{{"resourceType", "Patient"},
                      {"identifier", {{{"system", "urn:example:mrn"}, {"value", mrn}}}}}
                     .dump();
  return request;
}

TEST(SandboxServerTest, ConcurrentConditionalCreatesNeverProduceTwoResources) {
  SandboxTestServer sandbox;
  ASSERT_FALSE(sandbox.origin().empty());
  constexpr int kThreads = 6;
  constexpr int kRequestsPerThread = 15;
  std::atomic<int> created{0};
  std::atomic<int> matched{0};
  std::atomic<int> other{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      http::Client client;
      for (int i = 0; i < kRequestsPerThread; ++i) {
        auto response = client.Send(CreatePatientRequest(sandbox.origin(), "race-1"));
        if (!response) {
          ++other;
        } else if (response->status == 201) {
          ++created;
        } else if (response->status == 200) {
          ++matched;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(matched.load(), kThreads * kRequestsPerThread - 1);
  EXPECT_EQ(other.load(), 0);
}

TEST(SandboxServerTest, GarbageRequestLineGetsA400OperationOutcomeAndTheServerLivesOn) {
  SandboxTestServer sandbox;
  RawConnection connection(sandbox.server().port());
  ASSERT_TRUE(connection.connected());
  connection.Send("THIS IS NOT HTTP\r\n\r\n");
  const std::string response = connection.ReceiveUntilClosed();
  EXPECT_TRUE(response.starts_with("HTTP/1.1 400")) << response;
  EXPECT_NE(BodyOf(response).find("malformed-http"), std::string::npos) << response;

  http::Client client;
  auto health = client.Send({"GET", sandbox.origin() + "/healthz", {}, {}});
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->status, 200);
}

TEST(SandboxServerTest, OversizeHeadersGet431) {
  SandboxTestServer sandbox;
  RawConnection connection(sandbox.server().port());
  ASSERT_TRUE(connection.connected());
  connection.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(40000, 'a') +
                  "\r\n\r\n");
  const std::string response = connection.ReceiveUntilClosed();
  EXPECT_TRUE(response.starts_with("HTTP/1.1 431")) << response.substr(0, 200);
  EXPECT_NE(BodyOf(response).find("OperationOutcome"), std::string::npos);
}

TEST(SandboxServerTest, OversizeBodyGets413BeforeItIsRead) {
  SandboxTestServer sandbox;
  RawConnection connection(sandbox.server().port());
  ASSERT_TRUE(connection.connected());
  // Only the headers are sent: the declared length alone must be refused.
  connection.Send(
      "POST /open-lab/api/FHIR/R4/Patient HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/fhir+json\r\nContent-Length: 999999999\r\n\r\n{");
  const std::string response = connection.ReceiveUntilClosed();
  EXPECT_TRUE(response.starts_with("HTTP/1.1 413")) << response.substr(0, 200);
  EXPECT_NE(BodyOf(response).find("body-too-large"), std::string::npos);
}

TEST(SandboxServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  SandboxTestServer sandbox;
  RawConnection connection(sandbox.server().port());
  ASSERT_TRUE(connection.connected());
  for (int i = 0; i < 3; ++i) {
    connection.Send(
        "GET /open-lab/api/FHIR/R4/Patient/e86izff4laD1mVsXVTNHrrl3 HTTP/1.1\r\n"
        "Host: localhost\r\n\r\n");
    const std::string response = connection.ReceiveOneResponse();
    EXPECT_TRUE(response.starts_with("HTTP/1.1 200")) << "request " << i << ": " << response;
  }
}

TEST(SandboxServerTest, StopClosesIdleKeepAliveConnectionsAndReturnsPromptly) {
  SandboxTestServer sandbox;
  RawConnection connection(sandbox.server().port());
  ASSERT_TRUE(connection.connected());
  connection.Send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ASSERT_TRUE(connection.ReceiveOneResponse().starts_with("HTTP/1.1 200"));

  const auto started = std::chrono::steady_clock::now();
  sandbox.server().Stop();
  sandbox.server().Wait();
  const auto waited = std::chrono::steady_clock::now() - started;
  // The grace period is 10 s; an idle connection must not hold shutdown for it.
  EXPECT_LT(waited, std::chrono::seconds(3));
  EXPECT_TRUE(connection.ReceiveUntilClosed().empty());
}

TEST(SandboxServerTest, LogsOneLinePerRequestWithoutPatientDataOrQueryValues) {
  SandboxTestServer sandbox;
  http::Client client;
  const std::string secret_name = "Zyxwvutsrq";
  const std::string secret_identifier = "mrn-5551234";

  auto created =
      client.Send({"POST",
                   sandbox.origin() + "/open-lab/api/FHIR/R4/Patient",
                   {{"Content-Type", "application/fhir+json"}, {"X-Request-Id", "log-test-1"}},
                   json{{"resourceType", "Patient"},
                        {"name", {{{"family", secret_name}}}},
                        {"identifier", {{{"value", secret_identifier}}}},
                        {"birthDate", "1961-07-14"}}
                       .dump()});
  ASSERT_TRUE(created.has_value());
  ASSERT_EQ(created->status, 201);
  const std::string id = json::parse(created->body)["id"];

  auto history = client.Send({"GET",
                              sandbox.origin() + "/open-lab/api/FHIR/R4/Patient/" + id +
                                  "/_history?_count=5&_since=2000-01-01",
                              {{"Authorization", "Bearer secret-token-value"}},
                              {}});
  ASSERT_TRUE(history.has_value());
  auto refused = client.Send(
      {"GET",
       sandbox.origin() + "/open-lab/api/FHIR/R4/Patient/" + id + "/_history?family=" + secret_name,
       {},
       {}});
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 400);
  auto malformed = client.Send({"POST",
                                sandbox.origin() + "/open-lab/api/FHIR/R4/Patient",
                                {{"Content-Type", "application/fhir+json"}},
                                "{\"name\": " + secret_name + "}"});
  ASSERT_TRUE(malformed.has_value());
  EXPECT_EQ(malformed->status, 400);
  EXPECT_EQ(malformed->body.find(secret_name), std::string::npos)
      << "diagnostics must not echo the body";

  const std::string logs = sandbox.Logs();
  for (const std::string& secret : {secret_name, secret_identifier, std::string("1961-07-14"),
                                    std::string("secret-token"), id}) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << "log leaked '" << secret << "'";
  }

  int request_lines = 0;
  std::istringstream lines(logs);
  for (std::string line; std::getline(lines, line);) {
    const json event = json::parse(line);  // every line is one JSON object
    if (event["event"] != "http.request") continue;
    ++request_lines;
    EXPECT_TRUE(event.contains("correlation_id"));
    EXPECT_TRUE(event.contains("route"));
    EXPECT_TRUE(event.contains("latency_ms"));
  }
  EXPECT_EQ(request_lines, 4);
  EXPECT_NE(logs.find("\"correlation_id\":\"log-test-1\""), std::string::npos);
  EXPECT_NE(logs.find("_count=5"), std::string::npos) << "paging values are allowed";
  EXPECT_NE(logs.find("family=[redacted]"), std::string::npos);
}

TEST(SandboxServerTest, MetricsCountRequestsPerTenantRouteAndStatusClass) {
  SandboxTestServer sandbox;
  http::Client client;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        client
            .Send({"GET",
                   sandbox.origin() + "/alpine-health/api/FHIR/R4/Patient/e86izff4laD1mVsXVTNHrrl3",
                   {},
                   {}})
            .has_value());
  }
  ASSERT_TRUE(
      client.Send({"GET", sandbox.origin() + "/alpine-health/api/FHIR/R4/Patient/nope", {}, {}})
          .has_value());
  auto metrics = client.Send({"GET", sandbox.origin() + "/metrics", {}, {}});
  ASSERT_TRUE(metrics.has_value());
  const std::string& text = metrics->body;
  const auto has_line = [&](std::initializer_list<std::string_view> parts) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      bool all = true;
      for (const auto part : parts) all = all && line.find(part) != std::string::npos;
      if (all) return true;
    }
    return false;
  };
  EXPECT_TRUE(
      has_line({"fhirbridge_sandbox_requests_total{", "tenant=\"alpine-health\"",
                "route=\"/{tenant}/api/FHIR/R4/{type}/{id}\"", "status_class=\"2xx\"", "} 3"}))
      << text;
  EXPECT_TRUE(has_line({"fhirbridge_sandbox_requests_total{", "tenant=\"alpine-health\"",
                        "status_class=\"4xx\"", "} 1"}));
  EXPECT_TRUE(has_line({"fhirbridge_sandbox_request_duration_seconds{", "quantile=\"0.99\""}));
  EXPECT_TRUE(has_line({"fhirbridge_sandbox_request_duration_seconds_count{", "} 3"}));
  EXPECT_EQ(text.find("nope"), std::string::npos) << "ids never become labels";
}

}  // namespace
}  // namespace fhirbridge::testing
