#include "sync/engine.h"

#include <future>
#include <nlohmann/json.hpp>
#include <set>

#include "base/clock.h"
#include "sync/bulk_export_strategy.h"
#include "sync/page.h"

namespace fhirbridge::sync {

namespace {

// The longest history an incremental _lastUpdated run reads in one go, without moving the
// checkpoint in between (see IncrementalFromHistory).
constexpr std::int64_t kHistoryPagesWithoutCheckpoint = 10;

using base::ErrorCode;
using base::Fail;
using nlohmann::json;

// A checkpoint value is a small JSON object; an unreadable one is treated as absent, which
// only costs a full re-read (dedupe keeps the store right).
json ParseCheckpoint(const std::optional<std::string>& value) {
  if (!value) return json::object();
  json parsed = json::parse(*value, nullptr, false);
  return parsed.is_object() ? parsed : json::object();
}

std::string Member(const json& object, const char* key) {
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

std::int64_t IntegerMember(const json& object, const char* key) {
  const auto found = object.find(key);
  return found != object.end() && found->is_number_integer() ? found->get<std::int64_t>() : 0;
}

// `instant` moved back by `overlap`, in the canonical form; "" stays "".
std::string MinusOverlap(const std::string& instant, std::chrono::milliseconds overlap) {
  const auto parsed = base::ParseInstant(instant);
  if (!parsed) return {};
  return base::FormatInstant(*parsed - overlap);
}

std::string Later(const std::string& a, const std::string& b) { return a < b ? b : a; }

}  // namespace

std::map<std::string, std::string> SyncOptions::DefaultPerPatientFilters() {
  // Epic refuses an Observation search without category or code (59108); these are the
  // categories of the FHIR observation-category code system, asked for at once.
  return {{"Observation",
           "category=vital-signs,laboratory,social-history,exam,imaging,procedure,survey,therapy,"
           "activity"}};
}

bool SyncReport::succeeded() const {
  for (const TypeOutcome& outcome : types) {
    if (!outcome.succeeded) return false;
  }
  return true;
}

std::int64_t SyncReport::requests() const {
  std::int64_t total = 0;
  for (const TypeOutcome& outcome : types) total += outcome.requests;
  return total;
}

std::int64_t SyncReport::resources_received() const {
  std::int64_t total = 0;
  for (const TypeOutcome& outcome : types) total += outcome.resources_received;
  return total;
}

// One type's run: the strategy's steps, with the counters, the parser and the position that
// quarantine records.
class SyncEngine::TypeRun {
 public:
  TypeRun(SyncEngine& engine, const TypePlan& plan)
      : engine_(engine), options_(engine.options_), plan_(plan) {
    outcome_.type = plan.type;
    outcome_.strategy = plan.strategy;
  }

  TypeOutcome Run() {
    const std::string strategy(StrategyName(plan_.strategy));
    RunRecord record{options_.site, plan_.type, strategy, "running", "", 0, 0, 0, {}};
    auto run_id = engine_.sink_.BeginRun(record);
    Emit(ProgressEvent::Kind::kTypeStarted);

    base::Status status;
    if (!run_id) {
      status = Fail(run_id.error());
    } else {
      switch (plan_.strategy) {
        case Strategy::kLastUpdatedWindows:
          status = LastUpdatedWindows();
          break;
        case Strategy::kHistorySince:
          status = HistorySince();
          break;
        case Strategy::kPerPatientRefresh:
          status = PerPatientRefresh();
          break;
        case Strategy::kBulkExport:
          status = BulkExportRun(engine_.source_, engine_.sink_, engine_.progress_, options_, plan_,
                                 outcome_)
                       .Run();
          break;
        case Strategy::kNone:
          status = Fail(ErrorCode::kCapabilityUnavailable, "No strategy fits: " + plan_.reason);
          break;
      }
    }
    // A traversal that stopped early may leave a page fetched ahead; nothing is in flight after.
    DiscardPrefetch();
    outcome_.succeeded = status.has_value();
    if (!status) outcome_.error = status.error();

    record.outcome = outcome_.succeeded ? "succeeded" : "failed";
    record.error = outcome_.error ? outcome_.error->ToString() : "";
    record.requests = outcome_.requests;
    record.resources_written = outcome_.resources_received;
    record.tombstones_written = outcome_.tombstones_received;
    record.warnings = outcome_.warnings;
    if (run_id) {
      if (auto finished = engine_.sink_.FinishRun(*run_id, record); !finished && status) {
        outcome_.succeeded = false;
        outcome_.error = finished.error();
      }
    }
    ProgressEvent done = MakeEvent(ProgressEvent::Kind::kTypeFinished);
    done.succeeded = outcome_.succeeded;
    done.error = outcome_.error;
    engine_.progress_.OnEvent(done);
    return outcome_;
  }

 private:
  // What fetching one page gave: the page, or an expired paging session.
  struct PageResult {
    ParsedPage page;
    bool expired = false;
  };

  // A GET's outcome and, for a 200, its Bundle parsed.
  struct FetchedPage {
    base::Result<FetchResponse> response;
    std::optional<base::Result<ParsedPage>> page;
  };

  struct Prefetch {
    std::string url;
    BundleKind kind;
    std::future<FetchedPage> page;
  };

  CheckpointKey TypeKey() const { return {options_.site, plan_.type, ""}; }

  ProgressEvent MakeEvent(ProgressEvent::Kind kind) const {
    ProgressEvent event;
    event.kind = kind;
    event.site = options_.site;
    event.resource_type = plan_.type;
    event.strategy = std::string(StrategyName(plan_.strategy));
    event.request_id = last_request_id_;
    event.requests = outcome_.requests;
    event.resources = outcome_.resources_received + outcome_.tombstones_received;
    event.expected = expected_;
    return event;
  }

  void Emit(ProgressEvent::Kind kind) { engine_.progress_.OnEvent(MakeEvent(kind)); }

  // A single GET through the engine's source. Waits for a page fetched ahead first: the source
  // serves one request at a time.
  base::Result<FetchResponse> Fetch(const std::string& url,
                                    std::vector<http::Header> headers = {}) {
    DiscardPrefetch();
    ++outcome_.requests;
    auto response = engine_.source_.Get({url, std::move(headers)});
    if (response) last_request_id_ = response->request_id;
    return response;
  }

  // Fetches and parses one Bundle page. A 410 on a follow-up page is an expired paging session
  // (Epic's 4113); any other refusal fails the type. A malformed page is quarantined. Unless
  // `follows_next` is false (the caller will not read on), a page with a next link has its next
  // page fetched on another thread while the caller commits it.
  base::Result<PageResult> FetchPage(const std::string& url, BundleKind kind, bool first_page,
                                     bool follows_next = true) {
    ++page_number_;
    FetchedPage fetched;
    if (prefetch_ && prefetch_->url == url && prefetch_->kind == kind && !first_page) {
      fetched = prefetch_->page.get();
      prefetch_.reset();
    } else {
      DiscardPrefetch();
      ++outcome_.requests;
      fetched = GetAndParse(engine_.source_, parser_, url, kind, plan_.type, first_page);
    }
    auto& response = fetched.response;
    if (!response) return Fail(response.error());
    last_request_id_ = response->request_id;
    if (response->status == 410 && !first_page) return PageResult{{}, true};
    if (response->status != 200) {
      return Fail(ErrorCode::kRemoteRejected,
                  "The site answered " + std::to_string(response->status) + " to a " +
                      (kind == BundleKind::kHistory ? "history" : "search") + " page of " +
                      plan_.type + " (request " + response->request_id + ").");
    }
    auto& page = *fetched.page;
    if (!page) {
      QuarantinedPage quarantined{options_.site,
                                  plan_.type,
                                  response->request_id,
                                  position_ + " page=" + std::to_string(page_number_),
                                  url,
                                  page.error().ToString(),
                                  std::move(response->body)};
      if (auto kept = engine_.sink_.Quarantine(quarantined); !kept) return Fail(kept.error());
      base::Error error = page.error();
      error.diagnostic = "Page " + std::to_string(page_number_) + " of " + plan_.type +
                         " (request " + response->request_id +
                         ") was quarantined: " + error.diagnostic;
      return Fail(std::move(error));
    }
    if (first_page && page->total) expected_ = *page->total;
    if (page->next_url && follows_next) StartPrefetch(*page->next_url, kind);
    return PageResult{std::move(*page), false};
  }

  // One GET and, for a 200, its Bundle parsed. Runs on the prefetch thread too, so it touches
  // only what it is given.
  static FetchedPage GetAndParse(PageSource& source, PageParser& parser, const std::string& url,
                                 BundleKind kind, const std::string& type, bool first_page) {
    FetchedPage fetched{source.Get({url, {}}), std::nullopt};
    if (fetched.response && fetched.response->status == 200) {
      fetched.page = parser.ParseBundle(fetched.response->body, kind, type, first_page);
    }
    return fetched;
  }

  // Fetches the follow-up page `url` on another thread, so that the site's answer and the
  // store's transaction for the current page overlap. Only one request is ever in flight on the
  // source: every other fetch waits for this one first.
  void StartPrefetch(const std::string& url, BundleKind kind) {
    ++outcome_.requests;
    prefetch_.emplace(Prefetch{url, kind, std::async(std::launch::async, [this, url, kind] {
                                 return GetAndParse(engine_.source_, prefetch_parser_, url, kind,
                                                    plan_.type, false);
                               })});
  }

  // Waits for a page fetched ahead that will not be used (the traversal stopped or started
  // over); its request still counts.
  void DiscardPrefetch() {
    if (!prefetch_) return;
    prefetch_->page.wait();
    prefetch_.reset();
  }

  base::Status Commit(PageWrite write) {
    const auto resources = static_cast<std::int64_t>(write.resources.size());
    const auto tombstones = static_cast<std::int64_t>(write.tombstones.size());
    if (auto status = engine_.sink_.CommitPage(write); !status) return status;
    outcome_.resources_received += resources;
    outcome_.tombstones_received += tombstones;
    Emit(ProgressEvent::Kind::kPageCommitted);
    return {};
  }

  base::Status Restarted(const std::string& why) {
    if (++outcome_.restarts > options_.max_restarts) {
      return Fail(ErrorCode::kRetriesExhausted,
                  "The traversal of " + plan_.type + " started over " +
                      std::to_string(options_.max_restarts) + " times; last reason: " + why);
    }
    ProgressEvent event = MakeEvent(ProgressEvent::Kind::kRestarted);
    event.error = base::MakeError(ErrorCode::kPagingSessionExpired, why);
    engine_.progress_.OnEvent(event);
    return {};
  }

  std::string SearchUrl(const std::string& query) const {
    return options_.base_url + "/" + plan_.type + "?" + query;
  }

  // _lastUpdated windows: oldest first, so after each page the checkpoint is the latest
  // lastUpdated stored; a window starts `overlap` before it. The first run reads in the server's
  // default order instead (cheaper for servers that sort by computing every match's value),
  // and then starts its windows at the newest lastUpdated the server had before that read.
  // Then deletions: from type history since the run started where it is allowed; otherwise one
  // count request, and an id sweep only when the store holds more live resources than the site.
  // Where type history is allowed, an incremental run reads history first, which can answer the
  // whole run (see IncrementalFromHistory).
  base::Status LastUpdatedWindows() {
    auto stored = engine_.sink_.ReadCheckpoint(TypeKey());
    if (!stored) return Fail(stored.error());
    const json checkpoint = ParseCheckpoint(*stored);
    std::string high_water = Member(checkpoint, "high_water");
    const std::string run_start = high_water;
    if (high_water.empty()) {
      auto initial = InitialRead(checkpoint.value("initial", json::object()));
      if (!initial) return Fail(initial.error());
      high_water = *initial;
    } else if (plan_.history_for_deletions) {
      auto answered = IncrementalFromHistory(high_water);
      if (!answered) return Fail(answered.error());
      if (*answered) return {};
    }
    const std::string count = "_count=" + std::to_string(options_.page_size);

    while (true) {
      const std::string window_start = high_water;
      position_ = "strategy=lastupdated checkpoint=" + (high_water.empty() ? "none" : high_water);
      std::string url = SearchUrl("_sort=_lastUpdated&" + count);
      if (!high_water.empty()) {
        url += "&_lastUpdated=gt" + MinusOverlap(high_water, options_.overlap);
      }
      bool first = true;
      bool expired = false;
      std::size_t first_entries = 0;
      std::size_t last_entries = 0;
      while (!url.empty()) {
        auto result = FetchPage(url, BundleKind::kSearchset, first);
        if (!result) return Fail(result.error());
        if (result->expired) {
          expired = true;
          break;
        }
        ParsedPage& page = result->page;
        high_water = Later(high_water, page.max_last_updated);
        if (first) first_entries = page.entries;
        last_entries = page.entries;
        first = false;
        if (auto status = Commit({TypeKey(),
                                  std::move(page.resources),
                                  {},
                                  json{{"high_water", high_water}}.dump()});
            !status) {
          return status;
        }
        url = page.next_url.value_or("");
      }
      if (expired) {
        if (auto status = Restarted("the paging session expired"); !status) return status;
        continue;
      }
      // A window whose last page is as full as its first may have lost its next link; one more
      // window from the checkpoint settles it.
      if (last_entries > 0 && last_entries >= first_entries &&
          first_entries >= static_cast<std::size_t>(options_.page_size) &&
          high_water != window_start) {
        if (auto status = Restarted("a full page ended the window"); !status) return status;
        continue;
      }
      break;
    }
    return FindDeletionsByCount(run_start);
  }

  // An incremental run where type history is allowed: history since the checkpoint (less the
  // overlap) holds every change since, deletions included, so when it is short it is the whole
  // run: one request per type when fewer than a page of changes came, where windows and a
  // history read for deletions would cost two. History comes newest first, so the checkpoint
  // can only move once every page is stored; a run stopped in between reads it all again. That
  // is why a history of more than kHistoryPagesWithoutCheckpoint pages (by the first page's
  // total) is left to the windows, which move the checkpoint page by page; so is a history that
  // gives no total, whose paging session expired, or that ended before its total (a lost next
  // link). Returns whether history answered the run; the pages read are stored either way.
  base::Result<bool> IncrementalFromHistory(const std::string& high_water) {
    outcome_.deletion_check = "history";
    position_ = "strategy=lastupdated history checkpoint=" + high_water;
    std::string url = options_.base_url + "/" + plan_.type +
                      "/_history?_count=" + std::to_string(options_.page_size) +
                      "&_since=" + MinusOverlap(high_water, options_.overlap);
    std::string newest = high_water;
    std::int64_t seen = 0;
    std::int64_t total = -1;
    bool first = true;
    while (true) {
      auto result = FetchPage(url, BundleKind::kHistory, first, /*follows_next=*/!first);
      if (!result) return Fail(result.error());
      if (result->expired) return false;
      ParsedPage& page = result->page;
      if (first) {
        total = page.total.value_or(-1);
        const std::int64_t most = kHistoryPagesWithoutCheckpoint * std::int64_t{options_.page_size};
        const bool short_history = total >= 0 && total <= most;
        if (page.next_url && !short_history) {
          if (auto status = Commit(
                  {TypeKey(), std::move(page.resources), std::move(page.tombstones), std::nullopt});
              !status) {
            return Fail(status.error());
          }
          return false;
        }
        if (page.next_url) StartPrefetch(*page.next_url, BundleKind::kHistory);
      }
      first = false;
      seen += static_cast<std::int64_t>(page.entries);
      newest = Later(newest, page.max_last_updated);
      const bool complete = !page.next_url && seen >= total;
      std::optional<std::string> checkpoint;
      if (complete) checkpoint = json{{"high_water", newest}}.dump();
      if (auto status = Commit({TypeKey(), std::move(page.resources), std::move(page.tombstones),
                                std::move(checkpoint)});
          !status) {
        return Fail(status.error());
      }
      if (!page.next_url) return complete;
      url = *page.next_url;
    }
  }

  // The first read of a type, in the server's default order. `initial` is the checkpoint of an
  // interrupted first read: the newest lastUpdated before it started and the next link.
  // Returns the checkpoint the windows start from: that newest lastUpdated once every page is
  // stored, or "" when the paging session expired (the windows then read everything, sorted,
  // which checkpoints as it goes) or the type is empty.
  base::Result<std::string> InitialRead(const json& initial) {
    std::string newest = Member(initial, "high_water");
    std::string url = Member(initial, "next");
    position_ = "strategy=lastupdated initial";
    if (url.empty()) {
      // Every change from now on has a later lastUpdated than the newest resource now.
      auto probe = FetchPage(SearchUrl("_sort=-_lastUpdated&_count=1"), BundleKind::kSearchset,
                             true, /*follows_next=*/false);
      if (!probe) return Fail(probe.error());
      newest = probe->page.max_last_updated;
      if (newest.empty()) return std::string();
      url = SearchUrl("_count=" + std::to_string(options_.page_size));
    }
    bool first = true;
    while (true) {
      auto result = FetchPage(url, BundleKind::kSearchset, first);
      if (!result) return Fail(result.error());
      if (result->expired) {
        if (auto status = Restarted("the paging session of the first read expired"); !status) {
          return Fail(status.error());
        }
        if (auto status = Commit({TypeKey(), {}, {}, json::object().dump()}); !status) {
          return Fail(status.error());
        }
        return std::string();
      }
      first = false;
      ParsedPage& page = result->page;
      const json next_checkpoint =
          page.next_url ? json{{"initial", {{"high_water", newest}, {"next", *page.next_url}}}}
                        : json{{"high_water", newest}};
      if (auto status = Commit({TypeKey(), std::move(page.resources), {}, next_checkpoint.dump()});
          !status) {
        return Fail(status.error());
      }
      if (!page.next_url) return newest;
      url = *page.next_url;
    }
  }

  base::Status FindDeletionsByCount(const std::string& run_start) {
    // Where type history is allowed, reading it since the run started finds the deletions
    // exactly, and costs one request when little changed, as much as the count would.
    if (plan_.history_for_deletions && !run_start.empty()) return HistoryDeletions(run_start);
    auto response = Fetch(SearchUrl("_summary=count"));
    if (!response) return Fail(response.error());
    if (response->status != 200) {
      return Fail(ErrorCode::kRemoteRejected, "The site answered " +
                                                  std::to_string(response->status) +
                                                  " to a count of " + plan_.type + ".");
    }
    auto page = parser_.ParseBundle(response->body, BundleKind::kSearchset, plan_.type, false);
    if (!page || !page->total) {
      return Fail(ErrorCode::kMalformedResponse, "The count of " + plan_.type + " (request " +
                                                     response->request_id + ") has no total.");
    }
    auto live = engine_.sink_.LiveIds(plan_.type);
    if (!live) return Fail(live.error());
    // Every resource the site has was read by the windows (or was written since), so more live
    // resources here than there means some were deleted.
    if (static_cast<std::int64_t>(live->size()) <= *page->total) return {};
    return SweepIds();
  }

  // Reads type history since the run's first window started; its deletes become tombstones
  // (its versions are stored too, which dedupe makes harmless).
  base::Status HistoryDeletions(const std::string& run_start) {
    outcome_.deletion_check = "history";
    while (true) {
      position_ = "strategy=lastupdated deletions";
      std::string url = options_.base_url + "/" + plan_.type +
                        "/_history?_count=" + std::to_string(options_.page_size) +
                        "&_since=" + MinusOverlap(run_start, options_.overlap);
      bool first = true;
      bool expired = false;
      while (!url.empty()) {
        auto result = FetchPage(url, BundleKind::kHistory, first);
        if (!result) return Fail(result.error());
        if (result->expired) {
          expired = true;
          break;
        }
        first = false;
        if (auto status = Commit({TypeKey(), std::move(result->page.resources),
                                  std::move(result->page.tombstones), std::nullopt});
            !status) {
          return status;
        }
        url = result->page.next_url.value_or("");
      }
      if (!expired) return {};
      if (auto status = Restarted("the paging session expired reading deletions"); !status) {
        return status;
      }
    }
  }

  // Reads every current id and tombstones the stored ones the site no longer has.
  base::Status SweepIds() {
    outcome_.deletion_check = "sweep";
    while (true) {
      position_ = "strategy=lastupdated sweep";
      std::set<std::string> seen;
      std::string url = SearchUrl("_count=" + std::to_string(options_.page_size));
      bool first = true;
      bool expired = false;
      while (!url.empty()) {
        auto result = FetchPage(url, BundleKind::kSearchset, first);
        if (!result) return Fail(result.error());
        if (result->expired) {
          expired = true;
          break;
        }
        first = false;
        for (const SyncedResource& resource : result->page.resources) seen.insert(resource.id);
        if (auto status = Commit({TypeKey(), std::move(result->page.resources), {}, std::nullopt});
            !status) {
          return status;
        }
        url = result->page.next_url.value_or("");
      }
      if (expired) {
        if (auto status = Restarted("the paging session expired during the id sweep"); !status) {
          return status;
        }
        continue;
      }
      auto live = engine_.sink_.LiveIds(plan_.type);
      if (!live) return Fail(live.error());
      PageWrite deletions{TypeKey(), {}, {}, std::nullopt};
      for (const std::string& id : *live) {
        if (!seen.contains(id)) deletions.tombstones.push_back({plan_.type, id, 0, ""});
      }
      return Commit(std::move(deletions));
    }
  }

  // _history with _since, newest first. The checkpoint keeps the traversal's next link, so a
  // stopped run goes on from the page after the last one stored; when the traversal ends,
  // _since moves to the latest change seen minus the overlap. A traversal that ends before the
  // Bundle's total was read (a lost next link) or whose session expired starts over.
  base::Status HistorySince() {
    auto stored = engine_.sink_.ReadCheckpoint(TypeKey());
    if (!stored) return Fail(stored.error());
    const json checkpoint = ParseCheckpoint(*stored);
    const std::string since = Member(checkpoint, "since");
    std::string high_water = Member(checkpoint, "high_water");
    std::string url = Member(checkpoint, "next");
    std::int64_t seen = IntegerMember(checkpoint, "seen");
    std::int64_t total = IntegerMember(checkpoint, "total");
    std::string fresh = options_.base_url + "/" + plan_.type +
                        "/_history?_count=" + std::to_string(options_.page_size);
    if (!since.empty()) fresh += "&_since=" + since;
    position_ = "strategy=history since=" + (since.empty() ? "none" : since);

    bool first = url.empty();
    if (first) url = fresh;
    while (true) {
      auto result = FetchPage(url, BundleKind::kHistory, first);
      if (!result) return Fail(result.error());
      if (result->expired) {
        if (auto status = Restarted("the paging session expired"); !status) return status;
        url = fresh;
        first = true;
        continue;
      }
      ParsedPage& page = result->page;
      if (first) {
        seen = 0;
        total = page.total.value_or(0);
      }
      first = false;
      seen += static_cast<std::int64_t>(page.entries);
      high_water = Later(high_water, page.max_last_updated);

      json next_checkpoint;
      const bool ended = !page.next_url;
      const bool short_of_total = ended && seen < total;
      if (ended && !short_of_total) {
        const std::string next_since =
            high_water.empty() ? since : MinusOverlap(high_water, options_.overlap);
        next_checkpoint = {{"since", next_since}, {"high_water", high_water}};
      } else {
        next_checkpoint = {{"since", since},
                           {"high_water", high_water},
                           {"next", page.next_url.value_or("")},
                           {"seen", seen},
                           {"total", total}};
      }
      if (auto status = Commit({TypeKey(), std::move(page.resources), std::move(page.tombstones),
                                next_checkpoint.dump()});
          !status) {
        return status;
      }
      if (!ended) {
        url = *page.next_url;
        continue;
      }
      if (!short_of_total) return {};
      if (auto status = Restarted("the history ended before its total"); !status) return status;
      url = fresh;
      first = true;
    }
  }

  // Per-patient refresh, in passes over the cohort. The type's checkpoint holds the pass
  // number; each patient's checkpoint, committed with that patient's changes, records the pass
  // it was refreshed in, so a stopped pass skips the patients already done.
  base::Status PerPatientRefresh() {
    auto stored = engine_.sink_.ReadCheckpoint(TypeKey());
    if (!stored) return Fail(stored.error());
    const std::int64_t pass =
        std::max<std::int64_t>(1, IntegerMember(ParseCheckpoint(*stored), "pass"));
    expected_ = static_cast<std::int64_t>(options_.patient_cohort.size());
    for (std::size_t index = 0; index < options_.patient_cohort.size(); ++index) {
      const std::string& patient = options_.patient_cohort[index];
      const CheckpointKey key{options_.site, plan_.type, patient};
      auto done = engine_.sink_.ReadCheckpoint(key);
      if (!done) return Fail(done.error());
      if (IntegerMember(ParseCheckpoint(*done), "pass") == pass) continue;
      position_ =
          "strategy=per-patient pass=" + std::to_string(pass) + " patient=" + std::to_string(index);
      const std::string patient_checkpoint = json{{"pass", pass}}.dump();
      auto status = plan_.type == "Patient" ? RefreshPatient(key, patient_checkpoint)
                                            : RefreshCompartment(key, patient_checkpoint);
      if (!status) return status;
    }
    return Commit({TypeKey(), {}, {}, json{{"pass", pass + 1}}.dump()});
  }

  // A single-resource refresh: If-None-Match with the stored ETag, so an unchanged patient
  // costs a 304 and no body.
  base::Status RefreshPatient(const CheckpointKey& key, const std::string& checkpoint) {
    const std::string& id = key.context;
    auto stored = engine_.sink_.ReadResource("Patient", id);
    if (!stored) return Fail(stored.error());
    std::vector<http::Header> headers;
    if (*stored && !(*stored)->deleted && !(*stored)->etag.empty()) {
      headers.push_back({"If-None-Match", (*stored)->etag});
    }
    auto response = Fetch(options_.base_url + "/Patient/" + id, std::move(headers));
    if (!response) return Fail(response.error());
    PageWrite write{key, {}, {}, checkpoint};
    if (response->status == 304) return Commit(std::move(write));
    if (response->status == 404 || response->status == 410) {
      write.tombstones.push_back({"Patient", id, 0, ""});
      return Commit(std::move(write));
    }
    if (response->status != 200) {
      return Fail(ErrorCode::kRemoteRejected,
                  "The site answered " + std::to_string(response->status) +
                      " to a Patient read (request " + response->request_id + ").");
    }
    auto resource = parser_.ParseResource(response->body, "Patient");
    if (!resource || resource->id != id) {
      const std::string error =
          resource ? "The Patient read returned another id." : resource.error().ToString();
      QuarantinedPage quarantined{options_.site,
                                  plan_.type,
                                  response->request_id,
                                  position_,
                                  options_.base_url + "/Patient/" + id,
                                  error,
                                  std::move(response->body)};
      if (auto kept = engine_.sink_.Quarantine(quarantined); !kept) return kept;
      return Fail(ErrorCode::kMalformedResponse, "A Patient read (request " + response->request_id +
                                                     ") was quarantined: " + error);
    }
    if (const std::string* etag = response->FindHeader("etag")) {
      resource->etag = *etag;
      if (resource->version == 0) resource->version = VersionOfEtag(*etag);
    }
    resource->context = id;
    write.resources.push_back(std::move(*resource));
    return Commit(std::move(write));
  }

  // Searches one patient's compartment for the type and commits what changed (by content hash)
  // and what is gone, with the patient's checkpoint, in one transaction.
  base::Status RefreshCompartment(const CheckpointKey& key, const std::string& checkpoint) {
    std::string query = plan_.patient_parameter + "=" + key.context +
                        "&_count=" + std::to_string(options_.page_size);
    if (const auto filter = options_.per_patient_filters.find(plan_.type);
        filter != options_.per_patient_filters.end()) {
      query += "&" + filter->second;
    }
    while (true) {
      std::vector<SyncedResource> returned;
      std::string url = SearchUrl(query);
      bool first = true;
      bool expired = false;
      while (!url.empty()) {
        auto result = FetchPage(url, BundleKind::kSearchset, first);
        if (!result) return Fail(result.error());
        if (result->expired) {
          expired = true;
          break;
        }
        first = false;
        for (SyncedResource& resource : result->page.resources) {
          resource.context = key.context;
          returned.push_back(std::move(resource));
        }
        url = result->page.next_url.value_or("");
      }
      if (expired) {
        if (auto status = Restarted("the paging session expired"); !status) return status;
        continue;
      }

      auto hashes = engine_.sink_.ContentHashes(plan_.type, key.context);
      if (!hashes) return Fail(hashes.error());
      PageWrite write{key, {}, {}, checkpoint};
      std::set<std::string> ids;
      for (SyncedResource& resource : returned) {
        ids.insert(resource.id);
        const auto known = hashes->find(resource.id);
        if (known == hashes->end() || known->second != resource.content_hash) {
          write.resources.push_back(std::move(resource));
        }
      }
      for (const auto& [id, hash] : *hashes) {
        if (!ids.contains(id)) write.tombstones.push_back({plan_.type, id, 0, ""});
      }
      return Commit(std::move(write));
    }
  }

  SyncEngine& engine_;
  const SyncOptions& options_;
  const TypePlan& plan_;
  TypeOutcome outcome_;
  PageParser parser_;
  // The follow-up page being fetched ahead, and the parser its thread uses.
  PageParser prefetch_parser_;
  std::optional<Prefetch> prefetch_;
  std::string position_;
  std::string last_request_id_;
  std::int64_t page_number_ = 0;
  std::int64_t expected_ = -1;
};

SyncEngine::SyncEngine(PageSource& source, SyncSink& sink, ProgressObserver& progress,
                       SyncOptions options)
    : source_(source), sink_(sink), progress_(progress), options_(std::move(options)) {}

SyncReport SyncEngine::Run(const std::vector<TypePlan>& plan) {
  SyncReport report;
  for (const TypePlan& entry : plan) report.types.push_back(SyncType(entry));
  return report;
}

TypeOutcome SyncEngine::SyncType(const TypePlan& plan) { return TypeRun(*this, plan).Run(); }

}  // namespace fhirbridge::sync
