#include "sync/bulk_export_strategy.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "sync/page.h"

namespace fhirbridge::sync {

namespace {

using base::ErrorCode;
using base::Fail;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

enum class FileKind { kOutput, kDeleted, kError };

struct ExportFile {
  FileKind kind = FileKind::kOutput;
  std::string key;  // "output/3": the file's place in the checkpoint
  std::string url;
};

struct Manifest {
  std::string transaction_time;
  std::vector<ExportFile> files;
};

std::string Member(const json& object, const char* key) {
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// '+' in a time zone offset must not reach the site as a space.
std::string EncodeInstant(const std::string& instant) {
  std::string encoded;
  for (const char c : instant) encoded += c == '+' ? std::string("%2B") : std::string(1, c);
  return encoded;
}

std::optional<std::chrono::milliseconds> RetryAfter(const FetchResponse& response) {
  const std::string* value = response.FindHeader("retry-after");
  if (value == nullptr) return std::nullopt;
  int seconds = 0;
  const auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), seconds);
  if (error != std::errc() || seconds < 0) return std::nullopt;
  return std::chrono::milliseconds(std::int64_t{seconds} * 1000);
}

base::Result<Manifest> ParseManifest(const std::string& body, const std::string& type) {
  const json document = json::parse(body, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return Fail(ErrorCode::kMalformedResponse, "The export manifest is not a JSON object.");
  }
  Manifest manifest;
  manifest.transaction_time = Member(document, "transactionTime");
  if (manifest.transaction_time.empty()) {
    return Fail(ErrorCode::kMalformedResponse, "The export manifest has no transactionTime.",
                "transactionTime");
  }
  const std::pair<const char*, FileKind> lists[] = {
      {"output", FileKind::kOutput}, {"deleted", FileKind::kDeleted}, {"error", FileKind::kError}};
  for (const auto& [name, kind] : lists) {
    const auto list = document.find(name);
    if (list == document.end()) {
      if (kind == FileKind::kOutput) {
        return Fail(ErrorCode::kMalformedResponse, "The export manifest has no output list.",
                    "output");
      }
      continue;
    }
    if (!list->is_array()) {
      return Fail(ErrorCode::kMalformedResponse, "An export manifest list is not an array.", name);
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      const json& item = (*list)[i];
      const std::string where = std::string(name) + "[" + std::to_string(i) + "]";
      if (!item.is_object() || Member(item, "url").empty() || Member(item, "type").empty()) {
        return Fail(ErrorCode::kMalformedResponse, "An export file entry needs a type and a url.",
                    where);
      }
      // Deleted files hold Bundles and error files OperationOutcomes; output files must hold
      // the type asked for with _type.
      if (kind == FileKind::kOutput && Member(item, "type") != type) {
        return Fail(ErrorCode::kMalformedResponse,
                    "The export manifest lists an output file of a type that was not asked for.",
                    where);
      }
      manifest.files.push_back({kind, where, Member(item, "url")});
    }
  }
  return manifest;
}

// "Type/id" of a deleted file's Bundle, checked against the exported type.
base::Result<Tombstone> ParseDeletion(std::string_view line, const std::string& type) {
  const json bundle = json::parse(line, nullptr, false);
  const auto malformed = [] {
    return Fail(ErrorCode::kMalformedResponse,
                "A deleted-file line is not a Bundle with one DELETE entry naming Type/id of the "
                "exported type.");
  };
  if (bundle.is_discarded() || !bundle.is_object() || Member(bundle, "resourceType") != "Bundle") {
    return malformed();
  }
  const auto entries = bundle.find("entry");
  if (entries == bundle.end() || !entries->is_array() || entries->size() != 1 ||
      !(*entries)[0].is_object()) {
    return malformed();
  }
  const auto request = (*entries)[0].find("request");
  if (request == (*entries)[0].end() || !request->is_object() ||
      Member(*request, "method") != "DELETE") {
    return malformed();
  }
  const std::string url = Member(*request, "url");
  const std::size_t slash = url.find('/');
  if (slash == std::string::npos || url.substr(0, slash) != type || slash + 1 == url.size() ||
      url.find('/', slash + 1) != std::string::npos) {
    return malformed();
  }
  return Tombstone{type, url.substr(slash + 1), 0, {}};
}

// PHI-free summaries of an error file's OperationOutcome: severity and code of each issue.
std::vector<std::string> SummariseErrors(std::string_view body, const std::string& key) {
  std::vector<std::string> warnings;
  std::size_t start = 0;
  while (start < body.size()) {
    std::size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view line = body.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    const json outcome = json::parse(line, nullptr, false);
    const auto issues = outcome.is_object() ? outcome.find("issue") : outcome.end();
    if (!outcome.is_object() || issues == outcome.end() || !issues->is_array()) {
      warnings.push_back("export " + key + ": a line that is not an OperationOutcome");
      continue;
    }
    for (const json& issue : *issues) {
      if (!issue.is_object()) continue;
      warnings.push_back("export " + key + ": " + Member(issue, "severity").substr(0, 16) + " " +
                         Member(issue, "code").substr(0, 32));
    }
  }
  return warnings;
}

}  // namespace

struct BulkExportRun::Impl {
  Impl(PageSource& source_in, SyncSink& sink_in, ProgressObserver& progress_in,
       const SyncOptions& options_in, const TypePlan& plan_in, TypeOutcome& outcome_in)
      : source(source_in),
        sink(sink_in),
        progress(progress_in),
        options(options_in),
        plan(plan_in),
        outcome(outcome_in) {}

  PageSource& source;
  SyncSink& sink;
  ProgressObserver& progress;
  const SyncOptions& options;
  const TypePlan& plan;
  TypeOutcome& outcome;

  // Guards the counters, the checkpoint state and the commits of the download threads.
  std::mutex mutex;
  std::string since;
  bool since_refused = false;
  std::string job;
  bool job_since = false;
  json files = json::object();
  std::set<std::string> seen_ids;  // full exports: every id the output files listed
  std::string last_request_id;
  std::optional<base::Error> download_failure;

  CheckpointKey Key() const { return {options.site, plan.type, ""}; }

  json CheckpointValue() const {
    json value = {{"since", since}, {"since_refused", since_refused}};
    if (!job.empty()) {
      value["job"] = job;
      value["job_since"] = job_since;
      value["files"] = files;
    }
    return value;
  }

  void Emit(ProgressEvent::Kind kind, std::string export_progress = {}) {
    ProgressEvent event;
    event.kind = kind;
    event.site = options.site;
    event.resource_type = plan.type;
    event.strategy = std::string(StrategyName(plan.strategy));
    event.request_id = last_request_id;
    event.requests = outcome.requests;
    event.resources = outcome.resources_received + outcome.tombstones_received;
    event.export_progress = std::move(export_progress);
    progress.OnEvent(event);
  }

  base::Result<FetchResponse> Fetch(PageSource& through, FetchRequest request) {
    auto response = through.Get(request);
    const std::lock_guard lock(mutex);
    ++outcome.requests;
    if (response) last_request_id = response->request_id;
    return response;
  }

  // Commits with the checkpoint as it stands; the caller holds `mutex`.
  base::Status CommitLocked(std::vector<SyncedResource> resources,
                            std::vector<Tombstone> tombstones) {
    const auto received = static_cast<std::int64_t>(resources.size());
    const auto deleted = static_cast<std::int64_t>(tombstones.size());
    if (auto status = sink.CommitPage(
            {Key(), std::move(resources), std::move(tombstones), CheckpointValue().dump()});
        !status) {
      return status;
    }
    outcome.resources_received += received;
    outcome.tombstones_received += deleted;
    Emit(ProgressEvent::Kind::kPageCommitted);
    return {};
  }

  base::Status Commit(std::vector<SyncedResource> resources = {},
                      std::vector<Tombstone> tombstones = {}) {
    const std::lock_guard lock(mutex);
    return CommitLocked(std::move(resources), std::move(tombstones));
  }

  base::Status Run() {
    auto stored = sink.ReadCheckpoint(Key());
    if (!stored) return Fail(stored.error());
    if (*stored) {
      const json checkpoint = json::parse(**stored, nullptr, false);
      if (checkpoint.is_object()) {
        since = Member(checkpoint, "since");
        since_refused = checkpoint.value("since_refused", false);
        job = Member(checkpoint, "job");
        job_since = checkpoint.value("job_since", false);
        const auto saved_files = checkpoint.find("files");
        if (saved_files != checkpoint.end() && saved_files->is_object()) files = *saved_files;
      }
    }
    outcome.export_resumed = !job.empty();

    for (int restarts = 0;; ++restarts) {
      if (job.empty()) {
        if (auto kicked = KickOff(); !kicked) return kicked;
      }
      auto manifest = Poll();
      if (!manifest) return Fail(manifest.error());
      if (*manifest) return Finish(**manifest);
      // The site no longer knows the job (expired, cancelled): start a new one.
      job.clear();
      files = json::object();
      if (auto status = Commit(); !status) return status;
      if (restarts >= options.max_restarts) {
        return Fail(ErrorCode::kRetriesExhausted, "The site kept forgetting " + plan.type +
                                                      " export jobs before they were read.");
      }
      ++outcome.restarts;
      Emit(ProgressEvent::Kind::kRestarted);
    }
  }

  // Kicks off a job and commits its status URL at once.
  base::Status KickOff() {
    std::string url = options.base_url +
                      (plan.export_group.empty() ? std::string("/$export")
                                                 : "/Group/" + plan.export_group + "/$export") +
                      "?_type=" + plan.type;
    const bool with_since = !since.empty() && !since_refused;
    auto response = Fetch(source, {with_since ? url + "&_since=" + EncodeInstant(since) : url,
                                   {{"Prefer", "respond-async"}},
                                   "GET"});
    if (!response) return Fail(response.error());
    if (response->status == 400 && with_since) {
      // The site refuses _since (Epic): a full export, compared by content hash, from now on.
      since_refused = true;
      response = Fetch(source, {url, {{"Prefer", "respond-async"}}, "GET"});
      if (!response) return Fail(response.error());
      job_since = false;
    } else {
      job_since = with_since;
    }
    const std::string* location = response->FindHeader("content-location");
    if (response->status != 202 || location == nullptr || location->empty()) {
      return Fail(ErrorCode::kRemoteRejected,
                  "The site answered " + std::to_string(response->status) +
                      " to a $export kick-off for " + plan.type + " (request " +
                      response->request_id + "); expected 202 with Content-Location.");
    }
    job = *location;
    files = json::object();
    outcome.export_kicked_off = true;
    return Commit();
  }

  // Polls the job: its manifest when complete, nullopt when the site no longer knows it.
  base::Result<std::optional<Manifest>> Poll() {
    const auto deadline = SteadyClock::now() + options.export_timeout;
    while (true) {
      auto response = Fetch(source, {job, {}, "GET"});
      if (!response) return Fail(response.error());
      if (response->status == 404 || response->status == 410) return std::optional<Manifest>();
      if (response->status == 200) {
        auto manifest = ParseManifest(response->body, plan.type);
        if (!manifest) {
          QuarantinedPage quarantined{options.site,
                                      plan.type,
                                      response->request_id,
                                      "strategy=bulk-export manifest",
                                      job,
                                      manifest.error().ToString(),
                                      std::move(response->body)};
          if (auto kept = sink.Quarantine(quarantined); !kept) return Fail(kept.error());
          return Fail(manifest.error());
        }
        return std::optional<Manifest>(std::move(*manifest));
      }
      if (response->status != 202) {
        return Fail(ErrorCode::kRemoteRejected,
                    "The site answered " + std::to_string(response->status) + " to a poll of the " +
                        plan.type + " export (request " + response->request_id + ").");
      }
      const std::string* progress_header = response->FindHeader("x-progress");
      Emit(ProgressEvent::Kind::kExportPolled,
           progress_header ? progress_header->substr(0, 64) : std::string());
      const auto wait = std::clamp(RetryAfter(*response).value_or(options.export_min_poll),
                                   options.export_min_poll, options.export_max_poll);
      if (SteadyClock::now() + wait > deadline) {
        return Fail(
            ErrorCode::kRetriesExhausted,
            "The " + plan.type + " export did not complete in time; the next run polls it again.");
      }
      std::this_thread::sleep_for(wait);
    }
  }

  base::Status Finish(const Manifest& manifest) {
    const bool by_absence = !job_since;
    outcome.deletion_check = by_absence ? "absence" : "deleted-files";
    std::atomic<std::size_t> next{0};
    const auto work = [&](PageSource& through) {
      PageParser parser;
      for (std::size_t index = next++; index < manifest.files.size(); index = next++) {
        {
          const std::lock_guard lock(mutex);
          if (download_failure) return;
        }
        if (auto status = Download(through, parser, manifest.files[index], by_absence); !status) {
          const std::lock_guard lock(mutex);
          if (!download_failure) download_failure = status.error();
          return;
        }
      }
    };
    const int threads = options.download_sources
                            ? std::clamp<int>(options.export_parallel_downloads, 1,
                                              static_cast<int>(manifest.files.size()))
                            : 1;
    if (threads <= 1 || manifest.files.size() <= 1) {
      work(source);
    } else {
      std::vector<std::unique_ptr<PageSource>> sources;
      for (int i = 0; i < threads; ++i) sources.push_back(options.download_sources());
      std::vector<std::jthread> workers;
      for (auto& owned : sources) workers.emplace_back([&work, &owned] { work(*owned); });
    }
    if (download_failure) return Fail(*download_failure);

    std::vector<Tombstone> absent;
    if (by_absence) {
      auto live = sink.LiveIds(plan.type);
      if (!live) return Fail(live.error());
      for (const std::string& id : *live) {
        if (!seen_ids.contains(id)) absent.push_back({plan.type, id, 0, {}});
      }
    }
    const std::string finished_job = job;
    {
      const std::lock_guard lock(mutex);
      since = manifest.transaction_time;
      job.clear();
      files = json::object();
      if (auto status = CommitLocked({}, std::move(absent)); !status) return status;
    }
    // Cleanup: the site may drop the files now. A failure costs only the site's storage until
    // the job expires, so it is a warning.
    auto deleted = Fetch(source, {finished_job, {}, "DELETE"});
    if (!deleted || (deleted->status != 202 && deleted->status != 200 && deleted->status != 204 &&
                     deleted->status != 404)) {
      outcome.warnings.push_back(
          "the completed export job could not be deleted: " +
          (deleted ? "status " + std::to_string(deleted->status) : deleted.error().ToString()));
    }
    return {};
  }

  // Reads one file line by line, committing every page_size lines with its position.
  base::Status Download(PageSource& through, PageParser& parser, const ExportFile& file,
                        bool by_absence) {
    std::int64_t committed = 0;
    {
      const std::lock_guard lock(mutex);
      committed = files.value(file.key, std::int64_t{0});
    }
    const bool done = committed < 0;
    if (done && !(by_absence && file.kind == FileKind::kOutput)) return {};

    auto response = Fetch(through, {file.url, {}, "GET"});
    if (!response) return Fail(response.error());
    if (response->status != 200) {
      return Fail(ErrorCode::kRemoteRejected,
                  "The site answered " + std::to_string(response->status) + " to export file " +
                      file.key + " of " + plan.type + " (request " + response->request_id + ").");
    }
    const std::string_view body = response->body;
    if (file.kind == FileKind::kError) {
      std::vector<std::string> warnings = SummariseErrors(body, file.key);
      const std::lock_guard lock(mutex);
      for (std::string& warning : warnings) outcome.warnings.push_back(std::move(warning));
      return {};
    }

    std::vector<SyncedResource> resources;
    std::vector<Tombstone> tombstones;
    std::vector<std::string> ids;
    std::int64_t line_number = 0;
    std::size_t start = 0;
    const auto flush = [&](std::int64_t position) -> base::Status {
      const std::lock_guard lock(mutex);
      for (std::string& id : ids) seen_ids.insert(std::move(id));
      ids.clear();
      if (done) return {};
      files[file.key] = position;
      return CommitLocked(std::exchange(resources, {}), std::exchange(tombstones, {}));
    };
    while (start < body.size()) {
      std::size_t end = body.find('\n', start);
      if (end == std::string_view::npos) end = body.size();
      const std::string_view line = body.substr(start, end - start);
      start = end + 1;
      if (line.empty()) continue;
      ++line_number;
      const bool stored = done || line_number <= committed;
      if (file.kind == FileKind::kOutput) {
        auto resource = parser.ParseResource(line, plan.type);
        if (!resource) {
          base::Error error = resource.error();
          QuarantinedPage quarantined{
              options.site,
              plan.type,
              response->request_id,
              "strategy=bulk-export file=" + file.key + " line=" + std::to_string(line_number),
              file.url,
              error.ToString(),
              std::string(body)};
          if (auto kept = sink.Quarantine(quarantined); !kept) return kept;
          error.diagnostic = "Line " + std::to_string(line_number) + " of export file " + file.key +
                             " of " + plan.type + " was quarantined: " + error.diagnostic;
          return Fail(std::move(error));
        }
        if (by_absence) ids.push_back(resource->id);
        if (!stored) resources.push_back(std::move(*resource));
      } else if (!stored) {
        auto tombstone = ParseDeletion(line, plan.type);
        if (!tombstone) {
          base::Error error = tombstone.error();
          error.diagnostic = "Line " + std::to_string(line_number) + " of export file " + file.key +
                             ": " + error.diagnostic;
          return Fail(std::move(error));
        }
        tombstones.push_back(std::move(*tombstone));
      }
      if (static_cast<int>(resources.size() + tombstones.size()) >= options.page_size) {
        if (auto status = flush(line_number); !status) return status;
      }
    }
    return flush(-1);
  }
};

BulkExportRun::BulkExportRun(PageSource& source, SyncSink& sink, ProgressObserver& progress,
                             const SyncOptions& options, const TypePlan& plan, TypeOutcome& outcome)
    : impl_(std::make_unique<Impl>(source, sink, progress, options, plan, outcome)) {}

BulkExportRun::~BulkExportRun() = default;

base::Status BulkExportRun::Run() { return impl_->Run(); }

}  // namespace fhirbridge::sync
