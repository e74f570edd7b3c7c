#include "synth/seeder.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_set>

#include "fhir/json_value.h"
#include "http/client.h"

namespace fhirbridge::synth {
namespace {

using base::ErrorCode;
using fhir::Json;

// Diagnostics quoted from a server are cut to this length.
constexpr std::size_t kMaxDiagnosticsLength = 600;

// "code: diagnostics; code: diagnostics" from an OperationOutcome body, or a note that the body
// was not one.
std::string OutcomeText(std::string_view body) {
  const Json outcome = Json::parse(body, nullptr, false);
  std::string text;
  if (outcome.is_object() && outcome.value("resourceType", "") == "OperationOutcome" &&
      outcome.contains("issue") && outcome["issue"].is_array()) {
    for (const Json& issue : outcome["issue"]) {
      if (!issue.is_object()) continue;
      if (!text.empty()) text += "; ";
      text += issue.value("code", "unknown");
      const auto diagnostics = issue.find("diagnostics");
      if (diagnostics != issue.end() && diagnostics->is_string()) {
        text += ": " + diagnostics->get<std::string>();
      }
    }
  }
  if (text.empty()) text = "the answer was not an OperationOutcome";
  if (text.size() > kMaxDiagnosticsLength) {
    text.resize(kMaxDiagnosticsLength);
    text += "...";
  }
  return text;
}

// Retry-After as a delay: delay-seconds, or an HTTP date (RFC 7231 IMF-fixdate).
std::optional<std::chrono::milliseconds> RetryAfter(const http::ClientResponse& response) {
  const std::string* header = response.FindHeader("retry-after");
  if (header == nullptr || header->empty()) return std::nullopt;
  if (std::all_of(header->begin(), header->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (header->size() > 6) return std::chrono::hours(24);
    return std::chrono::seconds(std::stol(*header));
  }
  std::tm when{};
  const char* end = strptime(header->c_str(), "%a, %d %b %Y %H:%M:%S GMT", &when);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const auto at = std::chrono::system_clock::from_time_t(timegm(&when));
  const auto delay =
      std::chrono::duration_cast<std::chrono::milliseconds>(at - std::chrono::system_clock::now());
  return std::max(delay, std::chrono::milliseconds(0));
}

// Sends requests with the bearer token and the retry policy of the header comment.
class Sender {
 public:
  Sender(const SeedOptions& options, auth::TokenSource* tokens, SeedReport& report)
      : options_(options), tokens_(tokens), report_(report) {}

  base::Result<http::ClientResponse> Send(http::ClientRequest request) {
    request.timeout = options_.request_timeout;
    const std::size_t fixed_headers = request.headers.size();
    std::chrono::milliseconds backoff = options_.first_backoff;
    bool renewed_token = false;
    std::string last_problem;
    for (int attempt = 1; attempt <= std::max(options_.max_attempts, 1); ++attempt) {
      if (attempt > 1) ++report_.retries;
      request.headers.resize(fixed_headers);
      std::string token;
      if (tokens_ != nullptr) {
        auto access = tokens_->AccessToken();
        if (!access) return base::Fail(access.error());
        token = std::move(*access);
        request.headers.push_back({"Authorization", "Bearer " + token});
      }

      ++report_.requests;
      report_.bytes_sent += request.body.size();
      auto response = client_.Send(request);
      std::optional<std::chrono::milliseconds> wait;
      if (!response) {
        // A request whose answer was lost may have been applied; resending it is safe because
        // every request the seeder sends is idempotent.
        last_problem = response.error().ToString();
      } else if (response->status == 401 && tokens_ != nullptr && !renewed_token) {
        tokens_->Invalidate(token);
        renewed_token = true;
        wait = std::chrono::milliseconds(0);
        last_problem = "HTTP 401";
      } else if (response->status == 429 || response->status == 503) {
        wait = RetryAfter(*response);
        last_problem =
            "HTTP " + std::to_string(response->status) + " (" + OutcomeText(response->body) + ")";
      } else {
        return response;
      }

      if (attempt == options_.max_attempts) break;
      std::chrono::milliseconds delay = wait.value_or(backoff);
      if (!wait) backoff *= 2;
      delay = std::min(delay, options_.max_retry_wait);
      std::this_thread::sleep_for(delay);
    }
    return base::Fail(ErrorCode::kRetriesExhausted,
                      "the server still refused after " + std::to_string(options_.max_attempts) +
                          " attempts; the last answer: " + last_problem);
  }

 private:
  const SeedOptions& options_;
  auth::TokenSource* tokens_;
  SeedReport& report_;
  http::Client client_;
};

// The elements of the array that starts at `text[open]` ('['), as raw JSON texts. Returns false
// when the array does not end.
bool SplitArray(std::string_view text, std::size_t open, std::vector<std::string_view>& elements) {
  int depth = 0;
  bool in_string = false;
  std::size_t start = std::string_view::npos;
  for (std::size_t i = open; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        if (depth == 1 && start == std::string_view::npos) start = i;
        break;
      case '[':
      case '{':
        if (depth == 1 && start == std::string_view::npos) start = i;
        ++depth;
        break;
      case ']':
      case '}':
        --depth;
        if (depth == 0) {
          if (start != std::string_view::npos) elements.push_back(text.substr(start, i - start));
          return true;
        }
        break;
      case ',':
        if (depth == 1 && start != std::string_view::npos) {
          elements.push_back(text.substr(start, i - start));
          start = std::string_view::npos;
        }
        break;
      case ' ':
      case '\n':
      case '\r':
      case '\t':
        break;
      default:
        if (depth == 1 && start == std::string_view::npos) start = i;
        break;
    }
  }
  return false;
}

// The transaction path: collects the generator's Bundles, merges them and posts them.
class TransactionSeeder final : public SynthOutput {
 public:
  TransactionSeeder(const SeedOptions& options, std::string_view fhir_base,
                    auth::TokenSource* tokens, SeedReport& report)
      : options_(options),
        url_(std::string(fhir_base)),
        report_(report),
        sender_(options, tokens, report) {
    while (!url_.empty() && url_.back() == '/') url_.pop_back();
  }

  base::Status Append(std::string_view name, std::string_view lines) override {
    if (name != "Bundle") return {};  // the manifest stays with the generator
    while (!lines.empty()) {
      const std::size_t end = lines.find('\n');
      if (auto added = AddBundle(lines.substr(0, end)); !added) return added;
      lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 1);
    }
    return {};
  }

  base::Status Finish() { return Flush(); }

 private:
  struct Entry {
    std::string_view text;
    std::string type;
    std::size_t hash = 0;
  };
  struct Unit {
    std::string text;
    std::vector<Entry> entries;
  };

  base::Status AddBundle(std::string_view line) {
    if (line.empty()) return {};
    auto unit = std::make_unique<Unit>();
    unit->text.assign(line);
    const std::string_view text = unit->text;
    std::vector<std::string_view> elements;
    const std::size_t entry_key = text.find("\"entry\":[");
    if (entry_key == std::string_view::npos ||
        !SplitArray(text, entry_key + std::string_view("\"entry\":").size(), elements)) {
      return base::Fail(ErrorCode::kInternal, "a generated Bundle has no entry array");
    }
    const bool graph = !seen_graph_;
    seen_graph_ = true;
    for (const std::string_view element : elements) {
      constexpr std::string_view kTypeKey = "\"resourceType\":\"";
      const std::size_t type_at = element.find(kTypeKey);
      const std::size_t type_end = type_at == std::string_view::npos
                                       ? type_at
                                       : element.find('"', type_at + kTypeKey.size());
      if (type_end == std::string_view::npos) {
        return base::Fail(ErrorCode::kInternal, "a generated Bundle entry has no resourceType");
      }
      Entry entry{element,
                  std::string(element.substr(type_at + kTypeKey.size(),
                                             type_end - type_at - kTypeKey.size())),
                  std::hash<std::string_view>{}(element)};
      // The first Bundle is the organisation graph; every later Bundle repeats the shared
      // resources it references, byte for byte.
      if (graph) shared_.insert(entry.hash);
      unit->entries.push_back(std::move(entry));
    }
    pending_entries_ += unit->entries.size();
    pending_.push_back(std::move(unit));
    if (pending_entries_ >= std::max<std::size_t>(options_.entries_per_request, 1)) return Flush();
    return {};
  }

  base::Status Flush() {
    if (pending_.empty()) return {};
    std::vector<std::unique_ptr<Unit>> units = std::move(pending_);
    pending_.clear();
    pending_entries_ = 0;

    std::vector<const Unit*> all;
    for (const auto& unit : units) all.push_back(unit.get());
    auto sent = Post(all);
    if (!sent) return base::Fail(sent.error());
    if (*sent || units.size() == 1) return {};

    // The server refused the merged transaction: one patient at a time finds the culprit.
    for (const auto& unit : units) {
      auto alone = Post({unit.get()});
      if (!alone) return base::Fail(alone.error());
    }
    return {};
  }

  // Posts `units` as one transaction. Returns true when the server applied it; false when it
  // refused the data (counted as failed if `units` is a single unit); an error when seeding
  // cannot go on.
  base::Result<bool> Post(const std::vector<const Unit*>& units) {
    std::vector<const Entry*> entries;
    std::unordered_set<std::size_t> in_request;
    std::string body = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
    for (const Unit* unit : units) {
      for (const Entry& entry : unit->entries) {
        if (!in_request.insert(entry.hash).second) continue;
        if (!entries.empty()) body.push_back(',');
        body.append(entry.text);
        entries.push_back(&entry);
      }
    }
    body.append("]}");

    http::ClientRequest request;
    request.method = "POST";
    request.url = url_;
    request.headers = {{"Content-Type", "application/fhir+json"},
                       {"Accept", "application/fhir+json"},
                       {"Prefer", "return=minimal"}};
    request.body = std::move(body);
    auto response = sender_.Send(std::move(request));
    if (!response) return base::Fail(response.error());

    if (response->status == 200) {
      const Json answer = Json::parse(response->body, nullptr, false);
      if (!answer.is_object() || !answer.contains("entry") || !answer["entry"].is_array() ||
          answer["entry"].size() != entries.size()) {
        return base::Fail(ErrorCode::kMalformedResponse,
                          "the server answered a transaction with 200 but not with a "
                          "transaction-response Bundle of one entry per request entry");
      }
      for (std::size_t i = 0; i < entries.size(); ++i) {
        const Json& result = answer["entry"][i];
        std::string status;
        if (result.is_object() && result.contains("response") && result["response"].is_object()) {
          status = result["response"].value("status", "");
        }
        if (status.starts_with("201")) {
          Count(*entries[i], &SeedTypeCounts::created);
        } else if (status.starts_with("200")) {
          Count(*entries[i], &SeedTypeCounts::already_present);
        } else {
          Count(*entries[i], &SeedTypeCounts::failed);
        }
      }
      return true;
    }

    // Refusals that concern the data (a record the server rejects, a conflict) fail the
    // patients concerned; any other refusal (no permission, no transaction support, an unknown
    // URL) would fail every request alike, so seeding stops with the server's words.
    const int status = response->status;
    const bool about_the_data =
        status == 400 || status == 409 || status == 412 || status == 422 || status == 500;
    if (!about_the_data) {
      return base::Fail(ErrorCode::kRemoteRejected,
                        "the server refused the transaction with HTTP " + std::to_string(status) +
                            ": " + OutcomeText(response->body));
    }
    if (units.size() > 1) return false;
    ++report_.failed_requests;
    if (report_.failures.size() < kMaxReportedFailures) {
      report_.failures.push_back({status, entries.size(), OutcomeText(response->body)});
    }
    for (const Entry* entry : entries) Count(*entry, &SeedTypeCounts::failed);
    return false;
  }

  // Counts a resource once per run: a shared resource is answered in every request that
  // carries it, but counted the first time only.
  void Count(const Entry& entry, std::uint64_t SeedTypeCounts::*field) {
    if (shared_.contains(entry.hash) && !counted_shared_.insert(entry.hash).second) return;
    ++(report_.by_type[entry.type].*field);
  }

  const SeedOptions& options_;
  std::string url_;
  SeedReport& report_;
  Sender sender_;
  std::vector<std::unique_ptr<Unit>> pending_;
  std::size_t pending_entries_ = 0;
  bool seen_graph_ = false;
  std::unordered_set<std::size_t> shared_;
  std::unordered_set<std::size_t> counted_shared_;
};

// The bulk path: collects NDJSON lines and posts them to the sandbox's bulk-load route.
class BulkSeeder final : public SynthOutput {
 public:
  BulkSeeder(const SeedOptions& options, std::string url, SeedReport& report)
      : options_(options),
        url_(std::move(url)),
        report_(report),
        sender_(options, nullptr, report) {}

  base::Status Append(std::string_view name, std::string_view lines) override {
    if (name == "manifest") return {};
    if (!buffer_.empty() && buffer_.size() + lines.size() > options_.bulk_request_bytes) {
      if (auto flushed = Flush(); !flushed) return flushed;
    }
    buffer_.append(lines);
    return {};
  }

  base::Status Flush() {
    if (buffer_.empty()) return {};
    http::ClientRequest request;
    request.method = "POST";
    request.url = url_;
    request.headers = {{"Content-Type", "application/fhir+ndjson"}};
    request.body = std::move(buffer_);
    buffer_.clear();
    auto response = sender_.Send(std::move(request));
    if (!response) return base::Fail(response.error());
    if (response->status != 200) {
      ++report_.failed_requests;
      return base::Fail(ErrorCode::kRemoteRejected, "the sandbox refused the bulk load with HTTP " +
                                                        std::to_string(response->status) + ": " +
                                                        OutcomeText(response->body));
    }
    const Json answer = Json::parse(response->body, nullptr, false);
    if (!answer.is_object() || !answer.contains("created_by_type") ||
        !answer.contains("already_present_by_type")) {
      return base::Fail(ErrorCode::kMalformedResponse,
                        "the sandbox's bulk-load answer has no counts per type");
    }
    for (const auto& [field, key] :
         {std::pair{&SeedTypeCounts::created, "created_by_type"},
          std::pair{&SeedTypeCounts::already_present, "already_present_by_type"}}) {
      for (const auto& [type, count] : answer[key].items()) {
        if (count.is_number_unsigned()) report_.by_type[type].*field += count.get<std::uint64_t>();
      }
    }
    return {};
  }

 private:
  const SeedOptions& options_;
  std::string url_;
  SeedReport& report_;
  Sender sender_;
  std::string buffer_;
};

std::uint64_t Sum(const SeedReport& report, std::uint64_t SeedTypeCounts::*field) {
  std::uint64_t total = 0;
  for (const auto& [type, counts] : report.by_type) total += counts.*field;
  return total;
}

}  // namespace

std::uint64_t SeedReport::Created() const { return Sum(*this, &SeedTypeCounts::created); }
std::uint64_t SeedReport::AlreadyPresent() const {
  return Sum(*this, &SeedTypeCounts::already_present);
}
std::uint64_t SeedReport::Failed() const { return Sum(*this, &SeedTypeCounts::failed); }

base::Result<SeedReport> SeedFhirServer(const SeedOptions& options, std::string_view fhir_base,
                                        auth::TokenSource* tokens) {
  SeedReport report;
  SynthOptions synth = options.synth;
  synth.format = OutputFormat::kBundles;
  TransactionSeeder seeder(options, fhir_base, tokens, report);
  auto generated = Generate(synth, seeder);
  if (!generated) return base::Fail(generated.error());
  if (auto finished = seeder.Finish(); !finished) return base::Fail(finished.error());
  return report;
}

base::Result<SeedReport> BulkLoadSandbox(const SeedOptions& options, std::string_view origin,
                                         std::string_view tenant) {
  SeedReport report;
  SynthOptions synth = options.synth;
  synth.format = OutputFormat::kNdjson;
  std::string url(origin);
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/admin/tenants/" + std::string(tenant) + "/bulk-load";
  BulkSeeder seeder(options, std::move(url), report);
  auto generated = Generate(synth, seeder);
  if (!generated) return base::Fail(generated.error());
  if (auto finished = seeder.Flush(); !finished) return base::Fail(finished.error());
  return report;
}

std::string FormatSeedReport(const SeedReport& report, double seconds) {
  std::string text;
  char line[200];
  std::snprintf(line, sizeof line, "%-24s %10s %16s %8s\n", "type", "created", "already present",
                "failed");
  text += line;
  for (const auto& [type, counts] : report.by_type) {
    std::snprintf(line, sizeof line, "%-24s %10llu %16llu %8llu\n", type.c_str(),
                  static_cast<unsigned long long>(counts.created),
                  static_cast<unsigned long long>(counts.already_present),
                  static_cast<unsigned long long>(counts.failed));
    text += line;
  }
  const std::uint64_t resources = report.Created() + report.AlreadyPresent() + report.Failed();
  const double safe_seconds = seconds > 0 ? seconds : 1e-9;
  std::snprintf(line, sizeof line,
                "seed: %llu created, %llu already present, %llu failed; %llu requests (%llu "
                "retries) in %.2f s (%.0f resources/s)\n",
                static_cast<unsigned long long>(report.Created()),
                static_cast<unsigned long long>(report.AlreadyPresent()),
                static_cast<unsigned long long>(report.Failed()),
                static_cast<unsigned long long>(report.requests),
                static_cast<unsigned long long>(report.retries), seconds,
                static_cast<double>(resources) / safe_seconds);
  text += line;
  if (report.Created() == 0 && report.Failed() == 0) {
    text += "Nothing was created: the server already holds every resource.\n";
  }
  for (const SeedFailure& failure : report.failures) {
    text += "refused (HTTP " + std::to_string(failure.status) + ", " +
            std::to_string(failure.resources) + " resources): " + failure.diagnostics + "\n";
  }
  if (report.failed_requests > report.failures.size()) {
    text += std::to_string(report.failed_requests - report.failures.size()) +
            " more refused requests are not listed.\n";
  }
  return text;
}

std::string SeedReportJson(const SeedReport& report, double seconds) {
  Json by_type = Json::object();
  for (const auto& [type, counts] : report.by_type) {
    by_type[type] = {{"created", counts.created},
                     {"already_present", counts.already_present},
                     {"failed", counts.failed}};
  }
  Json failures = Json::array();
  for (const SeedFailure& failure : report.failures) {
    failures.push_back({{"status", failure.status},
                        {"resources", failure.resources},
                        {"diagnostics", failure.diagnostics}});
  }
  const Json summary = {
      {"created", report.Created()},     {"already_present", report.AlreadyPresent()},
      {"failed", report.Failed()},       {"by_type", std::move(by_type)},
      {"failures", std::move(failures)}, {"failed_requests", report.failed_requests},
      {"requests", report.requests},     {"retries", report.retries},
      {"bytes_sent", report.bytes_sent}, {"seconds", seconds}};
  return summary.dump();
}

}  // namespace fhirbridge::synth
