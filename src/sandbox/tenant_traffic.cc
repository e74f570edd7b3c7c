#include "sandbox/tenant_traffic.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>

namespace fhirbridge::sandbox {
namespace {

std::uint64_t SeedOrRandom(const FaultSettings& faults) {
  if (faults.seed) return *faults.seed;
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

std::string Hashed(std::string_view kind, std::string_view value) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016zx", std::hash<std::string_view>{}(value));
  return std::string(kind) + ":" + hex;
}

bool StartsWithIgnoringCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

}  // namespace

std::string RateLimitClient(const http::Request& request) {
  if (const std::string* authorization = request.FindHeader("authorization");
      authorization != nullptr && StartsWithIgnoringCase(*authorization, "Bearer ")) {
    return Hashed("token", std::string_view(*authorization).substr(7));
  }
  for (const std::string_view header : {"x-client-id", "epic-client-id"}) {
    if (const std::string* client = request.FindHeader(header); client != nullptr) {
      return Hashed("client", *client);
    }
  }
  return Hashed("address", request.remote_address);
}

TenantTraffic::TenantTraffic(const TrafficSettings& traffic, const FaultSettings& faults)
    : traffic_(traffic),
      faults_(std::make_shared<const FaultSettings>(faults)),
      generator_(SeedOrRandom(faults)) {
  concurrency_.SetLimits(traffic.max_concurrent, traffic.queue_size);
}

TrafficSettings TenantTraffic::traffic() const {
  const std::lock_guard lock(mutex_);
  return traffic_;
}

std::shared_ptr<const FaultSettings> TenantTraffic::faults() const {
  const std::lock_guard lock(mutex_);
  return faults_;
}

void TenantTraffic::SetTraffic(const TrafficSettings& settings) {
  {
    const std::lock_guard lock(mutex_);
    traffic_ = settings;
  }
  concurrency_.SetLimits(settings.max_concurrent, settings.queue_size);
}

void TenantTraffic::SetFaults(FaultSettings settings) {
  std::function<void(std::uint64_t)> listener;
  std::uint64_t generation = 0;
  {
    const std::lock_guard lock(mutex_);
    generator_.seed(SeedOrRandom(settings));
    faults_ = std::make_shared<const FaultSettings>(std::move(settings));
    generation = ++generation_;
    listener = listener_;
  }
  if (listener) listener(generation);
}

std::uint64_t TenantTraffic::SetFaultsListener(std::function<void(std::uint64_t)> listener) {
  const std::lock_guard lock(mutex_);
  listener_ = std::move(listener);
  return generation_;
}

std::uint64_t TenantTraffic::faults_generation() const {
  const std::lock_guard lock(mutex_);
  return generation_;
}

std::optional<base::SystemTime> TenantTraffic::MaintenanceEnd(base::SystemTime now) const {
  std::optional<base::SystemTime> end;
  std::shared_ptr<const FaultSettings> faults;
  {
    const std::lock_guard lock(mutex_);
    if (manual_maintenance_end_ && now < *manual_maintenance_end_) end = manual_maintenance_end_;
    faults = faults_;
  }
  for (const MaintenanceWindow& window : faults->maintenance_windows) {
    if (const auto window_end = window.EndIfActive(now)) {
      end = end ? std::max(*end, *window_end) : *window_end;
    }
  }
  return end;
}

base::SystemTime TenantTraffic::StartMaintenance(base::SystemTime now,
                                                 std::chrono::seconds duration) {
  const std::lock_guard lock(mutex_);
  manual_maintenance_end_ = now + duration;
  return *manual_maintenance_end_;
}

void TenantTraffic::EndMaintenance() {
  const std::lock_guard lock(mutex_);
  manual_maintenance_end_.reset();
}

RateLimiter::Decision TenantTraffic::TakeToken(std::string_view client,
                                               std::chrono::steady_clock::time_point now) {
  const TrafficSettings settings = traffic();
  if (settings.requests_per_second <= 0) return {};
  return rate_limiter_.Take(client, settings.requests_per_second, settings.BucketCapacity(), now);
}

double TenantTraffic::Draw() {
  const std::lock_guard lock(mutex_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator_);
}

bool TenantTraffic::Roll(double rate) {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  return Draw() < rate;
}

std::optional<int> TenantTraffic::RollInjectedError(const FaultSettings& faults) {
  double total = 0;
  for (const double rate : faults.error_rates) total += rate;
  if (total <= 0) return std::nullopt;
  const double draw = Draw();
  double cumulative = 0;
  for (std::size_t i = 0; i < faults.error_rates.size(); ++i) {
    cumulative += faults.error_rates[i];
    if (faults.error_rates[i] > 0 && draw < cumulative) return kInjectedErrorStatuses[i];
  }
  return std::nullopt;
}

std::chrono::milliseconds TenantTraffic::RollLatency(const FaultSettings& faults) {
  if (faults.latency_jitter <= std::chrono::milliseconds::zero()) return faults.latency;
  const double jitter = Draw() * static_cast<double>(faults.latency_jitter.count() + 1);
  return faults.latency + std::chrono::milliseconds(static_cast<std::int64_t>(jitter));
}

}  // namespace fhirbridge::sandbox
