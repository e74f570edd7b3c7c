#include "sandbox/bulk_load.h"

#include <algorithm>
#include <nlohmann/json.hpp>

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

}  // namespace

BulkLoader::BulkLoader(ResourceStore& store, std::size_t resources_per_transaction)
    : store_(store), resources_per_transaction_(resources_per_transaction) {}

BulkLoader::~BulkLoader() = default;

base::Status BulkLoader::Add(std::string_view ndjson) {
  if (failed_) {
    return base::Fail(ErrorCode::kInvalidParameter,
                      "an earlier line failed; this bulk load accepts no more input");
  }
  while (!ndjson.empty()) {
    const std::size_t end = ndjson.find('\n');
    const std::string_view line = ndjson.substr(0, end);
    ndjson.remove_prefix(end == std::string_view::npos ? ndjson.size() : end + 1);
    if (auto added = AddLine(line); !added) {
      failed_ = true;
      transaction_.reset();  // rolls back
      return added;
    }
  }
  return {};
}

base::Status BulkLoader::AddLine(std::string_view line) {
  ++counts_.lines;
  if (IsBlank(line)) return {};
  const std::string where = "line " + std::to_string(counts_.lines) + ": ";

  // Parsed here rather than by fhir::ParseResource so that a JSON mistake is placed by line of
  // the NDJSON and column within it.
  fhir::Json parsed;
  try {
    parsed = fhir::Json::parse(line);
  } catch (const fhir::Json::parse_error& error) {
    const std::size_t column = std::min<std::size_t>(error.byte, line.size() + 1);
    return base::Fail(ErrorCode::kInvalidJson, "line " + std::to_string(counts_.lines) +
                                                   ", column " + std::to_string(column) +
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
  // Copied: the store rewrites the resource's id and meta in place.
  const std::string type = type_member->get<std::string>();
  const std::string id_text = id->get<std::string>();

  if (!transaction_) {
    auto begun = store_.Begin();
    if (!begun) return base::Fail(begun.error());
    transaction_ = std::move(*begun);
    in_transaction_ = 0;
  }
  auto stored = transaction_->LoadIfAbsent(type, id_text, parsed);
  if (!stored) {
    base::Error error = stored.error();
    error.diagnostic = where + error.diagnostic;
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
