// Ingest benchmark of the local store, for bench/ingest_bench.sh.
//
//   fhirbridge_ingest_bench record PAGES_FILE PATIENTS [PER_PAGE]
//     Generates PATIENTS synthetic patients (src/synth, realistic defect profile) and records
//     them as searchset Bundle pages of PER_PAGE (default 100) resources of one type each, one
//     page per line as "TYPE<tab>BUNDLE", the Bundle as a site would send it: every resource
//     has meta.versionId and meta.lastUpdated (the generator's, or one added when it gave none).
//     Prints the number of pages and resources.
//
//   fhirbridge_ingest_bench ingest PAGES_FILE STORE [SCHEMA]
//     Reads the recorded pages one at a time and measures, in the same process:
//       baseline: a plain simdjson parse of each page's bytes (DOM, every byte looked at);
//       ingest:   what sync does with a fetched page: sync::PageParser::ParseBundle (checks,
//                 identity, the engine's content hash), then sync::StoreSyncSink::CommitPage,
//                 which hands it to ReplicaStore::WritePage (summary and normalised columns,
//                 raw JSON, hash, the page's resources and checkpoint and its sync run's
//                 counters in one transaction).
//       floor:    (SQLite only) SQLite's own cost of the same rows: each page is parsed,
//                 summarised and hashed outside the timing, then its rows go into the resources
//                 table of a fresh store file (PATH.floor, the store's schema and connection
//                 settings, removed afterwards) with one plain prepared INSERT each, one
//                 transaction per page. What ingest spends beyond it is fhirbridge's own work.
//       unkeyed:  (SQLite only) the floor again into a copy of the resources table without its
//                 primary key (append only): what the key's index costs SQLite.
//       staged:   (SQLite only) the floor of a log-structured layout the store could move to:
//                 rows appended to the keyless copy, each page's keys appended to an unindexed
//                 staging table in the same transaction (lookups of staged keys would use an
//                 in-memory set, rebuilt from the table on open, which is not timed), and the
//                 staged keys merged into a key index in one sorted INSERT every
//                 kStagedKeysPerMerge resources and at the end (timed). Each key is looked up
//                 in the index before its row is written, as an upsert would. Left out: the
//                 deletion of a superseded row when a key is updated (none is, in a first
//                 sync) and the read paths that would have to consult the staged keys.
//     STORE is sqlite:PATH or a PostgreSQL DSN (SCHEMA: the schema to use, created if missing).
//     File reading is outside both timings. Each is measured in wall time and in the thread's
//     CPU time (user and system; SQLite runs in this thread, a PostgreSQL server does not).
//     Prints one line of key=value figures, including the process's peak resident memory from
//     getrusage.

#include <simdjson.h>
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "fhir/resource_summary.h"
#include "store/replica_store.h"
#include "store/sqlite.h"
#include "store/sqlite_replica_store.h"
#include "store/store_support.h"
#include "sync/page.h"
#include "sync/store_sync_sink.h"
#include "synth/defects.h"
#include "synth/generator.h"

namespace {

using Clock = std::chrono::steady_clock;

// CPU time of the calling thread (user and system): what one core spent, whatever else the
// machine was doing meanwhile.
std::chrono::nanoseconds ThreadCpuTime() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

int Usage() {
  std::cerr << "usage: fhirbridge_ingest_bench record PAGES_FILE PATIENTS [PER_PAGE]\n"
               "       fhirbridge_ingest_bench ingest PAGES_FILE STORE [SCHEMA]\n";
  return 2;
}

// Collects generated NDJSON lines per resource type and writes a Bundle page per PER_PAGE.
class PageRecorder final : public fhirbridge::synth::SynthOutput {
 public:
  PageRecorder(std::ofstream& out, std::size_t per_page) : out_(out), per_page_(per_page) {}

  fhirbridge::base::Status Append(std::string_view name, std::string_view lines) override {
    if (name == "manifest" || name == "Bundle") return {};
    std::size_t start = 0;
    while (start < lines.size()) {
      std::size_t end = lines.find('\n', start);
      if (end == std::string_view::npos) end = lines.size();
      if (end > start) Add(std::string(name), lines.substr(start, end - start));
      start = end + 1;
    }
    return {};
  }

  void Finish() {
    for (auto& [type, page] : pages_) {
      if (page.count > 0) Flush(page);
    }
  }

  std::uint64_t pages() const { return pages_written_; }
  std::uint64_t resources() const { return resources_; }

 private:
  struct OpenPage {
    std::string text;
    std::size_t count = 0;
  };

  void Add(const std::string& type, std::string_view resource) {
    OpenPage& page = pages_[type];
    if (page.count == 0) {
      page.text += type;
      page.text += R"(	{"resourceType":"Bundle","type":"searchset","entry":[)";
    } else {
      page.text += ",";
    }
    page.text += R"({"fullUrl":"https://fhir.example.org/R4/)";
    page.text += type;
    page.text += R"(","resource":)";
    // As a server sends it: a versionId in the resource's meta (the generator writes its
    // lastUpdated), or a meta first when the resource has none.
    const std::size_t meta = resource.find(R"("meta":{)");
    if (meta != std::string_view::npos) {
      const std::size_t inside = meta + std::string_view(R"("meta":{)").size();
      page.text += resource.substr(0, inside);
      page.text += R"("versionId":"1",)";
      page.text += resource.substr(inside);
    } else {
      const auto instant = fhirbridge::base::FormatInstant(
          fhirbridge::base::SystemTime(std::chrono::milliseconds(1'767'225'600'000 + resources_)));
      page.text += R"({"meta":{"versionId":"1","lastUpdated":")" + instant + "\"},";
      page.text += resource.substr(1);
    }
    page.text += R"(,"search":{"mode":"match"}})";
    ++resources_;
    if (++page.count == per_page_) Flush(page);
  }

  void Flush(OpenPage& page) {
    page.text += "]}\n";
    out_ << page.text;
    page.text.clear();
    page.count = 0;
    ++pages_written_;
  }

  std::ofstream& out_;
  std::size_t per_page_;
  std::map<std::string, OpenPage> pages_;
  std::uint64_t pages_written_ = 0;
  std::uint64_t resources_ = 0;
};

int Record(const std::string& path, std::uint64_t patients, std::size_t per_page) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    std::cerr << "cannot write " << path << "\n";
    return 1;
  }
  fhirbridge::synth::SynthOptions options;
  options.patients = patients;
  options.seed = 1;
  options.rates =
      fhirbridge::synth::DefectRates::ForProfile(fhirbridge::synth::Profile::kRealistic);
  PageRecorder recorder(out, per_page);
  auto summary = fhirbridge::synth::Generate(options, recorder);
  if (!summary) {
    std::cerr << "generation failed: " << summary.error().diagnostic << "\n";
    return 1;
  }
  recorder.Finish();
  out.close();
  if (!out) {
    std::cerr << "cannot write " << path << "\n";
    return 1;
  }
  std::cout << "pages=" << recorder.pages() << " resources=" << recorder.resources() << "\n";
  return 0;
}

// A plain INSERT of every column the store writes for a resource; "%s" is the table.
constexpr const char* kFloorInsert = R"sql(
INSERT INTO %s (site, resource_type, id, version_id, version_number, last_updated,
                       last_updated_us, deleted, content_hash, raw, fetched_at_us, correlation_id,
                       patient_reference, encounter_reference, status, category, code_system,
                       code, effective, effective_us, value_number, value_unit, gender,
                       birth_date)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
        ?20, ?21, ?22, ?23, ?24) %s)sql";

// How the floor pass lays out the rows it writes.
enum class FloorLayout {
  kKeyed,    // the store's table, primary key (site, resource_type, id)
  kUnkeyed,  // the same columns without a key: append only
  kStaged,   // append only, keys staged and merged into a key index in sorted batches
};

// Staged keys merged into the key index at once: enough that a merge touches each leaf of the
// index about once for many resources.
constexpr std::uint64_t kStagedKeysPerMerge = 65536;

constexpr const char* kStagedSchema = R"sql(
CREATE TABLE unkeyed AS SELECT * FROM resources WHERE 0;
CREATE TABLE staged_keys (site TEXT NOT NULL, resource_type TEXT NOT NULL, id TEXT NOT NULL,
                          row INTEGER NOT NULL);
CREATE TABLE key_index (site TEXT NOT NULL, resource_type TEXT NOT NULL, id TEXT NOT NULL,
                        row INTEGER NOT NULL, PRIMARY KEY (site, resource_type, id))
  WITHOUT ROWID;
)sql";

constexpr const char* kMergeStagedKeys = R"sql(
INSERT INTO key_index (site, resource_type, id, row)
  SELECT site, resource_type, id, row FROM staged_keys WHERE true
  ORDER BY site, resource_type, id
  ON CONFLICT (site, resource_type, id) DO UPDATE SET row = excluded.row;
DELETE FROM staged_keys;
)sql";

struct FloorFigures {
  Clock::duration time{};
  std::chrono::nanoseconds cpu{};
  std::uint64_t rows = 0;
};

fhirbridge::base::Status BindOptional(fhirbridge::store::Statement& statement, int index,
                                      const std::optional<std::string>& value) {
  return value ? statement.BindTextReference(index, *value) : statement.BindNull(index);
}

// Binds one prepared resource the way the store does.
fhirbridge::base::Status BindFloorRow(fhirbridge::store::Statement& statement,
                                      const fhirbridge::store::Page& page,
                                      const fhirbridge::store::PreparedResource& resource) {
  const fhirbridge::fhir::ResourceSummary& summary = *resource.summary;
  STORE_TRY(statement.BindTextReference(1, page.site));
  STORE_TRY(statement.BindTextReference(2, summary.resource_type));
  STORE_TRY(statement.BindTextReference(3, summary.id));
  STORE_TRY(statement.BindTextReference(4, summary.version_id));
  STORE_TRY(statement.BindInt64(5, summary.version_number));
  STORE_TRY(statement.BindTextReference(6, summary.last_updated));
  STORE_TRY(statement.BindInt64(7, summary.last_updated_us));
  STORE_TRY(statement.BindInt64(8, 0));
  STORE_TRY(statement.BindTextReference(9, resource.content_hash));
  STORE_TRY(statement.BindTextReference(10, resource.raw));
  STORE_TRY(statement.BindInt64(11, page.fetched_at));
  STORE_TRY(statement.BindTextReference(12, page.correlation_id));
  if (!summary.view) return {};
  const fhirbridge::fhir::ClinicalView& view = *summary.view;
  STORE_TRY(BindOptional(statement, 13, view.patient_reference));
  STORE_TRY(BindOptional(statement, 14, view.encounter_reference));
  STORE_TRY(BindOptional(statement, 15, view.status));
  STORE_TRY(BindOptional(statement, 16, view.category));
  STORE_TRY(BindOptional(statement, 17, view.code_system));
  STORE_TRY(BindOptional(statement, 18, view.code));
  STORE_TRY(BindOptional(statement, 19, view.effective));
  if (view.effective_us) STORE_TRY(statement.BindInt64(20, *view.effective_us));
  if (view.value_number) STORE_TRY(statement.BindDouble(21, *view.value_number));
  STORE_TRY(BindOptional(statement, 22, view.value_unit));
  STORE_TRY(BindOptional(statement, 23, view.gender));
  return BindOptional(statement, 24, view.birth_date);
}

// The floor pass (see the top of the file): SQLite's cost of inserting the rows ingest writes
// in the given layout, with everything else done outside the timing.
fhirbridge::base::Result<FloorFigures> MeasureFloor(const std::string& pages_path,
                                                    const std::string& store_path,
                                                    FloorLayout layout) {
  namespace store = fhirbridge::store;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(store_path + suffix);
  {
    // Creates the schema; the store's own connection is closed before the measured one opens.
    auto created = store::OpenSqliteReplicaStore(store_path);
    if (!created) return std::unexpected(created.error());
  }
  auto database = store::Database::Open(store_path);
  if (!database) return std::unexpected(database.error());
  STORE_TRY(store::ConfigureReplicaConnection(*database));
  const bool keyed = layout == FloorLayout::kKeyed;
  const bool staged = layout == FloorLayout::kStaged;
  if (layout == FloorLayout::kUnkeyed) {
    STORE_TRY(database->Execute("CREATE TABLE unkeyed AS SELECT * FROM resources WHERE 0"));
  }
  if (staged) STORE_TRY(database->Execute(kStagedSchema));
  char sql[1024];
  std::snprintf(sql, sizeof sql, kFloorInsert, keyed ? "resources" : "unkeyed",
                keyed ? "ON CONFLICT DO NOTHING" : "");
  auto insert = database->Prepare(sql, store::StatementLifetime::kLongLived);
  if (!insert) return std::unexpected(insert.error());
  std::optional<store::Statement> look_up;
  std::optional<store::Statement> stage;
  if (staged) {
    auto prepared_look_up = database->Prepare(
        "SELECT row FROM key_index WHERE site = ?1 AND resource_type = ?2 AND id = ?3",
        store::StatementLifetime::kLongLived);
    if (!prepared_look_up) return std::unexpected(prepared_look_up.error());
    look_up.emplace(std::move(*prepared_look_up));
    auto prepared_stage = database->Prepare(
        "INSERT INTO staged_keys (site, resource_type, id, row) VALUES (?1, ?2, ?3, ?4)",
        store::StatementLifetime::kLongLived);
    if (!prepared_stage) return std::unexpected(prepared_stage.error());
    stage.emplace(std::move(*prepared_stage));
  }
  std::uint64_t staged_keys = 0;
  // Merges the staged keys into the index, in a transaction of its own.
  const auto merge = [&]() -> fhirbridge::base::Status {
    auto transaction = store::TransactionGuard::Begin(*database);
    if (!transaction) return std::unexpected(transaction.error());
    STORE_TRY(database->Execute(kMergeStagedKeys));
    STORE_TRY(transaction->Commit());
    staged_keys = 0;
    return {};
  };

  std::ifstream in(pages_path, std::ios::binary);
  fhirbridge::sync::PageParser page_parser;
  fhirbridge::fhir::ResourceSummariser summariser;
  fhirbridge::base::Sha256 hasher;
  std::vector<store::PreparedResource> prepared;
  FloorFigures figures;
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t tab = line.find('\t');
    const std::string type = line.substr(0, tab);
    auto parsed = page_parser.ParseBundle(std::string_view(line).substr(tab + 1),
                                          fhirbridge::sync::BundleKind::kSearchset, type, false);
    if (!parsed) return std::unexpected(parsed.error());
    store::Page page;
    page.site = "bench-site";
    page.fetched_at = store::NowMicros();
    for (const auto& resource : parsed->resources) page.resources.push_back(resource.json);
    store::PrepareResources(page, summariser, hasher, prepared);

    const auto start = Clock::now();
    const auto start_cpu = ThreadCpuTime();
    auto transaction = store::TransactionGuard::Begin(*database);
    if (!transaction) return std::unexpected(transaction.error());
    for (const store::PreparedResource& resource : prepared) {
      if (staged) {
        store::StatementScope scope(*look_up);
        STORE_TRY(scope->BindTextReference(1, page.site));
        STORE_TRY(scope->BindTextReference(2, resource.summary->resource_type));
        STORE_TRY(scope->BindTextReference(3, resource.summary->id));
        if (auto found = scope->Step(); !found) return std::unexpected(found.error());
      }
      {
        store::StatementScope scope(*insert);
        STORE_TRY(BindFloorRow(*scope, page, resource));
        STORE_TRY(scope->Run());
      }
      if (staged) {
        store::StatementScope scope(*stage);
        STORE_TRY(scope->BindTextReference(1, page.site));
        STORE_TRY(scope->BindTextReference(2, resource.summary->resource_type));
        STORE_TRY(scope->BindTextReference(3, resource.summary->id));
        STORE_TRY(scope->BindInt64(4, database->LastInsertRowId()));
        STORE_TRY(scope->Run());
        ++staged_keys;
      }
    }
    STORE_TRY(transaction->Commit());
    if (staged && staged_keys >= kStagedKeysPerMerge) STORE_TRY(merge());
    figures.time += Clock::now() - start;
    figures.cpu += ThreadCpuTime() - start_cpu;
    figures.rows += prepared.size();
  }
  if (staged && staged_keys > 0) {
    const auto start = Clock::now();
    const auto start_cpu = ThreadCpuTime();
    STORE_TRY(merge());
    figures.time += Clock::now() - start;
    figures.cpu += ThreadCpuTime() - start_cpu;
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(store_path + suffix);
  return figures;
}

long PeakRssKilobytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

int Ingest(const std::string& path, const std::string& location, const std::string& schema) {
  auto store = fhirbridge::store::OpenReplicaStore({location, schema});
  if (!store) {
    std::cerr << "cannot open the store: " << store.error().diagnostic << "\n";
    return 1;
  }

  // Pass 1: the baseline, a plain parse of the same bytes.
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot read " << path << "\n";
    return 1;
  }
  simdjson::dom::parser parser;
  std::string line;
  Clock::duration parse_time{};
  std::chrono::nanoseconds parse_cpu{};
  std::uint64_t bytes = 0;
  std::uint64_t parsed_entries = 0;
  while (std::getline(in, line)) {
    const std::size_t tab = line.find('\t');
    if (tab == std::string::npos) {
      std::cerr << "a recorded page has no type; record the pages again\n";
      return 1;
    }
    line.erase(0, tab + 1);
    line.reserve(line.size() + simdjson::SIMDJSON_PADDING);
    const auto start = Clock::now();
    const auto start_cpu = ThreadCpuTime();
    simdjson::dom::element page;
    if (parser.parse(line.data(), line.size(), false).get(page) != simdjson::SUCCESS) {
      std::cerr << "a recorded page is not JSON\n";
      return 1;
    }
    simdjson::dom::array entries;
    if (page["entry"].get_array().get(entries) == simdjson::SUCCESS) {
      parsed_entries += entries.size();
    }
    parse_time += Clock::now() - start;
    parse_cpu += ThreadCpuTime() - start_cpu;
    bytes += line.size();
  }

  // Passes 2 to 4 (SQLite only): the floor in the store's layout, without the key, and staged.
  FloorFigures floor;
  FloorFigures unkeyed;
  FloorFigures staged;
  if (location.starts_with("sqlite:")) {
    const std::string floor_path = location.substr(std::string_view("sqlite:").size()) + ".floor";
    for (auto [layout, figures] :
         {std::pair{FloorLayout::kKeyed, &floor}, std::pair{FloorLayout::kUnkeyed, &unkeyed},
          std::pair{FloorLayout::kStaged, &staged}}) {
      auto measured = MeasureFloor(path, floor_path, layout);
      if (!measured) {
        std::cerr << "the floor pass failed: " << measured.error().diagnostic << "\n";
        return 1;
      }
      *figures = *measured;
    }
  }

  // Pass 4: parse, normalise, store, as sync does; one transaction per page with its
  // checkpoint, counted against a sync run.
  in.clear();
  in.seekg(0);
  fhirbridge::sync::PageParser page_parser;
  fhirbridge::sync::StoreSyncSink sink(std::move(*store), "bench-site");
  fhirbridge::sync::RunRecord record;
  record.site = "bench-site";
  auto run = sink.BeginRun(record);
  if (!run) {
    std::cerr << "starting a sync run failed: " << run.error().diagnostic << "\n";
    return 1;
  }
  Clock::duration ingest_time{};
  std::chrono::nanoseconds ingest_cpu{};
  std::chrono::nanoseconds page_parse_cpu{};  // the part of ingest_cpu in PageParser
  std::uint64_t pages = 0;
  std::set<std::string> types_seen;
  while (std::getline(in, line)) {
    const std::size_t tab = line.find('\t');
    if (tab == std::string::npos) return 1;
    const std::string type = line.substr(0, tab);
    const std::string_view body = std::string_view(line).substr(tab + 1);
    const bool first_page = types_seen.insert(type).second;
    const auto start = Clock::now();
    const auto start_cpu = ThreadCpuTime();
    auto parsed =
        page_parser.ParseBundle(body, fhirbridge::sync::BundleKind::kSearchset, type, first_page);
    page_parse_cpu += ThreadCpuTime() - start_cpu;
    if (!parsed) {
      std::cerr << "a recorded page was refused: " << parsed.error().diagnostic << "\n";
      return 1;
    }
    fhirbridge::sync::PageWrite write;
    write.key = {"bench-site", type, ""};
    write.resources = std::move(parsed->resources);
    write.checkpoint = "{\"page\":" + std::to_string(pages) + "}";
    if (auto committed = sink.CommitPage(write); !committed) {
      std::cerr << "writing a page failed: " << committed.error().diagnostic << "\n";
      return 1;
    }
    ingest_time += Clock::now() - start;
    ingest_cpu += ThreadCpuTime() - start_cpu;
    ++pages;
  }
  auto finished = sink.store().GetSyncRun(*run);
  if (!finished || !*finished) {
    std::cerr << "reading the sync run failed\n";
    return 1;
  }
  const auto stored = static_cast<std::uint64_t>((*finished)->stored);
  const auto malformed = static_cast<std::uint64_t>((*finished)->malformed);
  record.outcome = "succeeded";
  if (auto status = sink.FinishRun(*run, record); !status) {
    std::cerr << "finishing the sync run failed: " << status.error().diagnostic << "\n";
    return 1;
  }

  const double parse_seconds = std::chrono::duration<double>(parse_time).count();
  const double parse_cpu_seconds = std::chrono::duration<double>(parse_cpu).count();
  const double ingest_seconds = std::chrono::duration<double>(ingest_time).count();
  const double ingest_cpu_seconds = std::chrono::duration<double>(ingest_cpu).count();
  const auto resources = static_cast<double>(parsed_entries);
  const double floor_seconds = std::chrono::duration<double>(floor.time).count();
  const double floor_cpu_seconds = std::chrono::duration<double>(floor.cpu).count();
  std::printf(
      "backend=%s pages=%llu resources=%llu stored=%llu malformed=%llu bytes=%llu "
      "parse_seconds=%.3f parse_cpu_seconds=%.3f parse_resources_per_second=%.0f "
      "parse_resources_per_cpu_second=%.0f parse_mb_per_second=%.1f "
      "ingest_seconds=%.3f ingest_cpu_seconds=%.3f ingest_resources_per_second=%.0f "
      "ingest_resources_per_cpu_second=%.0f ingest_page_parse_cpu_seconds=%.3f peak_rss_kb=%ld",
      std::string(sink.store().backend()).c_str(), static_cast<unsigned long long>(pages),
      static_cast<unsigned long long>(parsed_entries), static_cast<unsigned long long>(stored),
      static_cast<unsigned long long>(malformed), static_cast<unsigned long long>(bytes),
      parse_seconds, parse_cpu_seconds, resources / parse_seconds, resources / parse_cpu_seconds,
      static_cast<double>(bytes) / 1e6 / parse_seconds, ingest_seconds, ingest_cpu_seconds,
      resources / ingest_seconds, resources / ingest_cpu_seconds,
      std::chrono::duration<double>(page_parse_cpu).count(), PeakRssKilobytes());
  if (floor.rows > 0) {
    std::printf(
        " floor_rows=%llu floor_seconds=%.3f floor_cpu_seconds=%.3f "
        "floor_resources_per_second=%.0f floor_resources_per_cpu_second=%.0f",
        static_cast<unsigned long long>(floor.rows), floor_seconds, floor_cpu_seconds,
        static_cast<double>(floor.rows) / floor_seconds,
        static_cast<double>(floor.rows) / floor_cpu_seconds);
    std::printf(
        " unkeyed_resources_per_cpu_second=%.0f staged_resources_per_cpu_second=%.0f",
        static_cast<double>(unkeyed.rows) / std::chrono::duration<double>(unkeyed.cpu).count(),
        static_cast<double>(staged.rows) / std::chrono::duration<double>(staged.cpu).count());
  }
  std::printf("\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 3 && args[0] == "record") {
    const auto patients = std::stoull(args[2]);
    const std::size_t per_page = args.size() >= 4 ? std::stoul(args[3]) : 100;
    if (patients == 0 || per_page == 0) return Usage();
    return Record(args[1], patients, per_page);
  }
  if (args.size() >= 3 && args[0] == "ingest") {
    return Ingest(args[1], args[2], args.size() >= 4 ? args[3] : "");
  }
  return Usage();
}
