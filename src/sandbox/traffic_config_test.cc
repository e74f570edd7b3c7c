#include "sandbox/traffic_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "sandbox/tenant_config.h"

namespace fhirbridge::sandbox {
namespace {

using Json = fhir::Json;

base::SystemTime At(std::string_view instant) {
  const auto time = base::ParseInstant(instant);
  EXPECT_TRUE(time.has_value()) << instant;
  return time.value_or(base::SystemTime{});
}

struct WindowCase {
  std::string_view window;
  std::string_view now;
  std::string_view expected_end;  // empty: not in the window
};

void PrintTo(const WindowCase& input, std::ostream* out) {
  *out << input.window << " at " << input.now;
}

// 2026-12-06 is a Sunday.
std::vector<WindowCase> WindowCases() {
  return {
      {"Sun 02:00-04:00", "2026-12-06T03:00:00Z", "2026-12-06T04:00:00Z"},
      {"Sun 02:00-04:00", "2026-12-06T02:00:00Z", "2026-12-06T04:00:00Z"},
      {"Sun 02:00-04:00", "2026-12-06T03:59:59.999Z", "2026-12-06T04:00:00Z"},
      {"Sun 02:00-04:00", "2026-12-06T04:00:00Z", ""},
      {"Sun 02:00-04:00", "2026-12-06T01:59:59Z", ""},
      {"Sun 02:00-04:00", "2026-12-07T03:00:00Z", ""},
      {"sun 02:00-04:00", "2026-12-13T02:30:00+00:00", "2026-12-13T04:00:00Z"},
      {"Fri 23:00-01:00", "2026-12-04T23:30:00Z", "2026-12-05T01:00:00Z"},
      {"Fri 23:00-01:00", "2026-12-05T00:30:00Z", "2026-12-05T01:00:00Z"},
      {"Fri 23:00-01:00", "2026-12-05T23:30:00Z", ""},
      {"Fri 23:00-01:00", "2026-12-04T00:30:00Z", ""},
      {"Mon-Fri 09:00-17:00", "2026-12-09T12:00:00Z", "2026-12-09T17:00:00Z"},
      {"Mon-Fri 09:00-17:00", "2026-12-05T12:00:00Z", ""},
      {"Fri-Mon 00:00-24:00", "2026-12-06T12:00:00Z", "2026-12-07T00:00:00Z"},
      {"Fri-Mon 00:00-24:00", "2026-12-08T12:00:00Z", ""},
      {"Sat,Sun 10:00-11:00", "2026-12-05T10:00:00Z", "2026-12-05T11:00:00Z"},
      {"Mon-Tue,Sat 10:00-11:00", "2026-12-03T10:30:00Z", ""},
      {"daily 12:00-12:30", "2026-12-03T12:10:00Z", "2026-12-03T12:30:00Z"},
      {"12:00-12:30", "2026-12-06T12:10:00Z", "2026-12-06T12:30:00Z"},
      {"* 12:00-12:30", "2026-12-06T12:31:00Z", ""},
      {"2026-12-01T00:00:00Z/2026-12-02T00:00:00Z", "2026-12-01T12:00:00Z", "2026-12-02T00:00:00Z"},
      {"2026-12-01T00:00:00Z/2026-12-02T00:00:00Z", "2026-12-02T00:00:00Z", ""},
      {"2026-12-01T00:00:00Z/2026-12-02T00:00:00Z", "2026-11-30T23:59:59Z", ""},
      {"2026-12-24/2026-12-27", "2026-12-25T08:00:00Z", "2026-12-27T00:00:00Z"},
  };
}

class MaintenanceWindowTest : public testing::TestWithParam<WindowCase> {};

TEST_P(MaintenanceWindowTest, IsActiveExactlyInsideItsWindow) {
  const WindowCase& input = GetParam();
  const auto window = MaintenanceWindow::Parse(input.window);
  ASSERT_TRUE(window.has_value()) << window.error().diagnostic;
  EXPECT_EQ(window->text(), input.window);
  const auto end = window->EndIfActive(At(input.now));
  if (input.expected_end.empty()) {
    EXPECT_FALSE(end.has_value()) << base::FormatInstant(*end);
  } else {
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(base::FormatInstant(*end), base::FormatInstant(At(input.expected_end)));
  }
}

INSTANTIATE_TEST_SUITE_P(Windows, MaintenanceWindowTest, testing::ValuesIn(WindowCases()));

TEST(MaintenanceWindowTest, RefusesWhatItCannotReadWithoutRepeatingIt) {
  const std::vector<std::pair<std::string_view, std::string_view>> bad = {
      {"Sun 2:00-4:00", "time range in UTC"},
      {"Sunday 02:00-04:00", "the days must be"},
      {"Mon- 02:00-04:00", "the days must be"},
      {"Mon, 02:00-04:00", "the days must be"},
      {"Sun 04:00-04:00", "same time"},
      {"Sun 02:00-24:30", "time range in UTC"},
      {"24:00-02:00", "time range in UTC"},
      {"Sun 02:00", "time range in UTC"},
      {"", "time range in UTC"},
      {"2026-12-02T00:00:00Z/2026-12-01T00:00:00Z", "ends before it starts"},
      {"secret-value/2026-12-01T00:00:00Z", "two FHIR instants"},
  };
  for (const auto& [text, fragment] : bad) {
    const auto window = MaintenanceWindow::Parse(text);
    ASSERT_FALSE(window.has_value()) << text;
    EXPECT_NE(window.error().diagnostic.find(fragment), std::string::npos)
        << text << ": " << window.error().diagnostic;
    EXPECT_EQ(window.error().diagnostic.find("secret"), std::string::npos);
  }
}

constexpr std::string_view kTenant = R"([build_levels.basic.resources]
Patient = ["read"]

[[tenants]]
name = "t1"
build_level = "basic"
)";

TEST(TrafficConfigTest, EveryLimitAndFaultIsOffByDefault) {
  const auto config = ParseSandboxConfig(kTenant, "test.toml");
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  const TenantConfig& tenant = config->tenants.at(0);
  EXPECT_EQ(tenant.traffic.requests_per_second, 0);
  EXPECT_EQ(tenant.traffic.max_concurrent, 0u);
  EXPECT_FALSE(tenant.faults.seed.has_value());
  EXPECT_EQ(tenant.faults.latency.count(), 0);
  EXPECT_EQ(tenant.faults.error_rates, (std::array<double, 4>{}));
  EXPECT_EQ(tenant.faults.ResetInterval().count(), 0);
  EXPECT_TRUE(tenant.faults.maintenance_windows.empty());
}

TEST(TrafficConfigTest, DefaultTenantsInjectNothingAndLimitNothing) {
  const auto config = DefaultSandboxConfig();
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  for (const TenantConfig& tenant : config->tenants) {
    SCOPED_TRACE(tenant.name);
    EXPECT_EQ(FaultSettingsJson(tenant.faults), FaultSettingsJson(FaultSettings{}));
    EXPECT_EQ(tenant.traffic.max_concurrent, 0u);
    EXPECT_EQ(tenant.traffic.requests_per_second, 0);
  }
}

TEST(TrafficConfigTest, ReadsEveryKeyOfBothTables) {
  const auto config = ParseSandboxConfig(std::string(kTenant) + R"(
[tenants.traffic]
requests_per_second = 2.5
burst = 5
max_concurrent = 4
queue_size = 10
queue_timeout_ms = 1500

[tenants.faults]
seed = 42
latency_ms = 50
latency_jitter_ms = 20
error_rates = { 500 = 0.01, 502 = 0.02, 503 = 0.03, 504 = 0.04 }
drop_connection_rate = 0.05
missing_next_link_rate = 0.06
expired_page_rate = 0.07
slow_last_page_ms = 80
reset_every_minutes = 30
maintenance_windows = ["Sun 02:00-04:00", "2026-12-24T18:00:00Z/2026-12-26T06:00:00Z"]
)",
                                         "test.toml");
  ASSERT_TRUE(config.has_value()) << config.error().diagnostic;
  const TrafficSettings& traffic = config->tenants.at(0).traffic;
  EXPECT_EQ(traffic.requests_per_second, 2.5);
  EXPECT_EQ(traffic.burst, 5u);
  EXPECT_EQ(traffic.max_concurrent, 4u);
  EXPECT_EQ(traffic.queue_size, 10u);
  EXPECT_EQ(traffic.queue_timeout.count(), 1500);
  const FaultSettings& faults = config->tenants.at(0).faults;
  EXPECT_EQ(faults.seed, 42u);
  EXPECT_EQ(faults.latency.count(), 50);
  EXPECT_EQ(faults.latency_jitter.count(), 20);
  EXPECT_EQ(faults.error_rates, (std::array{0.01, 0.02, 0.03, 0.04}));
  EXPECT_EQ(faults.drop_connection_rate, 0.05);
  EXPECT_EQ(faults.missing_next_link_rate, 0.06);
  EXPECT_EQ(faults.expired_page_rate, 0.07);
  EXPECT_EQ(faults.slow_last_page.count(), 80);
  EXPECT_EQ(faults.ResetInterval(), std::chrono::minutes(30));
  ASSERT_EQ(faults.maintenance_windows.size(), 2u);
  EXPECT_EQ(faults.maintenance_windows[1].text(), "2026-12-24T18:00:00Z/2026-12-26T06:00:00Z");
}

TEST(TrafficConfigTest, BucketCapacityDefaultsToOneSecondsWorth) {
  EXPECT_EQ((TrafficSettings{.requests_per_second = 2.5}).BucketCapacity(), 3);
  EXPECT_EQ((TrafficSettings{.requests_per_second = 0.2}).BucketCapacity(), 1);
  EXPECT_EQ((TrafficSettings{.requests_per_second = 2.5, .burst = 7}).BucketCapacity(), 7);
}

struct BadTable {
  std::string_view name;
  std::string_view text;  // appended to kTenant, so its first line is line 7
  int line;
  std::string_view fragment;
};

void PrintTo(const BadTable& input, std::ostream* out) { *out << input.name; }

std::vector<BadTable> BadTables() {
  return {
      {"TrafficNotATable", "traffic = 5\n", 7,
       "tenants[0].traffic: must be a table, not an integer"},
      {"UnknownTrafficKey", "[tenants.traffic]\nqueue_timeout = 5\n", 8,
       "tenants[0].traffic.queue_timeout: unknown key; expected one of requests_per_second"},
      {"NegativeRate", "[tenants.traffic]\nrequests_per_second = -1\n", 8,
       "tenants[0].traffic.requests_per_second: is out of range"},
      {"FractionalBurst", "[tenants.traffic]\nburst = 1.5\n", 8,
       "tenants[0].traffic.burst: must be an integer, not a float"},
      {"QueueTimeoutTooLong", "[tenants.traffic]\nqueue_timeout_ms = 600001\n", 8,
       "expected 0 to 600000"},
      {"ErrorRateAboveOne", "[tenants.faults]\nerror_rates = { 503 = 1.5 }\n", 8,
       "tenants[0].faults.error_rates.503: is out of range; expected a fraction from 0 to 1"},
      {"ErrorRatesAddUpToMoreThanOne", "[tenants.faults]\nerror_rates = { 503 = 0.6, 500 = 0.6 }\n",
       8, "tenants[0].faults.error_rates: the rates add up to more than 1"},
      {"UnknownErrorStatus", "[tenants.faults]\nerror_rates = { 501 = 0.1 }\n", 8,
       "tenants[0].faults.error_rates.501: unknown key; expected one of 500, 502, 503, 504"},
      {"LatencyTooLong", "[tenants.faults]\nlatency_ms = 60001\n", 8,
       "tenants[0].faults.latency_ms: is out of range; expected 0 to 60000"},
      {"NegativeSeed", "[tenants.faults]\nseed = -1\n", 8,
       "tenants[0].faults.seed: is out of range"},
      {"RateAsText", "[tenants.faults]\ndrop_connection_rate = \"often\"\n", 8,
       "drop_connection_rate: must be a number, not a string"},
      {"ResetTooOften", "[tenants.faults]\nreset_every_minutes = 0.001\n", 8,
       "expected 0 (never) or 0.01 to 10080"},
      {"BadMaintenanceWindow",
       "[tenants.faults]\nmaintenance_windows = [\"Sun 02:00-04:00\", \"Sunday 2am\"]\n", 8,
       "tenants[0].faults.maintenance_windows[1]: the days must be"},
      {"MaintenanceWindowAsTomlDate",
       "[tenants.faults]\nmaintenance_windows = [2026-05-01T10:00:00Z]\n", 8,
       "maintenance_windows[0]: must not be a TOML date-time"},
      {"MaintenanceWindowsNotAnArray", "[tenants.faults]\nmaintenance_windows = \"daily\"\n", 8,
       "must be an array of strings, not a string"},
      {"ProblemFurtherDown", "[tenants.faults]\nlatency_ms = 10\n\nexpired_page_rate = 2\n", 10,
       "tenants[0].faults.expired_page_rate: is out of range"},
      {"UnknownFaultKeyInline", "faults = { latency = 5 }\n", 7,
       "tenants[0].faults.latency: unknown key"},
  };
}

class BadTrafficTableTest : public testing::TestWithParam<BadTable> {};

TEST_P(BadTrafficTableTest, ReportsTheLineAndWhatIsWrong) {
  const BadTable& input = GetParam();
  const auto config =
      ParseSandboxConfig(std::string(kTenant) + std::string(input.text), "test.toml");
  ASSERT_FALSE(config.has_value()) << input.text;
  EXPECT_EQ(config.error().code, base::ErrorCode::kConfigInvalid);
  const std::string prefix = "test.toml:" + std::to_string(input.line) + ":";
  bool found = false;
  std::istringstream lines(config.error().diagnostic);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(prefix) && line.find(input.fragment) != std::string::npos) found = true;
  }
  EXPECT_TRUE(found) << "expected a line starting " << prefix << " containing \"" << input.fragment
                     << "\", got:\n"
                     << config.error().diagnostic;
}

INSTANTIATE_TEST_SUITE_P(TrafficConfigTest, BadTrafficTableTest, testing::ValuesIn(BadTables()),
                         [](const testing::TestParamInfo<BadTable>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(TrafficConfigTest, ReportsTheColumnOfAnUnknownKey) {
  const auto config =
      ParseSandboxConfig(std::string(kTenant) + "[tenants.faults]\n  colour = 1\n", "x.toml");
  ASSERT_FALSE(config.has_value());
  EXPECT_TRUE(config.error().diagnostic.starts_with("x.toml:8:3: tenants[0].faults.colour:"))
      << config.error().diagnostic;
}

TEST(TrafficConfigTest, JsonOfTheSettingsReadsBackUnchanged) {
  std::vector<SettingsProblem> problems;
  const Json faults = Json::parse(R"({"seed": 7, "latency_ms": 100, "latency_jitter_ms": 50,
      "error_rates": {"500": 0.1, "502": 0, "503": 0.25, "504": 0},
      "drop_connection_rate": 0.5, "missing_next_link_rate": 1, "expired_page_rate": 0.3,
      "slow_last_page_ms": 200, "reset_every_minutes": 0.5,
      "maintenance_windows": ["Sun 02:00-04:00"]})");
  const FaultSettings read = ReadFaultSettings(faults, problems);
  ASSERT_TRUE(problems.empty()) << problems[0].what;
  std::vector<SettingsProblem> again;
  EXPECT_EQ(FaultSettingsJson(ReadFaultSettings(FaultSettingsJson(read), again)),
            FaultSettingsJson(read));
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(FaultSettingsJson(read)["error_rates"]["503"], 0.25);

  const Json traffic = Json::parse(
      R"({"requests_per_second": 3, "burst": 6, "max_concurrent": 2, "queue_size": 8,
          "queue_timeout_ms": 250})");
  EXPECT_EQ(TrafficSettingsJson(ReadTrafficSettings(traffic, problems)), traffic);
  EXPECT_TRUE(problems.empty());
}

TEST(TrafficConfigTest, NullMeansTheDefault) {
  std::vector<SettingsProblem> problems;
  const FaultSettings read =
      ReadFaultSettings(Json::parse(R"({"seed": null, "latency_ms": null})"), problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_FALSE(read.seed.has_value());
  EXPECT_EQ(read.latency.count(), 0);
}

TEST(TrafficConfigTest, ReportsEveryProblemOfABodyWithItsPath) {
  std::vector<SettingsProblem> problems;
  ReadFaultSettings(Json::parse(R"({"latency_ms": -5, "colour": "zyxw-secret",
      "error_rates": {"503": "qvut-secret"}, "maintenance_windows": ["Sun 02:00-04:00", 3]})"),
                    problems);
  std::vector<std::string> paths;
  for (const auto& problem : problems) paths.push_back(SettingsPath(problem.path));
  std::ranges::sort(paths);
  EXPECT_EQ(paths, (std::vector<std::string>{"colour", "error_rates.503", "latency_ms",
                                             "maintenance_windows[1]"}));
  for (const auto& problem : problems) {
    EXPECT_EQ(problem.what.find("secret"), std::string::npos) << "values are never repeated";
  }

  problems.clear();
  ReadTrafficSettings(Json::parse("[1, 2]"), problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].what, "must be an object of settings, not an array");
}

TEST(TrafficConfigTest, SettingsPathQuotesKeysTomlWouldNeedQuoted) {
  EXPECT_EQ(SettingsPath(std::vector<std::string>{"error_rates", "503"}), "error_rates.503");
  EXPECT_EQ(SettingsPath(std::vector<std::string>{"windows", "[2]"}), "windows[2]");
  EXPECT_EQ(SettingsPath(std::vector<std::string>{"a b"}), "\"a b\"");
}

}  // namespace
}  // namespace fhirbridge::sandbox
