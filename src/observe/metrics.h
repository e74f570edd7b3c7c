#pragma once

// A metrics registry: counters, gauges and latency histograms with p50/p95/p99, exposed in the
// Prometheus text format (version 0.0.4). Histograms are exposed as Prometheus summaries.
//
// Label values must be bounded and PHI-free: tenant or site names, route templates, status
// classes, catalogue codes. Never ids, names or raw URLs.
//
// Thread safety: all methods may be called concurrently. Counter and Histogram references stay
// valid for the registry's lifetime.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fhirbridge::observe {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(std::uint64_t amount = 1) { value_.fetch_add(amount, std::memory_order_relaxed); }
  std::uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down, such as a queue's length.
class Gauge {
 public:
  void Set(std::int64_t value) { value_.store(value, std::memory_order_relaxed); }
  std::int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Records positive values (latencies in seconds, sizes) in logarithmic buckets 2% wide, so a
// quantile is within about 1% of the true value, in constant memory and without locks.
class Histogram {
 public:
  Histogram();
  void Observe(double value);
  std::uint64_t Count() const;
  double Sum() const;
  // The value below which a fraction `quantile` (0..1) of observations fall; 0 when empty.
  double Quantile(double quantile) const;

 private:
  std::vector<std::atomic<std::uint64_t>> buckets_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micro_units_{0};
};

class MetricsRegistry {
 public:
  // Returns the counter, gauge or histogram for `name` and `labels`, creating it on first use.
  // `help` is recorded the first time a name is seen. Names follow Prometheus rules
  // ([a-zA-Z_:][a-zA-Z0-9_:]*); an invalid name, or one name used for two kinds, is a programmer
  // error.
  Counter& GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& GetHistogram(std::string_view name, std::string_view help, const Labels& labels = {});

  // Prometheus text exposition of every metric, sorted by name and labels.
  std::string RenderPrometheus() const;

  // The process-wide registry.
  static MetricsRegistry& Global();

 private:
  struct Family {
    std::string help;
    bool is_histogram = false;
    bool is_gauge = false;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace fhirbridge::observe
