// Traffic shaping and injected faults seen by a client of the running sandbox: rate limits that
// refill, a concurrency queue that admits in order and times out without holding worker threads,
// latency within its bounds, connections cut off midway, maintenance windows, slow last pages,
// repeatable faults from a seed, scheduled resets, and what reaches the metrics and the logs.
// Admin API tables for the same features are in tests/http/traffic-and-faults.json.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "base/clock.h"
#include "http/client.h"
#include "sandbox_test_server.h"

namespace fhirbridge::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kPatient = "/lab/api/FHIR/R4/Patient/e86izff4laD1mVsXVTNHrrl3";

// Two tenants on one open build level: "lab", whose tables the test chooses, and "calm", which
// keeps every default.
std::string Config(std::string_view lab_tables) {
  return R"([build_levels.open]
update_as_create = true
[build_levels.open.resources]
Patient = ["read", "vread", "update", "create", "delete", "history-instance", "history-type"]

[[tenants]]
name = "lab"
build_level = "open"
)" + std::string(lab_tables) +
         R"(
[[tenants]]
name = "calm"
build_level = "open"
)";
}

struct Timed {
  int status = 0;  // 0: no response (a transport error)
  milliseconds elapsed{0};
  Clock::time_point finished;
  http::ClientResponse response;
};

Timed Get(const std::string& url, std::vector<http::Header> headers = {}) {
  http::Client client;
  const auto started = Clock::now();
  auto response = client.Send({"GET", url, std::move(headers), {}});
  Timed timed;
  timed.finished = Clock::now();
  timed.elapsed = std::chrono::duration_cast<milliseconds>(timed.finished - started);
  if (response) {
    timed.status = response->status;
    timed.response = std::move(*response);
  }
  return timed;
}

int Put(const std::string& url, const json& body) {
  http::Client client;
  auto response = client.Send({"PUT", url, {{"Content-Type", "application/json"}}, body.dump()});
  return response ? response->status : 0;
}

std::string Header(const Timed& timed, std::string_view name) {
  const std::string* value = timed.response.FindHeader(name);
  return value == nullptr ? std::string() : *value;
}

json Body(const Timed& timed) { return json::parse(timed.response.body, nullptr, false); }

// True when a line of Prometheus text holds every part.
bool HasMetricLine(const std::string& text, std::initializer_list<std::string_view> parts) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    bool all = true;
    for (const auto part : parts) all = all && line.find(part) != std::string::npos;
    if (all) return true;
  }
  return false;
}

TEST(TrafficTest, RateLimitAnswers429WithRetryAfterAndRefillsOverTime) {
  SandboxTestServer sandbox(Config(R"(
[tenants.traffic]
requests_per_second = 5
burst = 2
)"));
  const std::string url = sandbox.origin() + std::string(kPatient);
  const std::vector<http::Header> client_a = {{"X-Client-Id", "a"}};

  EXPECT_EQ(Get(url, client_a).status, 200);
  EXPECT_EQ(Get(url, client_a).status, 200);
  const Timed refused = Get(url, client_a);
  ASSERT_EQ(refused.status, 429);
  EXPECT_EQ(Header(refused, "retry-after"), "1");
  EXPECT_EQ(Body(refused)["issue"][0]["code"], "throttled");
  EXPECT_EQ(Body(refused)["issue"][0]["details"]["coding"][0]["code"], "rate-limited");

  EXPECT_EQ(Get(url, {{"X-Client-Id", "another-client"}}).status, 200);
  EXPECT_EQ(
      Get(sandbox.origin() + "/calm/api/FHIR/R4/Patient/e86izff4laD1mVsXVTNHrrl3", client_a).status,
      200)
      << "limits are per tenant";

  // Five tokens a second: one is back after 200 ms.
  std::this_thread::sleep_for(milliseconds(250));
  EXPECT_EQ(Get(url, client_a).status, 200);
  EXPECT_EQ(Get(url, client_a).status, 429);

  const std::string metrics = Get(sandbox.origin() + "/metrics").response.body;
  EXPECT_TRUE(HasMetricLine(metrics, {"fhirbridge_sandbox_rate_limited_total{tenant=\"lab\"} 2"}))
      << metrics;
}

TEST(TrafficTest, QueueAdmitsInArrivalOrderAndRefusesWhenFullWithoutHoldingWorkers) {
  SandboxTestServer sandbox(Config(R"(
[tenants.traffic]
max_concurrent = 1
queue_size = 2
queue_timeout_ms = 5000

[tenants.faults]
latency_ms = 300
)"));
  const std::string url = sandbox.origin() + std::string(kPatient);

  // A holds the only slot for 300 ms; B and C queue behind it in that order; D finds the queue
  // full. Each starts 40 ms after the one before, so they arrive in order.
  std::vector<std::future<Timed>> requests;
  for (int i = 0; i < 4; ++i) {
    requests.push_back(std::async(std::launch::async, [&url] { return Get(url); }));
    std::this_thread::sleep_for(milliseconds(40));
  }
  // The server has two workers: if waiting held one, this would wait as well.
  const Timed health = Get(sandbox.origin() + "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_LT(health.elapsed, milliseconds(200));

  std::vector<Timed> results;
  for (auto& request : requests) results.push_back(request.get());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(results[i].status, 200) << "request " << i;
  EXPECT_LT(results[0].finished, results[1].finished);
  EXPECT_LT(results[1].finished, results[2].finished);
  EXPECT_GE(results[2].finished - results[1].finished, milliseconds(250)) << "one at a time";

  EXPECT_EQ(results[3].status, 429);
  EXPECT_EQ(Header(results[3], "retry-after"), "1");
  EXPECT_EQ(Body(results[3])["issue"][0]["details"]["coding"][0]["code"],
            "too-many-concurrent-requests");
  EXPECT_LT(results[3].elapsed, milliseconds(250)) << "a full queue refuses at once";

  const std::string metrics = Get(sandbox.origin() + "/metrics").response.body;
  EXPECT_TRUE(
      HasMetricLine(metrics, {"fhirbridge_sandbox_queued_requests_total{tenant=\"lab\"} 2"}))
      << metrics;
  EXPECT_TRUE(HasMetricLine(
      metrics, {"fhirbridge_sandbox_queue_rejected_total{", "reason=\"queue_full\"", "} 1"}));
  EXPECT_TRUE(HasMetricLine(metrics, {"fhirbridge_sandbox_queue_length{tenant=\"lab\"} 0"}));
  EXPECT_TRUE(HasMetricLine(metrics, {"fhirbridge_sandbox_requests_in_flight{tenant=\"lab\"} 0"}));
  EXPECT_TRUE(HasMetricLine(metrics, {"fhirbridge_sandbox_queue_wait_seconds_count{", "} 2"}));
}

TEST(TrafficTest, AQueuedRequestWhoseWaitExpiresGets429) {
  SandboxTestServer sandbox(Config(R"(
[tenants.traffic]
max_concurrent = 1
queue_size = 5
queue_timeout_ms = 100

[tenants.faults]
latency_ms = 600
)"));
  const std::string url = sandbox.origin() + std::string(kPatient);
  auto holder = std::async(std::launch::async, [&url] { return Get(url); });
  std::this_thread::sleep_for(milliseconds(50));
  const Timed waiter = Get(url);
  EXPECT_EQ(waiter.status, 429);
  EXPECT_EQ(Header(waiter, "retry-after"), "1");
  EXPECT_GE(waiter.elapsed, milliseconds(90));
  EXPECT_LT(waiter.elapsed, milliseconds(450)) << "refused when its wait expired, not later";
  EXPECT_EQ(holder.get().status, 200);
  EXPECT_EQ(Get(sandbox.origin() + "/calm/api/FHIR/R4/metadata").status, 200);

  const std::string metrics = Get(sandbox.origin() + "/metrics").response.body;
  EXPECT_TRUE(HasMetricLine(
      metrics, {"fhirbridge_sandbox_queue_rejected_total{", "reason=\"wait_expired\"", "} 1"}));
}

TEST(FaultsTest, InjectedLatencyStaysWithinItsBounds) {
  SandboxTestServer sandbox(Config(R"(
[tenants.faults]
latency_ms = 100
latency_jitter_ms = 50
)"));
  for (int i = 0; i < 4; ++i) {
    const Timed timed = Get(sandbox.origin() + std::string(kPatient));
    EXPECT_EQ(timed.status, 200);
    EXPECT_GE(timed.elapsed, milliseconds(100));
    EXPECT_LT(timed.elapsed, milliseconds(400));
    EXPECT_EQ(Header(timed, "x-fhirbridge-injected-fault"), "latency");
  }
  const Timed calm = Get(sandbox.origin() + "/calm/api/FHIR/R4/Patient/e86izff4laD1mVsXVTNHrrl3");
  EXPECT_LT(calm.elapsed, milliseconds(100)) << "only the lab tenant is slow";
}

TEST(FaultsTest, InjectedLatencyDoesNotHoldWorkerThreads) {
  SandboxTestServer sandbox(Config(R"(
[tenants.faults]
latency_ms = 400
)"));
  // Six requests on two workers: sleeping workers would need three rounds, 1.2 s.
  const auto started = Clock::now();
  std::vector<std::future<Timed>> requests;
  for (int i = 0; i < 6; ++i) {
    requests.push_back(std::async(
        std::launch::async, [&sandbox] { return Get(sandbox.origin() + std::string(kPatient)); }));
  }
  for (auto& request : requests) EXPECT_EQ(request.get().status, 200);
  EXPECT_LT(Clock::now() - started, milliseconds(1000));
}

// Reads whatever the server sends until it closes the connection.
std::string RawGet(unsigned short port, std::string_view path) {
  const int socket = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string received;
  if (::connect(socket, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    timeval timeout{5, 0};
    ::setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    const std::string request = "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    ::send(socket, request.data(), request.size(), MSG_NOSIGNAL);
    char buffer[4096];
    for (ssize_t count; (count = ::recv(socket, buffer, sizeof buffer, 0)) > 0;) {
      received.append(buffer, static_cast<std::size_t>(count));
    }
  }
  ::close(socket);
  return received;
}

TEST(FaultsTest, ADroppedConnectionIsCutOffMidwayAndTheServerLivesOn) {
  SandboxTestServer sandbox(Config(R"(
[tenants.faults]
drop_connection_rate = 1
)"));
  http::Client client;
  auto dropped = client.Send({"GET", sandbox.origin() + std::string(kPatient), {}, {}});
  ASSERT_FALSE(dropped.has_value()) << "the client sees a transport error, not a status";
  EXPECT_EQ(dropped.error().code, base::ErrorCode::kIoFailure);

  // On the wire: complete headers, then less body than Content-Length promised.
  const std::string raw = RawGet(sandbox.server().port(), kPatient);
  ASSERT_TRUE(raw.starts_with("HTTP/1.1 200")) << raw.substr(0, 100);
  const std::size_t header_end = raw.find("\r\n\r\n");
  const std::size_t length_at = raw.find("Content-Length: ");
  ASSERT_NE(header_end, std::string::npos);
  ASSERT_NE(length_at, std::string::npos);
  const std::size_t promised = std::stoul(raw.substr(length_at + 16));
  EXPECT_GT(raw.size() - header_end - 4, 0u);
  EXPECT_LT(raw.size() - header_end - 4, promised);

  ASSERT_EQ(Put(sandbox.origin() + "/admin/tenants/lab/faults", json::object()), 200);
  EXPECT_EQ(Get(sandbox.origin() + std::string(kPatient)).status, 200);
  EXPECT_EQ(Get(sandbox.origin() + "/healthz").status, 200);
}

TEST(FaultsTest, AMaintenanceWindowInTheTenantFileAnswers503UntilItEnds) {
  const auto now = std::chrono::system_clock::now();
  SandboxTestServer sandbox(Config("[tenants.faults]\nmaintenance_windows = [\"" +
                                   base::FormatInstant(now - std::chrono::minutes(1)) + "/" +
                                   base::FormatInstant(now + std::chrono::minutes(10)) + "\"]\n"));
  const Timed refused = Get(sandbox.origin() + std::string(kPatient));
  ASSERT_EQ(refused.status, 503);
  const int retry_after = std::stoi(Header(refused, "retry-after"));
  EXPECT_GE(retry_after, 590);
  EXPECT_LE(retry_after, 600);
  EXPECT_EQ(Body(refused)["issue"][0]["details"]["coding"][0]["code"], "maintenance-window");
  EXPECT_EQ(Get(sandbox.origin() + "/admin/tenants/lab").status, 200);
  EXPECT_EQ(Get(sandbox.origin() + "/calm/api/FHIR/R4/metadata").status, 200);
}

TEST(FaultsTest, AScheduledMaintenanceWindowBeginsAndEndsOnTime) {
  SandboxTestServer sandbox(Config(""));
  const auto now = std::chrono::system_clock::now();
  const std::string window = base::FormatInstant(now + milliseconds(400)) + "/" +
                             base::FormatInstant(now + milliseconds(900));
  ASSERT_EQ(Put(sandbox.origin() + "/admin/tenants/lab/faults",
                {{"maintenance_windows", json::array({window})}}),
            200);
  const std::string url = sandbox.origin() + std::string(kPatient);
  EXPECT_EQ(Get(url).status, 200) << "before the window";

  std::this_thread::sleep_until(now + milliseconds(500));
  const Timed during = Get(url);
  EXPECT_EQ(during.status, 503);
  EXPECT_EQ(Header(during, "retry-after"), "1");

  std::this_thread::sleep_until(now + milliseconds(1000));
  EXPECT_EQ(Get(url).status, 200) << "after the window";
}

TEST(FaultsTest, OnlyTheLastPageIsSlow) {
  SandboxTestServer sandbox(Config(R"(
[tenants.faults]
slow_last_page_ms = 300
)"));
  const std::string history = sandbox.origin() + "/lab/api/FHIR/R4/Patient/_history";
  const Timed first = Get(history + "?_count=1");
  EXPECT_EQ(first.status, 200);
  EXPECT_LT(first.elapsed, milliseconds(250)) << "a page with a next link is not slowed";
  const Timed last = Get(history + "?_count=50");
  EXPECT_EQ(last.status, 200);
  EXPECT_GE(last.elapsed, milliseconds(300));
  EXPECT_EQ(Header(last, "x-fhirbridge-injected-fault"), "slow_last_page");
  EXPECT_FALSE(Body(last).is_discarded());
}

TEST(FaultsTest, TheSameSeedGivesTheSameFaults) {
  SandboxTestServer sandbox(Config(""));
  const json faults = {{"seed", 7}, {"error_rates", {{"500", 0.5}}}};
  const auto statuses = [&] {
    EXPECT_EQ(Put(sandbox.origin() + "/admin/tenants/lab/faults", faults), 200);
    std::vector<int> seen;
    for (int i = 0; i < 20; ++i)
      seen.push_back(Get(sandbox.origin() + std::string(kPatient)).status);
    return seen;
  };
  const std::vector<int> first = statuses();
  EXPECT_EQ(statuses(), first);
  EXPECT_NE(std::ranges::count(first, 500), 0);
  EXPECT_NE(std::ranges::count(first, 200), 0);
}

TEST(FaultsTest, ScheduledResetsRestoreTheBaselineUntilTurnedOff) {
  SandboxTestServer sandbox(Config(R"(
[tenants.faults]
reset_every_minutes = 0.01
)"));
  http::Client client;
  const auto create = [&] {
    auto created = client.Send({"POST",
                                sandbox.origin() + "/lab/api/FHIR/R4/Patient",
                                {{"Content-Type", "application/fhir+json"}},
                                R"({"resourceType": "Patient", "active": true})"});
    EXPECT_TRUE(created.has_value() && created->status == 201);
    return created ? json::parse(created->body).value("id", "") : std::string();
  };
  const std::string id = create();
  const std::string url = sandbox.origin() + "/lab/api/FHIR/R4/Patient/" + id;
  EXPECT_EQ(Get(url).status, 200);

  // A reset every 600 ms; the count goes up once a reset has committed.
  const auto resets = [&] {
    const json tenant = json::parse(Get(sandbox.origin() + "/admin/tenants/lab").response.body);
    return tenant["traffic"]["scheduled_resets"].get<int>();
  };
  int count = resets();
  for (int i = 0; i < 60 && count == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    count = resets();
  }
  EXPECT_GE(count, 1);
  EXPECT_EQ(Get(url).status, 404) << "the reset removed what the client wrote";
  EXPECT_EQ(Get(sandbox.origin() + std::string(kPatient)).status, 200) << "and kept the baseline";
  const std::string metrics = Get(sandbox.origin() + "/metrics").response.body;
  EXPECT_TRUE(HasMetricLine(metrics, {"fhirbridge_sandbox_injected_faults_total{",
                                      "kind=\"scheduled_reset\"", "tenant=\"lab\""}));

  // Turned off through the admin API, the schedule stops.
  ASSERT_EQ(Put(sandbox.origin() + "/admin/tenants/lab/faults", json::object()), 200);
  // A reset that had already begun when the settings changed still finishes.
  std::this_thread::sleep_for(milliseconds(300));
  const std::string kept = sandbox.origin() + "/lab/api/FHIR/R4/Patient/" + create();
  std::this_thread::sleep_for(milliseconds(1300));
  EXPECT_EQ(Get(kept).status, 200);
}

TEST(FaultsTest, EveryInjectedFaultIsCountedAndLoggedWithoutSecrets) {
  SandboxTestServer sandbox(Config(R"(
[tenants.faults]
error_rates = { 503 = 1 }
latency_ms = 20
)"));
  for (int i = 0; i < 3; ++i) {
    const Timed timed = Get(sandbox.origin() + std::string(kPatient) + "?_count=9",
                            {{"Authorization", "Bearer secret-token-value"},
                             {"X-Request-Id", "fault-" + std::to_string(i)}});
    EXPECT_EQ(timed.status, 503);
    EXPECT_EQ(Header(timed, "x-fhirbridge-injected-fault"), "error_503, latency");
  }
  const std::string metrics = Get(sandbox.origin() + "/metrics").response.body;
  EXPECT_TRUE(HasMetricLine(metrics, {"fhirbridge_sandbox_injected_faults_total{",
                                      "kind=\"error_503\"", "tenant=\"lab\"", "} 3"}))
      << metrics;
  EXPECT_TRUE(HasMetricLine(metrics, {"fhirbridge_sandbox_injected_faults_total{",
                                      "kind=\"latency\"", "tenant=\"lab\"", "} 3"}));
  EXPECT_TRUE(HasMetricLine(metrics, {"# TYPE fhirbridge_sandbox_queue_length gauge"}));

  int fault_lines = 0;
  std::istringstream lines(sandbox.Logs());
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.find("secret-token"), std::string::npos) << line;
    const json event = json::parse(line);
    if (event["event"] != "fault.injected") continue;
    ++fault_lines;
    EXPECT_EQ(event["tenant"], "lab");
    EXPECT_TRUE(event["correlation_id"].get<std::string>().starts_with("fault-"));
    EXPECT_TRUE(event.contains("kind")) << line;
  }
  EXPECT_EQ(fault_lines, 6);
}

}  // namespace
}  // namespace fhirbridge::testing
