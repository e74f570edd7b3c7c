#include "observe/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace fhirbridge::observe {
namespace {

TEST(HistogramTest, QuantilesOfUniformValuesAreWithinTwoPercent) {
  Histogram histogram;
  for (int value = 1; value <= 10000; ++value) histogram.Observe(value);

  EXPECT_EQ(histogram.Count(), 10000U);
  EXPECT_DOUBLE_EQ(histogram.Sum(), 50005000.0);
  EXPECT_NEAR(histogram.Quantile(0.5), 5000.0, 5000.0 * 0.02);
  EXPECT_NEAR(histogram.Quantile(0.95), 9500.0, 9500.0 * 0.02);
  EXPECT_NEAR(histogram.Quantile(0.99), 9900.0, 9900.0 * 0.02);
}

TEST(HistogramTest, SmallLatenciesKeepTheirPrecision) {
  Histogram histogram;
  histogram.Observe(0.000250);
  EXPECT_NEAR(histogram.Quantile(0.5), 0.000250, 0.000250 * 0.02);
  EXPECT_DOUBLE_EQ(histogram.Sum(), 0.000250);
}

TEST(HistogramTest, IgnoresNegativeAndNonFiniteValues) {
  Histogram histogram;
  histogram.Observe(-1.0);
  histogram.Observe(std::numeric_limits<double>::quiet_NaN());
  histogram.Observe(std::numeric_limits<double>::infinity());
  EXPECT_EQ(histogram.Count(), 0U);
  EXPECT_EQ(histogram.Sum(), 0.0);
  EXPECT_EQ(histogram.Quantile(0.5), 0.0);

  histogram.Observe(2.0);
  EXPECT_EQ(histogram.Count(), 1U);
  EXPECT_NEAR(histogram.Quantile(0.99), 2.0, 2.0 * 0.02);
}

TEST(HistogramTest, ValuesOutsideTheRangeLandInTheEndBuckets) {
  Histogram histogram;
  histogram.Observe(0.0);
  histogram.Observe(1e9);
  EXPECT_LT(histogram.Quantile(0.0), 1e-6);
  EXPECT_GT(histogram.Quantile(1.0), 1e4);
  EXPECT_LT(histogram.Quantile(1.0), 1.1e4);
}

TEST(MetricsRegistryTest, ReturnsTheSameSeriesWhateverTheLabelOrder) {
  MetricsRegistry registry;
  Counter& first = registry.GetCounter("requests_total", "Requests.", {{"a", "1"}, {"b", "2"}});
  Counter& second = registry.GetCounter("requests_total", "Ignored.", {{"b", "2"}, {"a", "1"}});
  EXPECT_EQ(&first, &second);
  EXPECT_NE(&first, &registry.GetCounter("requests_total", "", {{"a", "2"}, {"b", "2"}}));
}

TEST(MetricsRegistryTest, ConcurrentIncrementsSumCorrectly) {
  MetricsRegistry registry;
  constexpr int kThreads = 4;
  constexpr int kIncrementsPerThread = 10000;

  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&registry] {
      for (int i = 0; i < kIncrementsPerThread; ++i) {
        registry.GetCounter("hits_total", "Hits.", {{"tenant", "t"}}).Increment();
        registry.GetHistogram("latency_seconds", "Latency.").Observe(0.5);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  const std::uint64_t expected = std::uint64_t{kThreads} * kIncrementsPerThread;
  EXPECT_EQ(registry.GetCounter("hits_total", "Hits.", {{"tenant", "t"}}).Value(), expected);
  Histogram& latency = registry.GetHistogram("latency_seconds", "Latency.");
  EXPECT_EQ(latency.Count(), expected);
  EXPECT_DOUBLE_EQ(latency.Sum(), 0.5 * static_cast<double>(expected));
}

TEST(PrometheusTest, RendersCountersAndSummariesExactly) {
  MetricsRegistry registry;
  registry
      .GetCounter("http_requests_total", "HTTP requests answered.",
                  {{"tenant", "north"}, {"status", "2xx"}})
      .Increment(12);
  registry.GetCounter("http_requests_total", "", {{"tenant", "north"}, {"status", "4xx"}})
      .Increment();
  registry.GetHistogram("http_latency_seconds", "Time to answer.", {{"route", "/metadata"}})
      .Observe(0.25);

  // 0.25 falls in bucket 743, whose geometric midpoint is 1e-7 * 1.02^743.5.
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP http_latency_seconds Time to answer.\n"
            "# TYPE http_latency_seconds summary\n"
            "http_latency_seconds{route=\"/metadata\",quantile=\"0.5\"} 0.24787213356367194\n"
            "http_latency_seconds{route=\"/metadata\",quantile=\"0.95\"} 0.24787213356367194\n"
            "http_latency_seconds{route=\"/metadata\",quantile=\"0.99\"} 0.24787213356367194\n"
            "http_latency_seconds_sum{route=\"/metadata\"} 0.25\n"
            "http_latency_seconds_count{route=\"/metadata\"} 1\n"
            "# HELP http_requests_total HTTP requests answered.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{status=\"2xx\",tenant=\"north\"} 12\n"
            "http_requests_total{status=\"4xx\",tenant=\"north\"} 1\n");
}

TEST(PrometheusTest, EscapesLabelValuesAndHelpText) {
  MetricsRegistry registry;
  registry.GetCounter("odd_total", "Line one\nback\\slash \"quoted\"", {{"route", "a\\b\"c\nd"}});
  registry.GetCounter("plain_total", "No labels.");

  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP odd_total Line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE odd_total counter\n"
            "odd_total{route=\"a\\\\b\\\"c\\nd\"} 0\n"
            "# HELP plain_total No labels.\n"
            "# TYPE plain_total counter\n"
            "plain_total 0\n");
}

#ifndef NDEBUG
TEST(MetricsRegistryDeathTest, RejectsInvalidNamesAndKindChanges) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MetricsRegistry registry;
  registry.GetCounter("requests_total", "Requests.");
  EXPECT_DEATH(registry.GetCounter("9lives", "Bad name."), "metric names must match");
  EXPECT_DEATH(registry.GetCounter("ok_total", "", {{"bad-label", "x"}}), "label names must match");
  EXPECT_DEATH(registry.GetHistogram("requests_total", "Requests."), "either a counter");
}
#endif

TEST(MetricsRegistryTest, GlobalIsOneRegistry) {
  EXPECT_EQ(&MetricsRegistry::Global(), &MetricsRegistry::Global());
}

}  // namespace
}  // namespace fhirbridge::observe
