#include "verify/smoke_report.h"

#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fhirbridge::verify {
namespace {

bool ParsesAsXml(const std::string& xml) {
  xmlDocPtr document = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "report.xml",
                                     "UTF-8", XML_PARSE_NONET | XML_PARSE_NOERROR);
  if (document == nullptr) return false;
  xmlFreeDoc(document);
  return true;
}

// A report whose texts hold every character that XML and Markdown treat specially.
SmokeReport HostileReport() {
  SiteReport site;
  site.site = "site <&> \"quoted\" 'single' | piped";
  site.fhir_base = "https://fhir.example/R4?a=1&b=2";
  site.started_at = "2026-12-03T00:00:00.000Z";
  site.duration_ms = 1234;

  StepResult passed;
  passed.name = "discovery-metadata";
  passed.request = "GET metadata";
  passed.request_id = "smoke-1";
  passed.http_status = 200;
  passed.latency_ms = 12;
  passed.timed = true;
  passed.notes = {"note with ]]> and \x01 control and bad UTF-8 \xC3\x28 and ok \xC3\xA9"};
  passed.warnings = {{"warning", "processing", "4101"}};

  StepResult failed;
  failed.name = "conditions";
  failed.patient_label = "baseline-1";
  failed.request = "GET Condition?patient={patient_id}&x=<y>";
  failed.outcome = StepOutcome::kFailed;
  failed.failures = {"expected HTTP 200, got 500 (OperationOutcome: error exception)",
                     "2 of 3 Condition entries lack code | category"};
  failed.request_id = "smoke-2";
  failed.http_status = 500;
  failed.latency_ms = 30;
  failed.timed = true;

  StepResult skipped;
  skipped.name = "allergies";
  skipped.patient_label = "baseline-1";
  skipped.request = "GET AllergyIntolerance?patient={patient_id}";
  skipped.outcome = StepOutcome::kSkipped;
  skipped.skip_reason = "not granted: the token's scopes lack system/AllergyIntolerance.rs";

  site.steps = {passed, failed, skipped};
  return SmokeReport{"standard", "2026-12-03T00:00:01.000Z", {site}};
}

TEST(SmokeReportTest, EscapeXmlLeavesNothingAParserWouldRefuse) {
  EXPECT_EQ(EscapeXml("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;");
  EXPECT_EQ(EscapeXml("line\nbreak\ttab"), "line&#10;break&#9;tab");
  EXPECT_EQ(EscapeXml("line\nbreak", /*attribute=*/false), "line\nbreak");
  EXPECT_EQ(EscapeXml(std::string_view("nul\0bell\x07", 9)),
            "nul\xEF\xBF\xBD"
            "bell\xEF\xBF\xBD");
  EXPECT_EQ(EscapeXml("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  // Truncated, overlong and surrogate sequences, and a stray continuation byte.
  EXPECT_EQ(EscapeXml("\xC3"), "\xEF\xBF\xBD");
  EXPECT_EQ(EscapeXml("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(EscapeXml("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(EscapeXml("\x80"), "\xEF\xBF\xBD");
}

TEST(SmokeReportTest, JunitXmlParsesAndCountsFailuresAndSkips) {
  const std::string xml = RenderJunitXml(HostileReport());
  EXPECT_TRUE(ParsesAsXml(xml)) << xml;
  EXPECT_NE(xml.find("<testsuite name=\"site &lt;&amp;&gt; &quot;quoted&quot;"), std::string::npos);
  EXPECT_NE(xml.find("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""), std::string::npos);
  EXPECT_NE(xml.find("<testcase classname=\"fhirbridge.smoke.site"), std::string::npos);
  EXPECT_NE(xml.find("name=\"conditions [baseline-1]\" time=\"0.030\">"), std::string::npos);
  EXPECT_NE(xml.find("<skipped message=\"not granted: the token&apos;s scopes lack "
                     "system/AllergyIntolerance.rs\"/>"),
            std::string::npos);
  EXPECT_NE(xml.find("request id: smoke-2"), std::string::npos);
}

TEST(SmokeReportTest, MarkdownIsOneTablePerSiteWithFailuresAndTheirRequestIds) {
  const std::string markdown = RenderMarkdown(HostileReport());
  EXPECT_NE(markdown.find("## site <&> \"quoted\" 'single' | piped: FAILED"), std::string::npos);
  EXPECT_NE(markdown.find("1 passed, 1 failed, 1 skipped. Latency p50 12 ms, p95 30 ms, p99 30 "
                          "ms over 2 requests."),
            std::string::npos);
  EXPECT_NE(markdown.find("| conditions | baseline-1 | failed | 500 | 30 | - | 0 | `smoke-2` |"),
            std::string::npos);
  EXPECT_NE(markdown.find("| allergies | baseline-1 | skipped | - | - | - | 0 | - |"),
            std::string::npos);
  EXPECT_NE(markdown.find("- **conditions [baseline-1]** (`GET Condition?patient={patient_id}&x="
                          "<y>`, request id `smoke-2`):\n  - expected HTTP 200, got 500"),
            std::string::npos);
  EXPECT_NE(markdown.find("- **allergies**: skipped: not granted: the token's scopes lack "
                          "system/AllergyIntolerance.rs (baseline-1)"),
            std::string::npos);
  EXPECT_NE(markdown.find("warning processing (4101)"), std::string::npos);
}

TEST(SmokeReportTest, JsonCarriesOutcomesCountsAndLatency) {
  const auto json = RenderJson(HostileReport());
  EXPECT_EQ(json["passed"], false);
  const auto& site = json["sites"][0];
  EXPECT_EQ(site["counts"]["failed"], 1);
  EXPECT_EQ(site["counts"]["skipped"], 1);
  EXPECT_EQ(site["latency_ms"]["count"], 2);
  EXPECT_EQ(site["steps"][1]["outcome"], "failed");
  EXPECT_EQ(site["steps"][1]["request_id"], "smoke-2");
  EXPECT_EQ(site["steps"][2]["skip_reason"],
            "not granted: the token's scopes lack system/AllergyIntolerance.rs");
  EXPECT_TRUE(site["steps"][2]["request_id"].is_null());
  EXPECT_EQ(site["steps"][0]["warnings"][0]["detail_code"], "4101");
}

TEST(SmokeReportTest, LatencyPercentilesAreNearestRank) {
  std::vector<double> samples;
  for (int i = 100; i >= 1; --i) samples.push_back(i);
  const LatencySummary summary = SummariseLatency(samples);
  EXPECT_EQ(summary.count, 100u);
  EXPECT_EQ(summary.p50_ms, 50);
  EXPECT_EQ(summary.p95_ms, 95);
  EXPECT_EQ(summary.p99_ms, 99);
  EXPECT_EQ(summary.max_ms, 100);
  const LatencySummary one = SummariseLatency({7});
  EXPECT_EQ(one.p50_ms, 7);
  EXPECT_EQ(one.p99_ms, 7);
  EXPECT_EQ(SummariseLatency({}).count, 0u);
}

TEST(SmokeReportTest, ReportFormatsAreParsedStrictly) {
  auto all = ParseReportFormats("md,json,junit");
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), 3u);
  EXPECT_EQ(ParseReportFormats("junit")->front(), ReportFormat::kJunit);
  for (const char* bad : {"", "md,", "pdf", "md,md", "json, md"}) {
    auto parsed = ParseReportFormats(bad);
    ASSERT_FALSE(parsed.has_value()) << bad;
    EXPECT_EQ(parsed.error().code, base::ErrorCode::kInvalidParameter);
  }
}

TEST(SmokeReportTest, ReportsAreWrittenWholeIntoTheDirectory) {
  const std::filesystem::path directory = std::filesystem::temp_directory_path() /
                                          ("fhirbridge-report-" + std::to_string(::getpid())) /
                                          "nested";
  auto written = WriteReports(HostileReport(), directory.string(),
                              {ReportFormat::kJson, ReportFormat::kJunit});
  ASSERT_TRUE(written.has_value()) << written.error().ToString();
  ASSERT_EQ(written->size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(directory / "smoke-report.md"));
  std::ifstream file(directory / "smoke-report.xml");
  std::stringstream content;
  content << file.rdbuf();
  EXPECT_TRUE(ParsesAsXml(content.str()));
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    EXPECT_NE(entry.path().extension(), ".partial");
  }
  std::filesystem::remove_all(directory.parent_path());

  auto refused = WriteReports(HostileReport(), "/proc/fhirbridge-cannot-be-here", {});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, base::ErrorCode::kIoFailure);
}

}  // namespace
}  // namespace fhirbridge::verify
