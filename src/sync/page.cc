#include "sync/page.h"

#include <simdjson.h>

#include <charconv>

#include "base/clock.h"
#include "base/sha256.h"
#include "fhir/resource_summary_dom.h"

namespace fhirbridge::sync {

namespace {

using base::ErrorCode;
using base::Fail;
namespace dom = simdjson::dom;

std::unexpected<base::Error> Malformed(std::string diagnostic, std::string location) {
  return Fail(ErrorCode::kMalformedResponse, std::move(diagnostic), std::move(location));
}

std::string_view StringMember(dom::object object, std::string_view key) {
  std::string_view value;
  if (object[key].get(value) != simdjson::SUCCESS) return {};
  return value;
}

std::int64_t ParseInteger(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0) return 0;
  return value;
}

// The engine's content hash: SHA-256 of the resource's members other than meta, each fed as
// key, NUL, minified value, NUL, so that a server filling or dropping meta (Epic omits it) does
// not look like a change.

// Where the value that starts at `text[start]` ends in minified JSON (no whitespace): the
// index just past it, or npos when the text ends first.
std::size_t EndOfMinifiedValue(std::string_view text, std::size_t start) {
  int depth = 0;
  for (std::size_t i = start; i < text.size(); ++i) {
    switch (text[i]) {
      case '"': {
        // Straight to the closing quote (strings are most of a resource's bytes): the first
        // quote after an even run of backslashes.
        const std::size_t opening = i;
        for (;;) {
          i = text.find('"', i + 1);
          if (i == std::string_view::npos) return i;
          std::size_t backslashes = 0;
          while (i - backslashes - 1 > opening && text[i - backslashes - 1] == '\\') {
            ++backslashes;
          }
          if (backslashes % 2 == 0) break;
        }
        if (depth == 0) return i + 1;
        break;
      }
      case '{':
      case '[':
        ++depth;
        break;
      case '}':
      case ']':
        if (depth == 0) return i;  // the end of the enclosing object: a scalar ends here
        if (--depth == 0) return i + 1;
        break;
      case ',':
        if (depth == 0) return i;
        break;
      default:
        break;
    }
  }
  return std::string_view::npos;
}

// The engine's hash with its reused state: the digest context, and the bytes fed to it, gathered
// first so that a resource is one digest update rather than four per member.
struct ContentHasher {
  base::Sha256 digest;
  std::string input;
};

// The hash read off `minified`, the simdjson minification of the whole resource object: each
// member's minified value is the same bytes inside it, so one pass over the text replaces a
// minification per member. False (hash unusable) when a key holds an escape, whose unescaped
// form the text does not show, or the text is not the expected shape.
bool HashMinifiedMembers(std::string_view minified, ContentHasher& hasher) {
  hasher.input.clear();
  if (minified.size() < 2 || minified.front() != '{' || minified.back() != '}') return false;
  std::size_t position = 1;
  while (position < minified.size() - 1) {
    if (minified[position] != '"') return false;
    const std::size_t key_end = minified.find('"', position + 1);
    if (key_end == std::string_view::npos) return false;
    const std::string_view key = minified.substr(position + 1, key_end - position - 1);
    if (key.find('\\') != std::string_view::npos) return false;
    if (key_end + 1 >= minified.size() || minified[key_end + 1] != ':') return false;
    const std::size_t value_start = key_end + 2;
    const std::size_t value_end = EndOfMinifiedValue(minified, value_start);
    if (value_end == std::string_view::npos || value_end == value_start) return false;
    if (key != "meta") {
      hasher.input += key;
      hasher.input += '\0';
      hasher.input += minified.substr(value_start, value_end - value_start);
      hasher.input += '\0';
    }
    position = value_end;
    if (minified[position] == ',') ++position;
  }
  return true;
}

// The same hash member by member: the general way, for keys with escapes.
std::string ContentHashOfMembers(dom::object resource, ContentHasher& hasher) {
  hasher.input.clear();
  for (const auto field : resource) {
    if (field.key == "meta") continue;
    hasher.input += field.key;
    hasher.input += '\0';
    hasher.input += simdjson::minify(field.value);
    hasher.input += '\0';
  }
  return hasher.digest.Hex(hasher.input);
}

// Where a resource sits, named in errors only (built then, not for every resource read):
// entry `entry` of the Bundle, or, without one, the single resource of type `type`.
struct ResourcePlace {
  std::optional<std::size_t> entry;
  std::string_view type;

  std::string Name() const {
    return entry ? "Bundle.entry[" + std::to_string(*entry) + "].resource" : std::string(type);
  }
};

// Fills `out` from a resource object; `where` names it in errors.
base::Status ReadResourceObject(dom::element element, std::string_view expected_type,
                                const ResourcePlace& where, ContentHasher& hasher,
                                SyncedResource& out) {
  dom::object resource;
  if (element.get(resource) != simdjson::SUCCESS) {
    return Malformed("The resource is not a JSON object.", where.Name());
  }
  const std::string_view type = StringMember(resource, "resourceType");
  if (type != expected_type) {
    return Malformed("The resource has resourceType '" + std::string(type.substr(0, 64)) +
                         "' where " + std::string(expected_type) + " was asked for.",
                     where.Name() + ".resourceType");
  }
  const std::string_view id = StringMember(resource, "id");
  if (id.empty()) return Malformed("The resource has no id.", where.Name() + ".id");
  out.type = std::string(type);
  out.id = std::string(id);
  dom::object meta;
  if (resource["meta"].get(meta) == simdjson::SUCCESS) {
    out.version = ParseInteger(StringMember(meta, "versionId"));
    out.last_updated = std::string(StringMember(meta, "lastUpdated"));
  }
  out.summary = fhir::SummariseParsed(element);
  out.json = simdjson::minify(element);
  out.content_hash = HashMinifiedMembers(out.json, hasher) ? hasher.digest.Hex(hasher.input)
                                                           : ContentHashOfMembers(resource, hasher);
  return {};
}

// Keeps the latest instant; the page's max_last_updated is it in the one UTC millisecond form
// that sorts as text, formatted once per page (formatting is monotonic, so the form of the
// latest instant is the latest form).
void NoteLastUpdated(std::optional<base::SystemTime>& latest, std::string_view instant) {
  const auto parsed = base::ParseInstant(instant);
  if (parsed && (!latest || *parsed > *latest)) latest = *parsed;
}

}  // namespace

std::int64_t VersionOfEtag(std::string_view etag) {
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return ParseInteger(etag);
}

struct PageParser::Impl {
  dom::parser parser;
  ContentHasher hasher;
};

PageParser::PageParser() : impl_(std::make_unique<Impl>()) {}
PageParser::~PageParser() = default;

base::Result<ParsedPage> PageParser::ParseBundle(std::string_view body, BundleKind kind,
                                                 std::string_view expected_type, bool first_page) {
  dom::element document;
  if (const auto error = impl_->parser.parse(body.data(), body.size()).get(document)) {
    return Malformed(std::string("The page is not valid JSON: ") + simdjson::error_message(error),
                     "Bundle");
  }
  dom::object bundle;
  if (document.get(bundle) != simdjson::SUCCESS ||
      StringMember(bundle, "resourceType") != "Bundle") {
    return Malformed("The page is not a Bundle.", "Bundle.resourceType");
  }
  const std::string_view bundle_type = StringMember(bundle, "type");
  const std::string_view wanted = kind == BundleKind::kHistory ? "history" : "searchset";
  if (bundle_type != wanted) {
    return Malformed("The Bundle's type is '" + std::string(bundle_type.substr(0, 32)) +
                         "' where " + std::string(wanted) + " was expected.",
                     "Bundle.type");
  }

  ParsedPage page;
  std::int64_t total = 0;
  if (bundle["total"].get(total) == simdjson::SUCCESS) page.total = total;
  dom::array links;
  if (bundle["link"].get(links) == simdjson::SUCCESS) {
    for (dom::element link : links) {
      dom::object link_object;
      if (link.get(link_object) != simdjson::SUCCESS) continue;
      if (StringMember(link_object, "relation") == "next") {
        const std::string_view url = StringMember(link_object, "url");
        if (url.empty()) return Malformed("The next link has no url.", "Bundle.link");
        page.next_url = std::string(url);
      }
    }
  }

  dom::array entries;
  const bool has_entries = bundle["entry"].get(entries) == simdjson::SUCCESS;
  if (!has_entries || entries.size() == 0) {
    if (page.next_url) {
      return Malformed("The Bundle has a next link but no entries.", "Bundle.entry");
    }
    if (first_page && page.total.value_or(0) > 0) {
      return Malformed("The Bundle's total is above zero but it has no entries.", "Bundle.entry");
    }
    return page;
  }

  std::optional<base::SystemTime> latest;
  page.resources.reserve(entries.size());
  std::size_t index = 0;
  for (dom::element entry_element : entries) {
    const std::size_t entry_index = index++;
    const auto where = [entry_index] {
      return "Bundle.entry[" + std::to_string(entry_index) + "]";
    };
    dom::object entry;
    if (entry_element.get(entry) != simdjson::SUCCESS) {
      return Malformed("The entry is not a JSON object.", where());
    }
    if (kind == BundleKind::kSearchset) {
      dom::object search;
      if (entry["search"].get(search) == simdjson::SUCCESS) {
        const std::string_view mode = StringMember(search, "mode");
        if (mode == "include" || mode == "outcome") continue;
      }
      dom::element resource;
      if (entry["resource"].get(resource) != simdjson::SUCCESS) {
        return Malformed("The search entry has no resource.", where() + ".resource");
      }
      SyncedResource synced;
      if (auto status = ReadResourceObject(resource, expected_type, {entry_index, expected_type},
                                           impl_->hasher, synced);
          !status) {
        return Fail(status.error());
      }
      NoteLastUpdated(latest, synced.last_updated);
      page.resources.push_back(std::move(synced));
      ++page.entries;
      continue;
    }

    // History: the version comes from the resource's meta or, for deletes and servers that
    // omit meta, from response.etag.
    dom::object response;
    std::int64_t etag_version = 0;
    std::string etag;
    std::string_view last_modified;
    if (entry["response"].get(response) == simdjson::SUCCESS) {
      etag = std::string(StringMember(response, "etag"));
      etag_version = VersionOfEtag(etag);
      last_modified = StringMember(response, "lastModified");
    }
    if (!last_modified.empty()) NoteLastUpdated(latest, last_modified);
    dom::element resource;
    if (entry["resource"].get(resource) == simdjson::SUCCESS) {
      SyncedResource synced;
      if (auto status = ReadResourceObject(resource, expected_type, {entry_index, expected_type},
                                           impl_->hasher, synced);
          !status) {
        return Fail(status.error());
      }
      if (synced.version == 0) synced.version = etag_version;
      if (synced.last_updated.empty()) synced.last_updated = std::string(last_modified);
      if (synced.version == 0) {
        return Malformed("The history entry has no version.", where() + ".response.etag");
      }
      synced.etag = std::move(etag);
      page.resources.push_back(std::move(synced));
      ++page.entries;
      continue;
    }
    dom::object request;
    if (entry["request"].get(request) != simdjson::SUCCESS ||
        StringMember(request, "method") != "DELETE") {
      return Malformed("The history entry has neither a resource nor a DELETE request.", where());
    }
    const std::string_view url = StringMember(request, "url");
    const std::size_t slash = url.find('/');
    if (slash == std::string_view::npos || url.substr(0, slash) != expected_type ||
        slash + 1 >= url.size() || url.find('/', slash + 1) != std::string_view::npos) {
      return Malformed(
          "The history delete's request.url is not " + std::string(expected_type) + "/id.",
          where() + ".request.url");
    }
    if (etag_version == 0) {
      return Malformed("The history delete has no version.", where() + ".response.etag");
    }
    page.tombstones.push_back({std::string(expected_type), std::string(url.substr(slash + 1)),
                               etag_version, std::string(last_modified)});
    ++page.entries;
  }
  if (latest) page.max_last_updated = base::FormatInstant(*latest);
  return page;
}

base::Result<SyncedResource> PageParser::ParseResource(std::string_view body,
                                                       std::string_view expected_type) {
  dom::element document;
  if (const auto error = impl_->parser.parse(body.data(), body.size()).get(document)) {
    return Malformed(
        std::string("The resource is not valid JSON: ") + simdjson::error_message(error),
        std::string(expected_type));
  }
  SyncedResource synced;
  if (auto status = ReadResourceObject(document, expected_type, {std::nullopt, expected_type},
                                       impl_->hasher, synced);
      !status) {
    return Fail(status.error());
  }
  return synced;
}

}  // namespace fhirbridge::sync
