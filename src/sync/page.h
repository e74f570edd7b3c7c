#pragma once

// Reading the pages sync fetches: searchset and history Bundles and single resources, checked
// strictly enough that a malformed page is refused as a whole rather than half stored.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "sync/ports.h"

namespace fhirbridge::sync {

enum class BundleKind { kSearchset, kHistory };

struct ParsedPage {
  std::vector<SyncedResource> resources;  // search matches, or history versions with a body
  std::vector<Tombstone> tombstones;      // history deletes
  std::optional<std::string> next_url;
  std::optional<std::int64_t> total;
  std::size_t entries = 0;       // entries that were matches or history versions
  std::string max_last_updated;  // the latest meta.lastUpdated or response.lastModified seen
};

// Parses pages with one reused parser. Not thread-safe: one PageParser per thread.
class PageParser {
 public:
  PageParser();
  ~PageParser();
  PageParser(const PageParser&) = delete;
  PageParser& operator=(const PageParser&) = delete;

  // Parses a Bundle of `kind` whose entries must all be `expected_type` (search entries in
  // "include" or "outcome" mode are skipped). Fails with kMalformedResponse, naming the entry,
  // on bad JSON, a wrong resourceType, a resource without id, a history entry without a version,
  // or a Bundle without entries that promises more (a next link, or a total above zero on the
  // first page).
  base::Result<ParsedPage> ParseBundle(std::string_view body, BundleKind kind,
                                       std::string_view expected_type, bool first_page);

  // Parses a single resource of `expected_type`, as a read returns it.
  base::Result<SyncedResource> ParseResource(std::string_view body, std::string_view expected_type);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Version number in an ETag such as W/"3" or "3"; 0 when it holds none.
std::int64_t VersionOfEtag(std::string_view etag);

}  // namespace fhirbridge::sync
