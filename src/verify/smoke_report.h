#pragma once

// The outcome of a smoke run and its three renderings: Markdown for a site's integration team,
// JSON for scripts, JUnit XML for CI (one testsuite per site, one testcase per step).
//
// A report never holds patient data: steps name known patients by label, requests by their path
// template, failures by element names, counts and statuses, warnings by their codes.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "fhir/json_value.h"
#include "verify/requester.h"

namespace fhirbridge::verify {

enum class StepOutcome { kPassed, kFailed, kSkipped };
std::string_view StepOutcomeName(StepOutcome outcome);  // "passed", "failed", "skipped"

struct StepResult {
  std::string name;           // the journey step's name
  std::string patient_label;  // the known patient's label; empty for per-site steps
  std::string request;        // "GET <path template>", or "token" for the token step
  StepOutcome outcome = StepOutcome::kPassed;
  std::string skip_reason;            // why a skipped step was not run
  std::vector<std::string> failures;  // every failed check, PHI-free
  std::vector<std::string> notes;     // facts worth reading, e.g. medication forms
  std::vector<ResponseWarning> warnings;
  std::string request_id;              // empty when no request was sent
  int http_status = 0;                 // 0 when no response arrived or no request was sent
  std::optional<std::size_t> matches;  // resources a search found on its first page
  double latency_ms = 0;               // 0 for skipped steps
  bool timed = false;  // the step sent a request (or asked for a token) and was timed

  // "patient-search [baseline-1]" or "discovery-metadata".
  std::string DisplayName() const;
};

struct LatencySummary {
  std::size_t count = 0;
  double p50_ms = 0;
  double p95_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};

// Nearest-rank percentiles of `samples` (milliseconds); all zero when empty.
LatencySummary SummariseLatency(std::vector<double> samples);

struct SiteReport {
  std::string site;
  std::string fhir_base;
  std::string started_at;  // FHIR instant
  double duration_ms = 0;
  std::vector<StepResult> steps;

  std::size_t Count(StepOutcome outcome) const;
  bool Passed() const { return Count(StepOutcome::kFailed) == 0; }
  LatencySummary Latency() const;  // over the steps that sent a request and got an answer
};

struct SmokeReport {
  std::string journey;
  std::string generated_at;  // FHIR instant
  std::vector<SiteReport> sites;

  bool Passed() const;
};

std::string RenderMarkdown(const SmokeReport& report);
fhir::Json RenderJson(const SmokeReport& report);
std::string RenderJunitXml(const SmokeReport& report);

// Escapes `text` for XML character data and attribute values; characters XML 1.0 does not
// allow (control characters other than tab and line ends) and bytes that are not valid UTF-8
// become U+FFFD, so the document always parses.
// Line breaks and tabs are written as character references in attribute values (where a parser
// would turn them into spaces) and kept as they are in character data.
std::string EscapeXml(std::string_view text, bool attribute = true);

enum class ReportFormat { kMarkdown, kJson, kJunit };

// Parses "md,json,junit" (any non-empty subset, no repeats); kInvalidParameter otherwise.
base::Result<std::vector<ReportFormat>> ParseReportFormats(std::string_view text);

// The file name each format is written to: smoke-report.md, smoke-report.json, smoke-report.xml.
std::string_view ReportFileName(ReportFormat format);

// Writes the report in each format into `directory` (created if missing). Each file is written
// to a temporary name and renamed into place, so a reader never sees a half-written report.
// Returns the paths written; kIoFailure naming the path on failure.
base::Result<std::vector<std::string>> WriteReports(const SmokeReport& report,
                                                    const std::string& directory,
                                                    const std::vector<ReportFormat>& formats);

}  // namespace fhirbridge::verify
