#include "observe/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fhirbridge::observe {
namespace {

// Sends log lines to a string for the test's duration and restores the defaults afterwards, so
// no test leaks its configuration into the next.
class CapturedLog {
 public:
  CapturedLog() { SetLogStream(&stream_); }
  ~CapturedLog() {
    SetLogStream(nullptr);
    SetMinimumLogLevel(LogLevel::kInfo);
  }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::istringstream input(stream_.str());
    for (std::string line; std::getline(input, line);) lines.push_back(line);
    return lines;
  }
  std::string Text() const { return stream_.str(); }

 private:
  std::ostringstream stream_;
};

struct RedactionCase {
  std::string raw;
  std::string expected;
};

TEST(RedactQueryTest, KeepsPagingValuesAndHidesIdentifyingOnes) {
  const std::vector<RedactionCase> cases = {
      {"name=Smith&_count=10", "name=[redacted]&_count=10"},
      {"identifier=urn:oid:1.2.36|12345", "identifier=[redacted]"},
      {"birthdate=1970-01-01&_sort=-birthdate", "birthdate=[redacted]&_sort=-birthdate"},
      {"_id=abc&_lastUpdated=gt2026-01-01", "_id=[redacted]&_lastUpdated=[redacted]"},
      {"family:exact=Smith", "family:exact=[redacted]"},
      {"_include:iterate=Patient:general-practitioner",
       "_include:iterate=Patient:general-practitioner"},
      {"_summary=count&_total=accurate&_elements=id,meta",
       "_summary=count&_total=accurate&_elements=id,meta"},
      {"_count", "_count"},
      {"", ""},
  };
  for (const RedactionCase& test_case : cases) {
    EXPECT_EQ(RedactQuery(test_case.raw), test_case.expected) << test_case.raw;
  }
}

TEST(RedactQueryTest, HidesNamesThatAreNotPlainIdentifiers) {
  EXPECT_EQ(RedactQuery("na%6De=Smith"), "[redacted]=[redacted]");
  EXPECT_EQ(RedactQuery("John Smith"), "[redacted]");
  EXPECT_EQ(RedactQuery("=Smith&_count=5"), "[redacted]=[redacted]&_count=5");
  EXPECT_EQ(RedactQuery(std::string(100, 'a') + "=1"), "[redacted]=[redacted]");
}

TEST(RedactQueryTest, DropsEmptyParts) {
  EXPECT_EQ(RedactQuery("&&_count=3&&gender=female&"), "_count=3&gender=[redacted]");
  EXPECT_EQ(RedactQuery("&&&"), "");
}

TEST(RedactQueryTest, AllowListHoldsOnlyControlParameters) {
  EXPECT_TRUE(IsLoggableQueryParameter("_count"));
  EXPECT_TRUE(IsLoggableQueryParameter("_revinclude:iterate"));
  EXPECT_FALSE(IsLoggableQueryParameter("name"));
  EXPECT_FALSE(IsLoggableQueryParameter("_id"));
  EXPECT_FALSE(IsLoggableQueryParameter("_content"));
  EXPECT_FALSE(IsLoggableQueryParameter("_COUNT"));
}

TEST(LogLevelTest, ParsesNamesAndTheWarnAlias) {
  EXPECT_EQ(ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("info"), LogLevel::kInfo);
  EXPECT_EQ(ParseLogLevel("warning"), LogLevel::kWarning);
  EXPECT_EQ(ParseLogLevel("warn"), LogLevel::kWarning);
  EXPECT_EQ(ParseLogLevel("error"), LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("verbose").has_value());
  EXPECT_EQ(LogLevelName(LogLevel::kWarning), "warning");
}

TEST(RenderLogLineTest, WritesFieldsInTheDocumentedOrder) {
  LogEvent event;
  event.level = LogLevel::kWarning;
  event.event = "http.request";
  event.subsystem = "sandbox.http";
  event.message = "Request failed; check the route.";
  event.tenant = "epic-like";
  event.site = "north";
  event.correlation_id = "c-1";
  event.method = "GET";
  event.route = "/{tenant}/api/FHIR/R4/{type}/{id}";
  event.query = RedactQuery("_count=2");
  event.status = 404;
  event.latency_ms = 12.3456;
  event.error = base::MakeError(base::ErrorCode::kNotFound, "No Patient with that id.");
  event.attributes = {{"zeta", true}, {"alpha", std::int64_t{7}}, {"ratio", 0.5}};

  const std::string line = RenderLogLine(event);
  const nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["level"], "warning");
  EXPECT_EQ(parsed["status"], 404);
  EXPECT_EQ(parsed["error"], base::Describe(base::ErrorCode::kNotFound).name);
  EXPECT_EQ(parsed["error_detail"], "No Patient with that id.");
  EXPECT_NE(line.find(R"("latency_ms":12.346,)"), std::string::npos) << line;

  const std::vector<std::string> keys = {
      "time",       "level",          "event",        "subsystem", "message", "tenant",
      "site",       "correlation_id", "method",       "route",     "query",   "status",
      "latency_ms", "error",          "error_detail", "alpha",     "ratio",   "zeta"};
  std::size_t previous = 0;
  for (const std::string& key : keys) {
    const std::size_t position = line.find('"' + key + "\":");
    ASSERT_NE(position, std::string::npos) << key;
    EXPECT_GT(position, previous) << key;
    previous = position;
  }
}

TEST(RenderLogLineTest, OmitsEmptyFields) {
  LogEvent event;
  event.event = "startup";
  const nlohmann::json parsed = nlohmann::json::parse(RenderLogLine(event));
  EXPECT_EQ(parsed.size(), 4U) << parsed.dump();
  EXPECT_TRUE(parsed.contains("time"));
  EXPECT_EQ(parsed["subsystem"], "general");
}

TEST(RenderLogLineTest, EscapesQuotesControlCharactersAndInvalidUtf8) {
  LogEvent event;
  event.tenant = "a\"b\\c\n\x01";
  event.site = "caf\xC3\xA9";
  event.correlation_id = "bad\xFF\xC3";
  event.attributes = {{"reason", NonPhi{"tab\there"}}};

  const std::string line = RenderLogLine(event);
  EXPECT_NE(line.find(R"("tenant":"a\"b\\c\u000a\u0001")"), std::string::npos) << line;
  EXPECT_NE(line.find("\"site\":\"caf\xC3\xA9\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"correlation_id\":\"bad\xEF\xBF\xBD\xEF\xBF\xBD\""), std::string::npos)
      << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);

  const nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["tenant"], "a\"b\\c\n\x01");
  EXPECT_EQ(parsed["reason"], "tab\there");
}

TEST(LogTest, RedactedQueryNeverReachesTheLine) {
  const CapturedLog captured;
  LogEvent event;
  event.event = "http.request";
  event.query = RedactQuery("family=Smith&identifier=MRN-998877&birthdate=1970-01-01&_count=5");
  Log(event);

  const std::string text = captured.Text();
  EXPECT_EQ(text.find("Smith"), std::string::npos) << text;
  EXPECT_EQ(text.find("998877"), std::string::npos) << text;
  EXPECT_EQ(text.find("1970"), std::string::npos) << text;
  EXPECT_NE(text.find("_count=5"), std::string::npos) << text;
}

TEST(LogTest, DropsEventsBelowTheMinimumLevel) {
  const CapturedLog captured;
  SetMinimumLogLevel(LogLevel::kWarning);
  EXPECT_EQ(MinimumLogLevel(), LogLevel::kWarning);

  LogEvent event;
  event.level = LogLevel::kInfo;
  event.event = "dropped";
  Log(event);
  event.level = LogLevel::kError;
  event.event = "kept";
  Log(event);

  const std::vector<std::string> lines = captured.Lines();
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["event"], "kept");
  EXPECT_EQ(captured.Text().back(), '\n');
}

TEST(LogTest, ConcurrentWritersProduceOnlyWholeLines) {
  const CapturedLog captured;
  constexpr int kThreads = 4;
  constexpr int kLinesPerThread = 250;

  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([thread] {
      for (int i = 0; i < kLinesPerThread; ++i) {
        LogEvent event;
        event.event = "concurrency.probe";
        event.correlation_id = "thread-" + std::to_string(thread);
        event.attributes = {{"index", std::int64_t{i}}};
        Log(event);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  const std::vector<std::string> lines = captured.Lines();
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kLinesPerThread));
  for (const std::string& line : lines) {
    const nlohmann::json parsed = nlohmann::json::parse(line);
    EXPECT_EQ(parsed["event"], "concurrency.probe");
  }
}

}  // namespace
}  // namespace fhirbridge::observe
