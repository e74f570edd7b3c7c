#include "verify/smoke_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fhirbridge::verify {
namespace {

using base::ErrorCode;

std::string FormatMs(double ms) {
  char text[32];
  std::snprintf(text, sizeof text, ms < 10 ? "%.1f" : "%.0f", ms);
  return text;
}

std::string FormatSeconds(double ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", ms / 1000.0);
  return text;
}

std::string WarningText(const ResponseWarning& warning) {
  std::string text = warning.severity;
  if (!warning.code.empty()) text += " " + warning.code;
  if (!warning.detail_code.empty()) text += " (" + warning.detail_code + ")";
  return text;
}

// Markdown table cells: a '|' would end the cell and a line break the row.
std::string Cell(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string Code(std::string_view text) { return text.empty() ? "-" : "`" + Cell(text) + "`"; }

void RenderSiteMarkdown(const SiteReport& site, std::ostringstream& out) {
  const LatencySummary latency = site.Latency();
  out << "## " << site.site << ": " << (site.Passed() ? "PASSED" : "FAILED") << "\n\n";
  out << "FHIR base `" << site.fhir_base << "`, started " << site.started_at << ", "
      << FormatSeconds(site.duration_ms) << " s. " << site.Count(StepOutcome::kPassed)
      << " passed, " << site.Count(StepOutcome::kFailed) << " failed, "
      << site.Count(StepOutcome::kSkipped) << " skipped. Latency p50 " << FormatMs(latency.p50_ms)
      << " ms, p95 " << FormatMs(latency.p95_ms) << " ms, p99 " << FormatMs(latency.p99_ms)
      << " ms over " << latency.count << " requests.\n\n";

  out << "| step | patient | result | HTTP | ms | found | warnings | request id |\n";
  out << "|---|---|---|---|---|---|---|---|\n";
  for (const auto& step : site.steps) {
    out << "| " << Cell(step.name) << " | "
        << (step.patient_label.empty() ? "-" : step.patient_label) << " | "
        << StepOutcomeName(step.outcome) << " | "
        << (step.http_status == 0 ? "-" : std::to_string(step.http_status)) << " | "
        << (step.timed ? FormatMs(step.latency_ms) : "-") << " | "
        << (step.matches ? std::to_string(*step.matches) : "-") << " | " << step.warnings.size()
        << " | " << Code(step.request_id) << " |\n";
  }
  out << "\n";

  if (!site.Passed()) {
    out << "### Failures\n\n";
    for (const auto& step : site.steps) {
      if (step.outcome != StepOutcome::kFailed) continue;
      out << "- **" << step.DisplayName() << "** (`" << step.request << "`, request id "
          << Code(step.request_id) << "):\n";
      for (const auto& failure : step.failures) out << "  - " << failure << "\n";
    }
    out << "\n";
  }

  if (site.Count(StepOutcome::kSkipped) > 0) {
    // One line per step and reason, however many patients it was skipped for.
    std::vector<std::pair<std::string, std::vector<std::string>>> skipped;
    for (const auto& step : site.steps) {
      if (step.outcome != StepOutcome::kSkipped) continue;
      const std::string key = "**" + step.name + "**: skipped: " + step.skip_reason;
      auto found = std::find_if(skipped.begin(), skipped.end(),
                                [&](const auto& item) { return item.first == key; });
      if (found == skipped.end()) found = skipped.insert(skipped.end(), {key, {}});
      if (!step.patient_label.empty()) found->second.push_back(step.patient_label);
    }
    out << "### Skipped\n\n";
    for (const auto& [key, labels] : skipped) {
      out << "- " << key;
      if (!labels.empty()) {
        out << " (";
        for (std::size_t i = 0; i < labels.size(); ++i) out << (i == 0 ? "" : ", ") << labels[i];
        out << ")";
      }
      out << "\n";
    }
    out << "\n";
  }

  bool any_warning = false;
  for (const auto& step : site.steps) any_warning = any_warning || !step.warnings.empty();
  if (any_warning) {
    out << "### Warnings from the site\n\n";
    for (const auto& step : site.steps) {
      if (step.warnings.empty()) continue;
      out << "- **" << step.DisplayName() << "** (request id " << Code(step.request_id) << "): ";
      for (std::size_t i = 0; i < step.warnings.size(); ++i) {
        out << (i == 0 ? "" : "; ") << WarningText(step.warnings[i]);
      }
      out << "\n";
    }
    out << "\n";
  }

  bool any_note = false;
  for (const auto& step : site.steps) any_note = any_note || !step.notes.empty();
  if (any_note) {
    out << "### Notes\n\n";
    for (const auto& step : site.steps) {
      if (step.notes.empty()) continue;
      out << "- **" << step.DisplayName() << "**: ";
      for (std::size_t i = 0; i < step.notes.size(); ++i)
        out << (i == 0 ? "" : "; ") << step.notes[i];
      out << "\n";
    }
    out << "\n";
  }
}

// Appends the UTF-8 sequence starting at text[i] if it is well-formed, else U+FFFD; returns the
// number of bytes consumed.
std::size_t AppendUtf8(std::string_view text, std::size_t i, std::string& out) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  char32_t code_point = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code_point = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code_point = lead & 0x0Fu;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code_point = lead & 0x07u;
  } else {
    out += kReplacement;
    return 1;
  }
  if (i + length > text.size()) {
    out += kReplacement;
    return 1;
  }
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0u) != 0x80u) {
      out += kReplacement;
      return 1;
    }
    code_point = (code_point << 6) | (byte(i + k) & 0x3Fu);
  }
  const bool overlong =
      (length == 3 && code_point < 0x800) || (length == 4 && code_point < 0x10000);
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  const bool not_a_character = code_point == 0xFFFE || code_point == 0xFFFF;
  if (overlong || surrogate || not_a_character || code_point > 0x10FFFF) {
    out += kReplacement;
    return 1;
  }
  out.append(text.substr(i, length));
  return length;
}

void Attribute(std::ostringstream& out, std::string_view name, std::string_view value) {
  out << ' ' << name << "=\"" << EscapeXml(value) << '"';
}

base::Status WriteAtomically(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::path temporary = path;
  temporary += ".partial";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file << content;
    file.flush();
    if (!file) {
      return base::Fail(ErrorCode::kIoFailure, "cannot write the report", temporary.string());
    }
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::filesystem::remove(temporary, error);
    return base::Fail(ErrorCode::kIoFailure, "cannot move the report into place", path.string());
  }
  return {};
}

}  // namespace

std::string_view StepOutcomeName(StepOutcome outcome) {
  switch (outcome) {
    case StepOutcome::kPassed:
      return "passed";
    case StepOutcome::kFailed:
      return "failed";
    case StepOutcome::kSkipped:
      return "skipped";
  }
  return "failed";
}

std::string StepResult::DisplayName() const {
  return patient_label.empty() ? name : name + " [" + patient_label + "]";
}

LatencySummary SummariseLatency(std::vector<double> samples) {
  LatencySummary summary;
  if (samples.empty()) return summary;
  std::sort(samples.begin(), samples.end());
  // Nearest rank: the smallest sample with at least q of the samples at or below it.
  const auto rank = [&](double q) {
    const auto index = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
    return samples[std::clamp<std::size_t>(index, 1, samples.size()) - 1];
  };
  summary.count = samples.size();
  summary.p50_ms = rank(0.50);
  summary.p95_ms = rank(0.95);
  summary.p99_ms = rank(0.99);
  summary.max_ms = samples.back();
  return summary;
}

std::size_t SiteReport::Count(StepOutcome outcome) const {
  return static_cast<std::size_t>(std::count_if(
      steps.begin(), steps.end(), [&](const StepResult& step) { return step.outcome == outcome; }));
}

LatencySummary SiteReport::Latency() const {
  std::vector<double> samples;
  for (const auto& step : steps) {
    if (step.timed && !step.request_id.empty()) samples.push_back(step.latency_ms);
  }
  return SummariseLatency(std::move(samples));
}

bool SmokeReport::Passed() const {
  return std::all_of(sites.begin(), sites.end(),
                     [](const SiteReport& site) { return site.Passed(); });
}

std::string RenderMarkdown(const SmokeReport& report) {
  std::ostringstream out;
  std::size_t failed_sites = 0;
  for (const auto& site : report.sites) failed_sites += site.Passed() ? 0 : 1;
  out << "# fhirbridge smoke report\n\n";
  out << "Journey `" << report.journey << "`, generated " << report.generated_at << ": "
      << report.sites.size() << (report.sites.size() == 1 ? " site, " : " sites, ") << failed_sites
      << " failed. Every request was marked `X-Synthetic-Transaction: true` and "
      << "carried an `X-Request-Id`; patients are named by label only.\n\n";
  for (const auto& site : report.sites) RenderSiteMarkdown(site, out);
  return out.str();
}

fhir::Json RenderJson(const SmokeReport& report) {
  fhir::Json document = fhir::Json::object();
  document["journey"] = report.journey;
  document["generated_at"] = report.generated_at;
  document["passed"] = report.Passed();
  document["sites"] = fhir::Json::array();
  for (const auto& site : report.sites) {
    const LatencySummary latency = site.Latency();
    fhir::Json entry = fhir::Json::object();
    entry["site"] = site.site;
    entry["fhir_base"] = site.fhir_base;
    entry["started_at"] = site.started_at;
    entry["duration_ms"] = site.duration_ms;
    entry["passed"] = site.Passed();
    entry["counts"] = {{"passed", site.Count(StepOutcome::kPassed)},
                       {"failed", site.Count(StepOutcome::kFailed)},
                       {"skipped", site.Count(StepOutcome::kSkipped)}};
    entry["latency_ms"] = {{"count", latency.count},
                           {"p50", latency.p50_ms},
                           {"p95", latency.p95_ms},
                           {"p99", latency.p99_ms},
                           {"max", latency.max_ms}};
    entry["steps"] = fhir::Json::array();
    for (const auto& step : site.steps) {
      fhir::Json item = fhir::Json::object();
      item["name"] = step.name;
      if (!step.patient_label.empty()) item["patient"] = step.patient_label;
      item["request"] = step.request;
      item["outcome"] = StepOutcomeName(step.outcome);
      if (step.outcome == StepOutcome::kSkipped) item["skip_reason"] = step.skip_reason;
      item["failures"] = step.failures;
      item["notes"] = step.notes;
      item["warnings"] = fhir::Json::array();
      for (const auto& warning : step.warnings) {
        item["warnings"].push_back({{"severity", warning.severity},
                                    {"code", warning.code},
                                    {"detail_code", warning.detail_code}});
      }
      item["request_id"] = step.request_id.empty() ? fhir::Json() : fhir::Json(step.request_id);
      item["http_status"] = step.http_status == 0 ? fhir::Json() : fhir::Json(step.http_status);
      item["matches"] = step.matches ? fhir::Json(*step.matches) : fhir::Json();
      item["latency_ms"] = step.timed ? fhir::Json(step.latency_ms) : fhir::Json();
      entry["steps"].push_back(std::move(item));
    }
    document["sites"].push_back(std::move(entry));
  }
  return document;
}

std::string EscapeXml(std::string_view text, bool attribute) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      i += AppendUtf8(text, i, out);
      continue;
    }
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\t':
        out += attribute ? "&#9;" : "\t";
        break;
      case '\n':
        out += attribute ? "&#10;" : "\n";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        if (c < 0x20) {
          out += "\xEF\xBF\xBD";
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  return out;
}

std::string RenderJunitXml(const SmokeReport& report) {
  std::size_t tests = 0;
  std::size_t failures = 0;
  std::size_t skipped = 0;
  double total_ms = 0;
  for (const auto& site : report.sites) {
    tests += site.steps.size();
    failures += site.Count(StepOutcome::kFailed);
    skipped += site.Count(StepOutcome::kSkipped);
    total_ms += site.duration_ms;
  }

  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites";
  Attribute(out, "name", "fhirbridge smoke " + report.journey);
  Attribute(out, "tests", std::to_string(tests));
  Attribute(out, "failures", std::to_string(failures));
  Attribute(out, "errors", "0");
  Attribute(out, "skipped", std::to_string(skipped));
  Attribute(out, "time", FormatSeconds(total_ms));
  out << ">\n";
  for (const auto& site : report.sites) {
    out << "  <testsuite";
    Attribute(out, "name", site.site);
    Attribute(out, "tests", std::to_string(site.steps.size()));
    Attribute(out, "failures", std::to_string(site.Count(StepOutcome::kFailed)));
    Attribute(out, "errors", "0");
    Attribute(out, "skipped", std::to_string(site.Count(StepOutcome::kSkipped)));
    Attribute(out, "time", FormatSeconds(site.duration_ms));
    Attribute(out, "timestamp", site.started_at);
    out << ">\n    <properties>\n      <property";
    Attribute(out, "name", "fhir_base");
    Attribute(out, "value", site.fhir_base);
    out << "/>\n    </properties>\n";
    for (const auto& step : site.steps) {
      out << "    <testcase";
      Attribute(out, "classname", "fhirbridge.smoke." + site.site);
      Attribute(out, "name", step.DisplayName());
      Attribute(out, "time", FormatSeconds(step.latency_ms));
      out << ">\n";
      if (step.outcome == StepOutcome::kSkipped) {
        out << "      <skipped";
        Attribute(out, "message", step.skip_reason);
        out << "/>\n";
      } else if (step.outcome == StepOutcome::kFailed) {
        std::string detail = step.request +
                             "\nrequest id: " + (step.request_id.empty() ? "-" : step.request_id) +
                             "\n";
        for (const auto& failure : step.failures) detail += "- " + failure + "\n";
        out << "      <failure";
        Attribute(out, "message", step.failures.empty() ? "failed" : step.failures.front());
        Attribute(out, "type", "smoke-check");
        out << ">" << EscapeXml(detail, false) << "</failure>\n";
      }
      std::string system_out;
      if (!step.request_id.empty()) system_out += "request id: " + step.request_id + "\n";
      for (const auto& warning : step.warnings)
        system_out += "warning: " + WarningText(warning) + "\n";
      for (const auto& note : step.notes) system_out += "note: " + note + "\n";
      if (!system_out.empty())
        out << "      <system-out>" << EscapeXml(system_out, false) << "</system-out>\n";
      out << "    </testcase>\n";
    }
    out << "  </testsuite>\n";
  }
  out << "</testsuites>\n";
  return out.str();
}

base::Result<std::vector<ReportFormat>> ParseReportFormats(std::string_view text) {
  std::vector<ReportFormat> formats;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view name = text.substr(start, end - start);
    ReportFormat format;
    if (name == "md" || name == "markdown") {
      format = ReportFormat::kMarkdown;
    } else if (name == "json") {
      format = ReportFormat::kJson;
    } else if (name == "junit" || name == "xml") {
      format = ReportFormat::kJunit;
    } else {
      return base::Fail(ErrorCode::kInvalidParameter,
                        "report formats are a comma-separated list of md, json and junit",
                        "--format");
    }
    if (std::find(formats.begin(), formats.end(), format) != formats.end()) {
      return base::Fail(ErrorCode::kInvalidParameter, "a report format is named twice", "--format");
    }
    formats.push_back(format);
    start = end + 1;
  }
  return formats;
}

std::string_view ReportFileName(ReportFormat format) {
  switch (format) {
    case ReportFormat::kMarkdown:
      return "smoke-report.md";
    case ReportFormat::kJson:
      return "smoke-report.json";
    case ReportFormat::kJunit:
      return "smoke-report.xml";
  }
  return "smoke-report";
}

base::Result<std::vector<std::string>> WriteReports(const SmokeReport& report,
                                                    const std::string& directory,
                                                    const std::vector<ReportFormat>& formats) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return base::Fail(ErrorCode::kIoFailure, "cannot create the report directory", directory);
  }
  std::vector<std::string> written;
  for (const ReportFormat format : formats) {
    std::string content;
    switch (format) {
      case ReportFormat::kMarkdown:
        content = RenderMarkdown(report);
        break;
      case ReportFormat::kJson:
        content =
            RenderJson(report).dump(2, ' ', false, fhir::Json::error_handler_t::replace) + "\n";
        break;
      case ReportFormat::kJunit:
        content = RenderJunitXml(report);
        break;
    }
    const std::filesystem::path path = std::filesystem::path(directory) / ReportFileName(format);
    if (auto status = WriteAtomically(path, content); !status) {
      return std::unexpected(status.error());
    }
    written.push_back(path.string());
  }
  return written;
}

}  // namespace fhirbridge::verify
