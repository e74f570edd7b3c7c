#include "sandbox/bulk_load.h"

#include <simdjson.h>

#include <algorithm>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <vector>

#include "fhir/resource_types.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;

constexpr std::size_t kMaxIdLength = 200;

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

bool IsBlank(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

// Lines are prepared (parsed, checked, stamped, serialised and their search values extracted)
// this many at a time on another thread, while the calling thread stores the batch before.
// Preparing is about a third of a first load's CPU time (perf on bench/seed_bench.sh), so with
// a free core a load takes up to that much less time; without one the two threads take turns.
constexpr std::size_t kLinesPerBatch = 256;

// A batch of lines made ready for Transaction::LoadPrepared; preparing stops at a bad line.
struct PreparedBatch {
  std::vector<PreparedLoad> loads;
  std::vector<std::int64_t> numbers;  // the line of each of `loads`
  std::int64_t lines = 0;             // lines read, blank ones and a bad one included
  std::optional<base::Error> error;   // the bad line's, if any
};

// Parses and checks line `number` and prepares its resource, stamped with `instant`.
base::Result<PreparedLoad> PrepareLine(std::string_view line, std::int64_t number,
                                       std::string_view instant) {
  const std::string where = "line " + std::to_string(number) + ": ";

  // Parsed here rather than by fhir::ParseResource so that a JSON mistake is placed by line of
  // the NDJSON and column within it.
  fhir::Json parsed;
  try {
    parsed = fhir::Json::parse(line);
  } catch (const fhir::Json::parse_error& error) {
    const std::size_t column = std::min<std::size_t>(error.byte, line.size() + 1);
    return base::Fail(ErrorCode::kInvalidJson, "line " + std::to_string(number) + ", column " +
                                                   std::to_string(column) +
                                                   ": the line is not valid JSON");
  }
  if (!parsed.is_object()) {
    return base::Fail(ErrorCode::kInvalidResource, where + "the line is not a JSON object");
  }
  const auto type_member = parsed.find("resourceType");
  if (type_member == parsed.end() || !type_member->is_string() ||
      !fhir::IsR4ResourceType(type_member->get_ref<const std::string&>())) {
    return base::Fail(ErrorCode::kInvalidResource,
                      where + "the resource has no resourceType naming a FHIR R4 type",
                      "resourceType");
  }
  const auto id = parsed.find("id");
  if (id == parsed.end() || !id->is_string() || !IsValidId(id->get_ref<const std::string&>())) {
    return base::Fail(ErrorCode::kInvalidResource,
                      where + "the resource needs an id of 1 to 200 letters, digits, '-' or '.'",
                      "id");
  }
  // Copied: preparing rewrites the resource's id and meta in place.
  const std::string type = type_member->get<std::string>();
  const std::string id_text = id->get<std::string>();
  auto prepared = PrepareLoad(type, id_text, parsed, instant);
  if (!prepared) {
    base::Error error = prepared.error();
    error.diagnostic = where + error.diagnostic;
    return base::Fail(std::move(error));
  }
  return prepared;
}

// `present` holds, per line, the type of a resource the store already holds (empty for the
// others): such a line needs no preparing and yields a PreparedLoad without entries.
PreparedBatch PrepareBatch(std::span<const std::string_view> lines,
                           std::span<const std::string> present, std::int64_t first_number,
                           std::string instant) {
  PreparedBatch batch;
  batch.loads.reserve(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const std::int64_t number = first_number + batch.lines;
    ++batch.lines;
    if (IsBlank(line)) continue;
    if (!present[i].empty()) {
      PreparedLoad known;
      known.type = present[i];
      batch.loads.push_back(std::move(known));
      batch.numbers.push_back(number);
      continue;
    }
    auto prepared = PrepareLine(line, number, instant);
    if (!prepared) {
      batch.error = prepared.error();
      break;
    }
    batch.loads.push_back(std::move(*prepared));
    batch.numbers.push_back(number);
  }
  return batch;
}

}  // namespace

BulkLoader::BulkLoader(ResourceStore& store, std::size_t resources_per_transaction)
    : store_(store), resources_per_transaction_(resources_per_transaction) {}

BulkLoader::~BulkLoader() = default;

base::Status BulkLoader::Add(std::string_view ndjson) {
  if (failed_) {
    return base::Fail(ErrorCode::kInvalidParameter,
                      "an earlier line failed; this bulk load accepts no more input");
  }
  std::vector<std::string_view> lines;
  while (!ndjson.empty()) {
    const std::size_t end = ndjson.find('\n');
    lines.push_back(ndjson.substr(0, end));
    ndjson.remove_prefix(end == std::string_view::npos ? ndjson.size() : end + 1);
  }
  if (lines.empty()) return {};

  // Resources are stamped with the open transaction's instant; one that ends up in a later
  // transaction (resources_per_transaction) is stamped again when it is stored.
  if (auto begun = BeginIfNeeded(); !begun) return Abandon(begun);
  auto instant = transaction_->LoadInstant();
  if (!instant) return Abandon(base::Fail(instant.error()));

  auto present = FindPresent(lines);
  if (!present) return Abandon(base::Fail(present.error()));

  const std::int64_t lines_before = counts_.lines;
  const auto prepare = [&](std::size_t first) {
    const std::size_t count = std::min(kLinesPerBatch, lines.size() - first);
    return std::async(std::launch::async, PrepareBatch,
                      std::span<const std::string_view>(lines).subspan(first, count),
                      std::span<const std::string>(*present).subspan(first, count),
                      lines_before + static_cast<std::int64_t>(first) + 1, *instant);
  };
  std::future<PreparedBatch> next = prepare(0);
  for (std::size_t first = 0; first < lines.size(); first += kLinesPerBatch) {
    PreparedBatch batch = next.get();
    if (first + kLinesPerBatch < lines.size()) next = prepare(first + kLinesPerBatch);
    for (std::size_t i = 0; i < batch.loads.size(); ++i) {
      if (auto stored = Store(batch.loads[i], batch.numbers[i]); !stored) return Abandon(stored);
    }
    counts_.lines = lines_before + static_cast<std::int64_t>(first) + batch.lines;
    if (batch.error.has_value()) return Abandon(base::Fail(std::move(*batch.error)));
  }
  return {};
}

base::Result<std::vector<std::string>> BulkLoader::FindPresent(
    std::span<const std::string_view> lines) {
  std::vector<std::string> present(lines.size());
  simdjson::dom::parser parser;
  std::string padded;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    // The DOM parser reads up to SIMDJSON_PADDING bytes past the end.
    padded.assign(lines[i]);
    padded.append(simdjson::SIMDJSON_PADDING, '\0');
    simdjson::dom::element resource;
    std::string_view type;
    std::string_view id;
    if (parser.parse(padded.data(), lines[i].size(), false).get(resource) != simdjson::SUCCESS ||
        resource["resourceType"].get_string().get(type) != simdjson::SUCCESS ||
        resource["id"].get_string().get(id) != simdjson::SUCCESS || !fhir::IsR4ResourceType(type) ||
        !IsValidId(id)) {
      continue;  // preparing the line finds what is wrong with it, if anything
    }
    auto current = transaction_->Read(type, id);
    if (current) {
      present[i] = type;
    } else if (current.error().code != ErrorCode::kNotFound &&
               current.error().code != ErrorCode::kGone) {
      return base::Fail(current.error());
    }
  }
  return present;
}

base::Status BulkLoader::BeginIfNeeded() {
  if (transaction_) return {};
  auto begun = store_.Begin();
  if (!begun) return base::Fail(begun.error());
  transaction_ = std::move(*begun);
  in_transaction_ = 0;
  return {};
}

base::Status BulkLoader::Abandon(base::Status failure) {
  failed_ = true;
  transaction_.reset();  // rolls back
  return failure;
}

base::Status BulkLoader::Store(PreparedLoad& load, std::int64_t line) {
  if (auto begun = BeginIfNeeded(); !begun) return begun;
  const std::string type = load.type;
  // A resource found present before preparing is still present: a bulk load deletes nothing.
  auto stored = load.entries ? transaction_->LoadPrepared(load) : base::Result<bool>(false);
  if (!stored) {
    base::Error error = stored.error();
    error.diagnostic = "line " + std::to_string(line) + ": " + error.diagnostic;
    return base::Fail(std::move(error));
  }
  auto& by_type = *stored ? counts_.created_by_type : counts_.present_by_type;
  const auto found = by_type.find(type);
  if (found == by_type.end()) {
    by_type.emplace(type, 1);
  } else {
    ++found->second;
  }
  ++(*stored ? counts_.created : counts_.already_present);

  if (resources_per_transaction_ > 0 && ++in_transaction_ >= resources_per_transaction_) {
    return Finish();
  }
  return {};
}

base::Status BulkLoader::Finish() {
  if (failed_) {
    return base::Fail(ErrorCode::kInvalidParameter, "an earlier line failed; nothing to commit");
  }
  if (!transaction_) return {};
  auto committed = transaction_->Commit();
  transaction_.reset();
  if (!committed) failed_ = true;
  return committed;
}

base::Result<BulkLoadCounts> BulkLoadNdjson(ResourceStore& store, std::string_view ndjson) {
  BulkLoader loader(store, 0);
  if (auto added = loader.Add(ndjson); !added) return base::Fail(added.error());
  if (auto finished = loader.Finish(); !finished) return base::Fail(finished.error());
  return loader.counts();
}

}  // namespace fhirbridge::sandbox
