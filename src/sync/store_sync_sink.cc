#include "sync/store_sync_sink.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "base/clock.h"
#include "fhir/json.h"
#include "store/store_support.h"

namespace fhirbridge::sync {
namespace {

std::int64_t VersionNumber(std::string_view version_id) {
  std::int64_t number = 0;
  const auto [end, error] =
      std::from_chars(version_id.data(), version_id.data() + version_id.size(), number);
  return error == std::errc() && end == version_id.data() + version_id.size() ? number : 0;
}

// The id of the patient a reference names ("Patient/123", or an absolute URL ending in
// "/Patient/123"); nullopt for a reference to anything else.
std::optional<std::string> PatientOfReference(std::string_view reference) {
  std::string_view id;
  if (const std::size_t at = reference.rfind("/Patient/"); at != std::string_view::npos) {
    id = reference.substr(at + std::string_view("/Patient/").size());
  } else if (reference.starts_with("Patient/")) {
    id = reference.substr(std::string_view("Patient/").size());
  } else {
    return std::nullopt;
  }
  if (id.empty() || id.find('/') != std::string_view::npos) return std::nullopt;
  return std::string(id);
}

// The patients whose compartment a resource is in as per-patient refresh reads it (see
// InPatientContext): the Patient itself, or those its subject and patient references name.
std::vector<std::string> PatientsNamedBy(const std::string& raw, const std::string& type,
                                         const std::string& id) {
  if (type == "Patient") return {id};
  std::vector<std::string> patients;
  auto parsed = fhir::ParseJson(raw);
  if (!parsed || !parsed->is_object()) return patients;
  for (const char* member : {"subject", "patient"}) {
    const auto holder = parsed->find(member);
    if (holder == parsed->end() || !holder->is_object()) continue;
    // Messy data may carry a reference that is not a string: it names no one.
    const auto reference = holder->find("reference");
    if (reference == holder->end() || !reference->is_string()) continue;
    if (auto patient = PatientOfReference(reference->get_ref<const std::string&>())) {
      patients.push_back(std::move(*patient));
    }
  }
  return patients;
}

// PatientsNamedBy, read off the store's normalised patient reference when the resource has one
// (the clinical types), so that only the others are parsed.
std::vector<std::string> PatientsOf(const std::optional<std::string>& normalised_reference,
                                    const std::string& raw, const std::string& type,
                                    const std::string& id) {
  if (!normalised_reference) return PatientsNamedBy(raw, type, id);
  if (auto patient = PatientOfReference(*normalised_reference)) return {std::move(*patient)};
  return {};
}

// Whether a stored resource belongs to patient `context`'s compartment as per-patient refresh
// reads it: the Patient itself, or a resource whose subject or patient is that patient.
bool InPatientContext(const std::string& raw, const std::string& type, const std::string& id,
                      const std::string& context) {
  const std::vector<std::string> patients = PatientsNamedBy(raw, type, id);
  return std::ranges::find(patients, context) != patients.end();
}

}  // namespace

base::Result<std::unique_ptr<StoreSyncSink>> StoreSyncSink::Open(
    const store::StoreLocation& location, std::string site) {
  auto opened = store::OpenReplicaStore(location);
  if (!opened) return base::Fail(opened.error());
  return std::make_unique<StoreSyncSink>(std::move(*opened), std::move(site));
}

StoreSyncSink::StoreSyncSink(std::unique_ptr<store::ReplicaStore> store, std::string site)
    : store_(std::move(store)), site_(std::move(site)) {}

StoreSyncSink::~StoreSyncSink() = default;

base::Result<std::optional<std::string>> StoreSyncSink::ReadCheckpoint(const CheckpointKey& key) {
  auto checkpoint = store_->GetCheckpoint({key.site, key.resource_type, key.context});
  if (!checkpoint) return base::Fail(checkpoint.error());
  if (!*checkpoint) return std::optional<std::string>();
  return std::optional<std::string>((*checkpoint)->state);
}

base::Status StoreSyncSink::CommitPage(const PageWrite& page) { return Commit(page, std::nullopt); }

base::Status StoreSyncSink::CommitFencedPage(const PageWrite& page, const LeaseFence& fence) {
  return Commit(page, store::LeaseFence{fence.item_id, fence.lease_token});
}

base::Status StoreSyncSink::Commit(const PageWrite& page,
                                   const std::optional<store::LeaseFence>& fence) {
  store::Page write;
  write.site = site_;
  write.fetched_at = store::NowMicros();
  write.resources.reserve(page.resources.size());
  write.summaries.reserve(page.resources.size());
  for (const SyncedResource& resource : page.resources) {
    write.resources.push_back(resource.json);
    write.summaries.push_back(resource.summary ? &*resource.summary : nullptr);
  }
  for (const Tombstone& tombstone : page.tombstones) {
    // The engine's rule: a deletion yields to a newer version, in the page or already stored.
    if (tombstone.version > 0) {
      bool superseded = false;
      for (const SyncedResource& resource : page.resources) {
        superseded |= resource.type == tombstone.type && resource.id == tombstone.id &&
                      resource.version > tombstone.version;
      }
      auto stored = store_->GetResource(site_, tombstone.type, tombstone.id);
      if (!stored) return base::Fail(stored.error());
      superseded |= *stored && !(*stored)->deleted &&
                    VersionNumber((*stored)->version_id) > tombstone.version;
      if (superseded) continue;
    }
    // Ranked by when the site deleted it; a deletion found by absence, or one the site gave no
    // time for, counts as seen now (the store's default).
    store::Micros deleted_at = 0;
    if (const auto when = base::ParseInstant(tombstone.deleted_at); when) {
      deleted_at =
          std::chrono::duration_cast<std::chrono::microseconds>(when->time_since_epoch()).count();
    }
    write.tombstones.push_back({tombstone.type, tombstone.id,
                                tombstone.version > 0 ? std::to_string(tombstone.version) : "",
                                deleted_at});
  }
  if (page.checkpoint) {
    store::Checkpoint checkpoint;
    checkpoint.key = {page.key.site, page.key.resource_type, page.key.context};
    checkpoint.state = *page.checkpoint;
    write.checkpoint = std::move(checkpoint);
  }
  write.lease_fence = fence;
  std::lock_guard lock(mutex_);
  write.sync_run_id = run_id_;
  if (write.checkpoint) write.checkpoint->sync_run_id = run_id_;
  auto outcome = store_->WritePage(write);
  if (!outcome) return base::Fail(outcome.error());
  resources_written_ += outcome->stored;
  tombstones_written_ += outcome->tombstoned;
  NoteCommitted(page);
  return {};
}

base::Result<std::string> StoreSyncSink::EngineHash(const std::string& raw,
                                                    const std::string& type) {
  std::lock_guard lock(mutex_);
  auto parsed = parser_.ParseResource(raw, type);
  if (!parsed) return base::Fail(parsed.error());
  return std::move(parsed->content_hash);
}

base::Result<std::optional<StoredResourceInfo>> StoreSyncSink::ReadResource(const std::string& type,
                                                                            const std::string& id) {
  auto stored = store_->GetResource(site_, type, id);
  if (!stored) return base::Fail(stored.error());
  if (!*stored) return std::optional<StoredResourceInfo>();
  StoredResourceInfo info;
  info.version = VersionNumber((*stored)->version_id);
  info.deleted = (*stored)->deleted;
  if (!(*stored)->version_id.empty()) info.etag = "W/\"" + (*stored)->version_id + "\"";
  if (!info.deleted) {
    auto hash = EngineHash((*stored)->raw, type);
    if (!hash) return base::Fail(hash.error());
    info.content_hash = std::move(*hash);
  }
  return std::optional<StoredResourceInfo>(std::move(info));
}

base::Result<std::map<std::string, std::string>> StoreSyncSink::ContentHashes(
    const std::string& type, const std::string& context) {
  // The ids to read: a patient's compartment candidates, or every live resource of the type.
  std::vector<std::string> ids;
  if (!context.empty()) {
    auto candidates = CompartmentCandidates(type, context);
    if (!candidates) return base::Fail(candidates.error());
    ids.assign(candidates->begin(), candidates->end());
  } else {
    auto live = LiveIds(type);
    if (!live) return base::Fail(live.error());
    ids = std::move(*live);
  }
  std::map<std::string, std::string> hashes;
  for (const std::string& id : ids) {
    auto stored = store_->GetResource(site_, type, id);
    if (!stored) return base::Fail(stored.error());
    if (!*stored || (*stored)->deleted) continue;
    // The candidates are a superset (a resource may have moved to another patient since the
    // index read it); the stored resource decides.
    if (!context.empty() && !InPatientContext((*stored)->raw, type, id, context)) continue;
    auto hash = EngineHash((*stored)->raw, type);
    if (!hash) return base::Fail(hash.error());
    hashes.emplace(id, std::move(*hash));
  }
  return hashes;
}

base::Result<std::set<std::string>> StoreSyncSink::CompartmentCandidates(
    const std::string& type, const std::string& patient) {
  std::lock_guard lock(compartments_mutex_);
  if (!compartments_ || compartments_->type != type) {
    // Built once per type and run: the normalised reference where the store has one, the raw
    // JSON otherwise (types without a clinical view, resources without a reference).
    CompartmentIndex index;
    index.type = type;
    auto rows = store_->ListPatientReferences(site_, type);
    if (!rows) return base::Fail(rows.error());
    for (const store::PatientReferenceRow& row : *rows) {
      std::string raw;
      if (!row.patient_reference) {
        auto stored = store_->GetResource(site_, type, row.id);
        if (!stored) return base::Fail(stored.error());
        if (!*stored || (*stored)->deleted) continue;
        raw = std::move((*stored)->raw);
      }
      for (std::string& named : PatientsOf(row.patient_reference, raw, type, row.id)) {
        index.ids_by_patient[named].insert(row.id);
      }
    }
    compartments_ = std::move(index);
  }
  const auto found = compartments_->ids_by_patient.find(patient);
  if (found == compartments_->ids_by_patient.end()) return std::set<std::string>();
  return found->second;
}

void StoreSyncSink::NoteCommitted(const PageWrite& page) {
  std::lock_guard lock(compartments_mutex_);
  if (!compartments_) return;
  for (const SyncedResource& resource : page.resources) {
    if (resource.type != compartments_->type) continue;
    // The page parser's summary holds what the store will keep as the normalised reference.
    const bool summarised = resource.summary && resource.summary->view;
    const std::optional<std::string> reference =
        summarised ? resource.summary->view->patient_reference : std::nullopt;
    for (std::string& named : PatientsOf(reference, resource.json, resource.type, resource.id)) {
      compartments_->ids_by_patient[named].insert(resource.id);
    }
  }
}

base::Result<std::vector<std::string>> StoreSyncSink::LiveIds(const std::string& type) {
  auto versions = store_->ListVersions(site_, type);
  if (!versions) return base::Fail(versions.error());
  std::vector<std::string> ids;
  ids.reserve(versions->size());
  for (store::VersionEntry& entry : *versions) ids.push_back(std::move(entry.id));
  return ids;
}

base::Status StoreSyncSink::Quarantine(const QuarantinedPage& page) {
  return store_->QuarantinePage({page.site, page.resource_type, page.request_id, page.position,
                                 page.url, page.error, page.body, store::NowMicros()});
}

base::Result<std::int64_t> StoreSyncSink::BeginRun(const RunRecord& run) {
  auto id = store_->StartSyncRun(run.site.empty() ? site_ : run.site);
  if (!id) return base::Fail(id.error());
  {
    std::lock_guard lock(compartments_mutex_);
    compartments_.reset();
  }
  std::lock_guard lock(mutex_);
  run_id_ = *id;
  return *id;
}

base::Status StoreSyncSink::FinishRun(std::int64_t run_id, const RunRecord& run) {
  {
    std::lock_guard lock(mutex_);
    if (run_id_ == run_id) run_id_.reset();
  }
  {
    std::lock_guard lock(compartments_mutex_);
    compartments_.reset();
  }
  const bool succeeded = run.outcome == "succeeded";
  return store_->FinishSyncRun(
      run_id, succeeded ? store::SyncRunStatus::kSucceeded : store::SyncRunStatus::kFailed,
      // A string with storage even when empty: a null view is bound as SQL NULL.
      succeeded ? std::string_view("") : std::string_view(run.error));
}

std::int64_t StoreSyncSink::resources_written() const {
  std::lock_guard lock(mutex_);
  return resources_written_;
}

std::int64_t StoreSyncSink::tombstones_written() const {
  std::lock_guard lock(mutex_);
  return tombstones_written_;
}

base::Result<std::vector<StoreSyncSink::LiveRow>> StoreSyncSink::LiveRows() {
  auto counts = store_->CountResources(site_);
  if (!counts) return base::Fail(counts.error());
  std::vector<LiveRow> rows;
  for (const auto& [type, count] : *counts) {
    auto versions = store_->ListVersions(site_, type);
    if (!versions) return base::Fail(versions.error());
    for (const store::VersionEntry& entry : *versions) {
      rows.push_back({type, entry.id, VersionNumber(entry.version_id)});
    }
  }
  return rows;
}

}  // namespace fhirbridge::sync
