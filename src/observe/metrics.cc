#include "observe/metrics.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cmath>

namespace fhirbridge::observe {
namespace {

// Bucket i holds values in [kBucketBase * kBucketGrowth^i, kBucketBase * kBucketGrowth^(i+1)).
// 1280 buckets of 2% reach 1e-7 * 1.02^1280, about 1.02e4: from 100 ns to almost three hours
// when the values are latencies in seconds, in 10 KiB per histogram.
constexpr double kBucketBase = 1e-7;
constexpr double kBucketGrowth = 1.02;
constexpr std::size_t kBucketCount = 1280;

// The sum is kept in integer micro-units so it can be a lock-free atomic; values are clamped
// below 2^63 micro-units so one absurd observation cannot wrap the total.
constexpr double kMicroUnitsPerUnit = 1e6;
constexpr double kMaxMicroUnitsPerObservation = 9.2e18;

constexpr std::array<std::pair<std::string_view, double>, 3> kExportedQuantiles = {{
    {"0.5", 0.5},
    {"0.95", 0.95},
    {"0.99", 0.99},
}};

std::size_t BucketIndex(double value) {
  if (value <= kBucketBase) return 0;
  const double index = std::floor(std::log(value / kBucketBase) / std::log(kBucketGrowth));
  if (index >= static_cast<double>(kBucketCount - 1)) return kBucketCount - 1;
  return static_cast<std::size_t>(index);
}

// The geometric midpoint of a bucket is at most 1% away from any value in it.
double BucketMidpoint(std::size_t index) {
  return kBucketBase * std::pow(kBucketGrowth, static_cast<double>(index) + 0.5);
}

// Used only by assertions, which release builds compile out.
[[maybe_unused]] bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  const auto is_start = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  };
  const auto is_rest = [&](char c) { return is_start(c) || (c >= '0' && c <= '9'); };
  return is_start(name.front()) && std::ranges::all_of(name.substr(1), is_rest);
}

[[maybe_unused]] bool IsValidLabelName(std::string_view name) {
  if (name.empty()) return false;
  const auto is_start = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  const auto is_rest = [&](char c) { return is_start(c) || (c >= '0' && c <= '9'); };
  // Prometheus reserves names starting with "__" for its own use.
  return is_start(name.front()) && std::ranges::all_of(name.substr(1), is_rest) &&
         !name.starts_with("__");
}

// Sorts labels by name so that {a,b} and {b,a} name the same series, and checks them.
Labels CanonicalLabels(const Labels& labels, [[maybe_unused]] bool is_histogram) {
  Labels sorted = labels;
  std::ranges::sort(sorted);
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    assert(IsValidLabelName(sorted[i].first) && "label names must match [a-zA-Z_][a-zA-Z0-9_]*");
    assert((i == 0 || sorted[i - 1].first != sorted[i].first) &&
           "a label name may appear only once per series");
    assert((!is_histogram || sorted[i].first != "quantile") &&
           "the quantile label is reserved for summary exposition");
  }
  return sorted;
}

void AppendEscaped(std::string& out, std::string_view text, bool escape_quotes) {
  for (const char c : text) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '"' && escape_quotes) {
      out.append("\\\"");
    } else {
      out.push_back(c);
    }
  }
}

// Writes `{a="x",b="y"}`, with an extra label last when given; nothing when there are none.
void AppendLabels(std::string& out, const Labels& labels, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out.push_back('{');
  bool first = true;
  const auto append_one = [&](std::string_view name, std::string_view value) {
    if (!first) out.push_back(',');
    first = false;
    out.append(name);
    out.append("=\"");
    AppendEscaped(out, value, /*escape_quotes=*/true);
    out.push_back('"');
  };
  for (const auto& [name, value] : labels) append_one(name, value);
  if (!extra_name.empty()) append_one(extra_name, extra_value);
  out.push_back('}');
}

void AppendNumber(std::string& out, double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

void AppendNumber(std::string& out, std::uint64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

}  // namespace

Histogram::Histogram() : buckets_(kBucketCount) {}

void Histogram::Observe(double value) {
  // Negative, NaN and infinite values are not measurements of anything this records.
  if (!std::isfinite(value) || value < 0) return;

  buckets_[BucketIndex(value)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  const double micro_units =
      std::min(std::round(value * kMicroUnitsPerUnit), kMaxMicroUnitsPerObservation);
  sum_micro_units_.fetch_add(static_cast<std::uint64_t>(micro_units), std::memory_order_relaxed);
}

std::uint64_t Histogram::Count() const { return count_.load(std::memory_order_relaxed); }

double Histogram::Sum() const {
  return static_cast<double>(sum_micro_units_.load(std::memory_order_relaxed)) / kMicroUnitsPerUnit;
}

double Histogram::Quantile(double quantile) const {
  // Ranks come from one snapshot of the buckets rather than from count_, so that observations
  // landing during the walk cannot send the rank past the buckets that were read.
  std::vector<std::uint64_t> snapshot(buckets_.size());
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    snapshot[i] = buckets_[i].load(std::memory_order_relaxed);
    total += snapshot[i];
  }
  if (total == 0) return 0;

  const double clamped = std::isnan(quantile) ? 0.0 : std::clamp(quantile, 0.0, 1.0);
  const auto wanted = static_cast<std::uint64_t>(std::ceil(clamped * static_cast<double>(total)));
  const std::uint64_t rank = std::clamp<std::uint64_t>(wanted, 1, total);

  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < snapshot.size(); ++i) {
    seen += snapshot[i];
    if (seen >= rank) return BucketMidpoint(i);
  }
  assert(false && "the rank is at most the snapshot's total");
  return BucketMidpoint(kBucketCount - 1);
}

Counter& MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     const Labels& labels) {
  assert(IsValidMetricName(name) && "metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  Labels key = CanonicalLabels(labels, /*is_histogram=*/false);

  const std::lock_guard lock(mutex_);
  auto family = families_.find(name);
  if (family == families_.end()) {
    family = families_.try_emplace(std::string(name)).first;
    family->second.help = help;
  }
  assert(!family->second.is_histogram && !family->second.is_gauge &&
         "a metric name is either a counter, a gauge or a histogram");

  std::unique_ptr<Counter>& counter = family->second.counters[std::move(key)];
  if (counter == nullptr) counter = std::make_unique<Counter>();
  return *counter;
}

Gauge& MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 const Labels& labels) {
  assert(IsValidMetricName(name) && "metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  Labels key = CanonicalLabels(labels, /*is_histogram=*/false);

  const std::lock_guard lock(mutex_);
  auto family = families_.find(name);
  if (family == families_.end()) {
    family = families_.try_emplace(std::string(name)).first;
    family->second.help = help;
    family->second.is_gauge = true;
  }
  assert(family->second.is_gauge && "a metric name is either a counter, a gauge or a histogram");

  std::unique_ptr<Gauge>& gauge = family->second.gauges[std::move(key)];
  if (gauge == nullptr) gauge = std::make_unique<Gauge>();
  return *gauge;
}

Histogram& MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         const Labels& labels) {
  assert(IsValidMetricName(name) && "metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  Labels key = CanonicalLabels(labels, /*is_histogram=*/true);

  const std::lock_guard lock(mutex_);
  auto family = families_.find(name);
  if (family == families_.end()) {
    family = families_.try_emplace(std::string(name)).first;
    family->second.help = help;
    family->second.is_histogram = true;
  }
  assert(family->second.is_histogram &&
         "a metric name is either a counter, a gauge or a histogram");

  std::unique_ptr<Histogram>& histogram = family->second.histograms[std::move(key)];
  if (histogram == nullptr) histogram = std::make_unique<Histogram>();
  return *histogram;
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::string out;
  const std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) {
    out.append("# HELP ");
    out.append(name);
    out.push_back(' ');
    AppendEscaped(out, family.help, /*escape_quotes=*/false);
    out.append("\n# TYPE ");
    out.append(name);
    out.append(family.is_histogram ? " summary\n" : family.is_gauge ? " gauge\n" : " counter\n");

    for (const auto& [labels, counter] : family.counters) {
      out.append(name);
      AppendLabels(out, labels);
      out.push_back(' ');
      AppendNumber(out, counter->Value());
      out.push_back('\n');
    }

    for (const auto& [labels, gauge] : family.gauges) {
      out.append(name);
      AppendLabels(out, labels);
      out.push_back(' ');
      out.append(std::to_string(gauge->Value()));
      out.push_back('\n');
    }

    for (const auto& [labels, histogram] : family.histograms) {
      for (const auto& [quantile_label, quantile] : kExportedQuantiles) {
        out.append(name);
        AppendLabels(out, labels, "quantile", quantile_label);
        out.push_back(' ');
        AppendNumber(out, histogram->Quantile(quantile));
        out.push_back('\n');
      }
      out.append(name);
      out.append("_sum");
      AppendLabels(out, labels);
      out.push_back(' ');
      AppendNumber(out, histogram->Sum());
      out.push_back('\n');
      out.append(name);
      out.append("_count");
      AppendLabels(out, labels);
      out.push_back(' ');
      AppendNumber(out, histogram->Count());
      out.push_back('\n');
    }
  }
  return out;
}

MetricsRegistry& MetricsRegistry::Global() {
  static MetricsRegistry registry;
  return registry;
}

}  // namespace fhirbridge::observe
