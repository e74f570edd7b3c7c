#include "sandbox/bulk_export_jobs.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <utility>

#include "fhir/search_parameters.h"
#include "fhir/search_values.h"
#include "observe/log.h"
#include "sandbox/search.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;
using SteadyTime = std::chrono::steady_clock::time_point;

// Resources read from the store per call; the store is held only for one batch at a time.
constexpr std::int64_t kReadBatch = 500;

std::string NewJobId() {
  // Seeded from the system's entropy; the id is the only secret of a job whose kick-off carried
  // no token (a tenant that does not require tokens), so it must not be guessable from others.
  thread_local std::mt19937_64 generator{[] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  const std::uint64_t high = generator();
  const std::uint64_t low = generator();
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(high >> (i * 4)) & 0xF];
    id[16 + i] = kHex[(low >> (i * 4)) & 0xF];
  }
  return id;
}

// Whole seconds until `end`, at least 1, for Retry-After.
std::chrono::seconds SecondsUntil(SteadyTime now, SteadyTime end) {
  const double seconds = std::chrono::duration<double>(end - now).count();
  return std::chrono::seconds(std::max<std::int64_t>(1, std::llround(std::ceil(seconds))));
}

// The patients whose compartment `resource` is in, as "Patient/{id}".
std::vector<std::string> CompartmentPatients(const std::string& type, const fhir::Json& resource) {
  std::vector<std::string> patients;
  if (type == "Patient") {
    patients.push_back("Patient/" + resource.value("id", ""));
    return patients;
  }
  const fhir::SearchIndexEntries entries =
      fhir::ExtractSearchIndex(fhir::R4SearchParameters(), type, resource);
  for (const fhir::ReferenceEntry& entry : entries.references) {
    if (entry.parameter == "patient" && entry.target.starts_with("Patient/")) {
      patients.push_back(entry.target);
    }
  }
  return patients;
}

// Collects NDJSON lines of one kind into files of at most `limit` lines, one type per file.
class FileWriter {
 public:
  FileWriter(ExportFileKind kind, std::int64_t limit) : kind_(kind), limit_(limit) {}

  void Add(const std::string& type, std::string_view line) {
    if (open_ && (type_ != type || count_ >= limit_)) Close();
    if (!open_) {
      open_ = true;
      type_ = type;
      count_ = 0;
      content_.clear();
    }
    content_ += line;
    content_ += '\n';
    ++count_;
  }

  // Ends the current file; the next line starts a new one.
  void Close() {
    if (!open_) return;
    open_ = false;
    files_.push_back({type_, count_, std::make_shared<const std::string>(std::move(content_))});
    content_.clear();
  }

  struct Finished {
    std::string type;
    std::int64_t count;
    std::shared_ptr<const std::string> content;
  };
  std::vector<Finished>& files() { return files_; }
  ExportFileKind kind() const { return kind_; }

 private:
  ExportFileKind kind_;
  std::int64_t limit_;
  bool open_ = false;
  std::string type_;
  std::int64_t count_ = 0;
  std::string content_;
  std::vector<Finished> files_;
};

}  // namespace

struct BulkExportJobs::Job {
  std::string id;
  ExportJobRequest request;
  StoreSnapshot snapshot;
  SteadyTime kicked_off;
  SteadyTime ready_not_before;  // kick-off plus the simulated job duration
  std::atomic<bool> cancelled{false};

  // Guarded by State::mutex.
  enum class Phase { kQueued, kRunning, kDone, kFailed };
  Phase phase = Phase::kQueued;
  std::size_t types_done = 0;
  std::optional<SteadyTime> finished;  // when the worker finished it
  std::vector<ExportFileInfo> files;
  std::vector<std::shared_ptr<const std::string>> contents;  // by ExportFileInfo::index
  std::optional<base::Error> failure;

  // When a poll first sees the job complete or failed.
  SteadyTime Completion() const { return std::max(*finished, ready_not_before); }
};

struct BulkExportJobs::State {
  State(std::string tenant_in, ResourceStore& store_in, const BulkExportSettings& settings_in,
        bool strict_meta_in)
      : tenant(std::move(tenant_in)),
        store(store_in),
        settings(settings_in),
        strict_meta(strict_meta_in) {}

  // Runs queued jobs until stopping.
  void Work();
  // Reads the snapshot and fills the job's files; cancelled jobs fail with kCancelled.
  base::Status Export(Job& job);
  // Forgets jobs whose result has expired. Requires `mutex`.
  void SweepExpired(SteadyTime now);
  bool Active(const Job& job, SteadyTime now) const;

  const std::string tenant;
  ResourceStore& store;
  const BulkExportSettings& settings;
  const bool strict_meta;

  std::mutex mutex;
  std::condition_variable wake;
  std::map<std::string, std::shared_ptr<Job>, std::less<>> jobs;
  std::deque<std::shared_ptr<Job>> queue;
  bool stopping = false;
  std::thread worker;  // started with the first job
};

BulkExportJobs::BulkExportJobs(std::string tenant_name, ResourceStore& store,
                               const BulkExportSettings& settings, bool strict_meta)
    : state_(std::make_unique<State>(std::move(tenant_name), store, settings, strict_meta)) {}

BulkExportJobs::~BulkExportJobs() {
  {
    const std::lock_guard lock(state_->mutex);
    state_->stopping = true;
    for (const auto& [id, job] : state_->jobs) job->cancelled = true;
  }
  state_->wake.notify_all();
  if (state_->worker.joinable()) state_->worker.join();
}

bool BulkExportJobs::State::Active(const Job& job, SteadyTime now) const {
  return job.phase == Job::Phase::kQueued || job.phase == Job::Phase::kRunning ||
         now < job.ready_not_before;
}

void BulkExportJobs::State::SweepExpired(SteadyTime now) {
  std::erase_if(jobs, [&](const auto& entry) {
    const Job& job = *entry.second;
    return job.finished.has_value() && now >= job.Completion() + settings.expire_after;
  });
}

base::Result<std::string> BulkExportJobs::Start(ExportJobRequest request) {
  auto job = std::make_shared<Job>();
  job->request = std::move(request);
  auto snapshot = state_->store.TakeSnapshot();
  if (!snapshot) return base::Fail(snapshot.error());
  job->snapshot = std::move(*snapshot);
  job->kicked_off = std::chrono::steady_clock::now();
  job->ready_not_before = job->kicked_off + state_->settings.job_duration;

  {
    const std::lock_guard lock(state_->mutex);
    state_->SweepExpired(job->kicked_off);
    if (state_->settings.max_active_jobs > 0) {
      const auto active = std::ranges::count_if(state_->jobs, [&](const auto& entry) {
        return state_->Active(*entry.second, job->kicked_off);
      });
      if (active >= state_->settings.max_active_jobs) {
        return base::Fail(ErrorCode::kConcurrencyLimited,
                          "The tenant already runs " + std::to_string(active) +
                              " export jobs, as many as bulk_export.max_active_jobs allows; wait "
                              "for one to complete or cancel one (DELETE its status URL).");
      }
    }
    do {
      job->id = NewJobId();
    } while (state_->jobs.contains(job->id));
    state_->jobs.emplace(job->id, job);
    state_->queue.push_back(job);
    if (!state_->worker.joinable()) state_->worker = std::thread([this] { state_->Work(); });
  }
  state_->wake.notify_one();

  observe::LogEvent event;
  event.event = "bulk_export.started";
  event.subsystem = "sandbox.bulk";
  event.tenant = state_->tenant;
  event.message = "A Bulk Data export job was queued.";
  event.attributes.push_back({"types", static_cast<std::int64_t>(job->request.types.size())});
  observe::Log(event);
  return job->id;
}

void BulkExportJobs::State::Work() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) return;
      job = std::move(queue.front());
      queue.pop_front();
      if (job->cancelled) continue;
      job->phase = Job::Phase::kRunning;
    }

    const base::Status exported = Export(*job);

    observe::LogEvent event;
    event.subsystem = "sandbox.bulk";
    event.tenant = tenant;
    {
      const std::lock_guard lock(mutex);
      job->finished = std::chrono::steady_clock::now();
      if (exported) {
        job->phase = Job::Phase::kDone;
        event.event = "bulk_export.completed";
        event.message = "A Bulk Data export job completed; its files await download.";
        event.attributes.push_back({"files", static_cast<std::int64_t>(job->files.size())});
      } else {
        job->phase = Job::Phase::kFailed;
        job->failure = exported.error();
        event.level = observe::LogLevel::kWarning;
        event.event = "bulk_export.failed";
        event.message = "A Bulk Data export job failed; its status URL reports the error.";
        event.error = exported.error();
      }
    }
    observe::Log(event);
  }
}

base::Status BulkExportJobs::State::Export(Job& job) {
  const ExportJobRequest& request = job.request;
  FileWriter output(ExportFileKind::kOutput, settings.max_resources_per_file);
  FileWriter deleted(ExportFileKind::kDeleted, settings.max_resources_per_file);
  FileWriter errors(ExportFileKind::kError, settings.max_resources_per_file);

  const auto in_cohort = [&](const std::string& type, const std::string& json) {
    if (request.level == ExportLevel::kSystem) return true;
    const fhir::Json resource = fhir::Json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (!resource.is_object()) return false;
    const std::vector<std::string> patients = CompartmentPatients(type, resource);
    if (request.level == ExportLevel::kPatient) return !patients.empty();
    return std::ranges::any_of(patients, [&](const std::string& patient) {
      return request.group_members.contains(patient);
    });
  };
  const auto changed_since = [&](const StoredVersion& version) {
    return !request.since.has_value() || version.last_updated > *request.since;
  };

  for (const std::string& type : request.types) {
    std::int64_t after_key = 0;
    for (;;) {
      if (job.cancelled) {
        return base::Fail(ErrorCode::kCancelled, "The export was cancelled.");
      }
      auto rows = store.ReadAsOf(type, job.snapshot, after_key, kReadBatch);
      if (!rows) {
        base::Error error = rows.error();
        if (error.code == ErrorCode::kCancelled) {
          error.diagnostic =
              "The tenant was reset to its baseline while the export ran; start it again.";
        }
        return base::Fail(std::move(error));
      }
      if (rows->empty()) break;
      for (const SnapshotRow& row : *rows) {
        after_key = row.key;
        const StoredVersion& version = row.version;
        if (!changed_since(version)) continue;
        if (version.deleted) {
          // Only a _since export reports deletions; whether the resource was in the cohort is
          // read from its last version before the delete.
          if (!request.since.has_value()) continue;
          if (request.level != ExportLevel::kSystem) {
            auto before = store.ReadVersion(type, version.id, version.version - 1);
            if (!before || !in_cohort(type, before->json)) continue;
          }
          const fhir::Json bundle = {
              {"resourceType", "Bundle"},
              {"type", "transaction"},
              {"entry", {{{"request", {{"method", "DELETE"}, {"url", type + "/" + version.id}}}}}}};
          deleted.Add("Bundle", bundle.dump());
          continue;
        }
        if (!in_cohort(type, version.json)) continue;
        output.Add(type, strict_meta ? WithoutVersionMeta(version.json) : version.json);
      }
    }
    output.Close();
    const std::lock_guard lock(mutex);
    ++job.types_done;
  }
  output.Close();
  deleted.Close();
  for (const fhir::Json& message : request.messages) errors.Add("OperationOutcome", message.dump());
  errors.Close();

  const std::lock_guard lock(mutex);
  for (FileWriter* writer : {&output, &deleted, &errors}) {
    for (auto& file : writer->files()) {
      job.files.push_back({writer->kind(), file.type, file.count, job.contents.size()});
      job.contents.push_back(std::move(file.content));
    }
  }
  return {};
}

std::optional<ExportJobView> BulkExportJobs::Find(std::string_view id) {
  const SteadyTime now = std::chrono::steady_clock::now();
  const std::lock_guard lock(state_->mutex);
  state_->SweepExpired(now);
  const auto found = state_->jobs.find(id);
  if (found == state_->jobs.end()) return std::nullopt;
  const Job& job = *found->second;

  ExportJobView view;
  view.client_id = job.request.client_id;
  view.requires_access_token = job.request.requires_access_token;
  view.types = job.request.types;
  view.request_url = job.request.request_url;
  view.transaction_time = job.snapshot.instant;

  const bool finished = job.phase == Job::Phase::kDone || job.phase == Job::Phase::kFailed;
  if (!finished || now < job.ready_not_before) {
    view.state = ExportJobView::State::kInProgress;
    view.retry_after = SecondsUntil(now, job.ready_not_before);
    if (job.phase == Job::Phase::kQueued) {
      view.progress = "queued";
    } else if (!finished) {
      view.progress = "exporting: " + std::to_string(job.types_done) + " of " +
                      std::to_string(job.request.types.size()) + " resource types done";
    } else {
      const double total =
          std::chrono::duration<double>(job.ready_not_before - job.kicked_off).count();
      const double elapsed = std::chrono::duration<double>(now - job.kicked_off).count();
      const int percent = std::clamp(static_cast<int>(100.0 * elapsed / total), 0, 99);
      view.progress = std::to_string(percent) + "% complete";
    }
    return view;
  }
  if (job.phase == Job::Phase::kFailed) {
    view.state = ExportJobView::State::kFailed;
    view.failure = job.failure;
    return view;
  }
  view.state = ExportJobView::State::kComplete;
  view.files = job.files;
  view.expires = std::chrono::system_clock::now() +
                 std::chrono::duration_cast<std::chrono::system_clock::duration>(
                     job.Completion() + state_->settings.expire_after - now);
  return view;
}

bool BulkExportJobs::Cancel(std::string_view id) {
  const std::lock_guard lock(state_->mutex);
  const auto found = state_->jobs.find(id);
  if (found == state_->jobs.end()) return false;
  found->second->cancelled = true;
  state_->jobs.erase(found);
  return true;
}

std::shared_ptr<const std::string> BulkExportJobs::File(std::string_view id, std::size_t index) {
  const SteadyTime now = std::chrono::steady_clock::now();
  const std::lock_guard lock(state_->mutex);
  state_->SweepExpired(now);
  const auto found = state_->jobs.find(id);
  if (found == state_->jobs.end()) return nullptr;
  const Job& job = *found->second;
  if (job.phase != Job::Phase::kDone || now < job.ready_not_before ||
      index >= job.contents.size()) {
    return nullptr;
  }
  return job.contents[index];
}

}  // namespace fhirbridge::sandbox
