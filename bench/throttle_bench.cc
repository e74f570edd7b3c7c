// Drives one sandbox tenant through traffic::SiteClient for bench/throttle_bench.sh: THREADS
// threads send background reads of one Patient for SECONDS seconds, through a client whose
// throttle is configured at CLIENT_RATE requests/s, and the run is judged against the tenant's
// limit of TARGET_RATE requests/s. Prints one line of key=value figures.
//
// Usage: fhirbridge_throttle_bench BASE_URL PATIENT_ID TARGET_RATE CLIENT_RATE THREADS SECONDS
//                                  CLIENT_ID
//
// CLIENT_ID goes in X-Client-Id, which the sandbox's rate limiter uses to tell clients apart, so
// that runs one after the other start with full buckets.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "observe/log.h"
#include "observe/metrics.h"
#include "traffic/site_client.h"

int main(int argc, char** argv) {
  using namespace fhirbridge;
  using Clock = std::chrono::steady_clock;
  if (argc != 8) {
    std::cerr << "usage: " << argv[0]
              << " BASE_URL PATIENT_ID TARGET_RATE CLIENT_RATE THREADS SECONDS CLIENT_ID\n";
    return 2;
  }
  const std::string base_url = argv[1];
  const std::string patient_id = argv[2];
  const double target_rate = std::stod(argv[3]);
  const double client_rate = std::stod(argv[4]);
  const int thread_count = std::stoi(argv[5]);
  const double seconds = std::stod(argv[6]);
  const std::string client_id = argv[7];
  observe::SetMinimumLogLevel(observe::LogLevel::kWarning);

  traffic::SitePolicy policy;
  policy.site = "bench";
  policy.base_url = base_url;
  policy.throttle.requests_per_second = client_rate;
  // A small burst: the site's own bucket is one second deep, the client's need not be.
  policy.throttle.burst = std::max(1.0, client_rate / 20);
  policy.retry.max_attempts = 6;
  policy.retry.max_total = std::chrono::milliseconds(20000);
  observe::MetricsRegistry metrics;
  auto client = traffic::SiteClient::Create(policy, nullptr, metrics);
  if (!client) {
    std::cerr << client.error().ToString() << "\n";
    return 1;
  }

  traffic::SiteRequest read;
  read.target = "Patient/" + patient_id;
  read.priority = traffic::Priority::kBackground;
  read.headers = {{"X-Client-Id", client_id}};

  observe::Histogram latency;  // per logical request, throttle waits and retries included
  std::atomic<std::uint64_t> ok{0}, final_429{0}, other_status{0}, failures{0};
  const auto started = Clock::now();
  const auto stop_at =
      started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&] {
      while (Clock::now() < stop_at) {
        const auto sent = Clock::now();
        auto response = (*client)->Send(read);
        latency.Observe(std::chrono::duration<double>(Clock::now() - sent).count());
        if (!response) {
          ++failures;
        } else if (response->status() == 200) {
          ++ok;
        } else if (response->status() == 429) {
          ++final_429;
        } else {
          ++other_status;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  // Requests started before the end are counted, so the window ends when the last one does.
  const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();

  // Every HTTP exchange, and the 429s among them (retried ones included).
  std::uint64_t exchanges = 0;
  for (const char* status_class : {"1xx", "2xx", "3xx", "4xx", "5xx", "other", "no_response"}) {
    exchanges += metrics
                     .GetCounter("fhirbridge_site_requests_total", "",
                                 {{"site", "bench"}, {"class", status_class}})
                     .Value();
  }
  const std::uint64_t retried_429 =
      metrics
          .GetCounter("fhirbridge_site_retries_total", "", {{"site", "bench"}, {"reason", "429"}})
          .Value();
  const std::uint64_t answered_429 = retried_429 + final_429.load();
  const traffic::ThrottleSnapshot throttle = (*client)->throttle().Snapshot();

  const double achieved = static_cast<double>(ok.load()) / elapsed;
  std::printf(
      "client_rate=%.1f target_rate=%.1f threads=%d seconds=%.1f ok=%llu achieved_rate=%.1f "
      "percent_of_target=%.2f exchanges=%llu answered_429=%llu share_429_percent=%.3f "
      "other_status=%llu failures=%llu p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f "
      "exchange_p50_ms=%.3f exchange_p99_ms=%.3f final_client_rate=%.1f decreases=%llu\n",
      client_rate, target_rate, thread_count, elapsed, static_cast<unsigned long long>(ok.load()),
      achieved, 100.0 * achieved / target_rate, static_cast<unsigned long long>(exchanges),
      static_cast<unsigned long long>(answered_429),
      exchanges == 0 ? 0.0
                     : 100.0 * static_cast<double>(answered_429) / static_cast<double>(exchanges),
      static_cast<unsigned long long>(other_status.load()),
      static_cast<unsigned long long>(failures.load()), latency.Quantile(0.5) * 1000,
      latency.Quantile(0.95) * 1000, latency.Quantile(0.99) * 1000,
      metrics.GetHistogram("fhirbridge_site_request_duration_seconds", "", {{"site", "bench"}})
              .Quantile(0.5) *
          1000,
      metrics.GetHistogram("fhirbridge_site_request_duration_seconds", "", {{"site", "bench"}})
              .Quantile(0.99) *
          1000,
      throttle.current_rate, static_cast<unsigned long long>(throttle.decreases));
  return 0;
}
