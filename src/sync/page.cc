#include "sync/page.h"

#include <openssl/evp.h>
#include <simdjson.h>

#include <charconv>

#include "base/clock.h"

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

// SHA-256 of the resource's members other than meta, each fed as key, NUL, minified value, NUL,
// so that a server filling or dropping meta (Epic omits it) does not look like a change.
std::string ContentHash(dom::object resource) {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
  const char separator = '\0';
  for (const auto field : resource) {
    if (field.key == "meta") continue;
    const std::string value = simdjson::minify(field.value);
    EVP_DigestUpdate(context, field.key.data(), field.key.size());
    EVP_DigestUpdate(context, &separator, 1);
    EVP_DigestUpdate(context, value.data(), value.size());
    EVP_DigestUpdate(context, &separator, 1);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context, digest, &length);
  EVP_MD_CTX_free(context);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

// Fills `out` from a resource object; `where` names it in errors.
base::Status ReadResourceObject(dom::element element, std::string_view expected_type,
                                const std::string& where, SyncedResource& out) {
  dom::object resource;
  if (element.get(resource) != simdjson::SUCCESS) {
    return Malformed("The resource is not a JSON object.", where);
  }
  const std::string_view type = StringMember(resource, "resourceType");
  if (type != expected_type) {
    return Malformed("The resource has resourceType '" + std::string(type.substr(0, 64)) +
                         "' where " + std::string(expected_type) + " was asked for.",
                     where + ".resourceType");
  }
  const std::string_view id = StringMember(resource, "id");
  if (id.empty()) return Malformed("The resource has no id.", where + ".id");
  out.type = std::string(type);
  out.id = std::string(id);
  dom::object meta;
  if (resource["meta"].get(meta) == simdjson::SUCCESS) {
    out.version = ParseInteger(StringMember(meta, "versionId"));
    out.last_updated = std::string(StringMember(meta, "lastUpdated"));
  }
  out.json = simdjson::minify(element);
  out.content_hash = ContentHash(resource);
  return {};
}

// Keeps the latest instant, rewritten in the one UTC millisecond form that sorts as text.
void NoteLastUpdated(ParsedPage& page, std::string_view instant) {
  const auto parsed = base::ParseInstant(instant);
  if (!parsed) return;
  std::string canonical = base::FormatInstant(*parsed);
  if (canonical > page.max_last_updated) page.max_last_updated = std::move(canonical);
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

  std::size_t index = 0;
  for (dom::element entry_element : entries) {
    const std::string where = "Bundle.entry[" + std::to_string(index++) + "]";
    dom::object entry;
    if (entry_element.get(entry) != simdjson::SUCCESS) {
      return Malformed("The entry is not a JSON object.", where);
    }
    if (kind == BundleKind::kSearchset) {
      dom::object search;
      if (entry["search"].get(search) == simdjson::SUCCESS) {
        const std::string_view mode = StringMember(search, "mode");
        if (mode == "include" || mode == "outcome") continue;
      }
      dom::element resource;
      if (entry["resource"].get(resource) != simdjson::SUCCESS) {
        return Malformed("The search entry has no resource.", where + ".resource");
      }
      SyncedResource synced;
      if (auto status = ReadResourceObject(resource, expected_type, where + ".resource", synced);
          !status) {
        return Fail(status.error());
      }
      NoteLastUpdated(page, synced.last_updated);
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
    if (!last_modified.empty()) NoteLastUpdated(page, last_modified);
    dom::element resource;
    if (entry["resource"].get(resource) == simdjson::SUCCESS) {
      SyncedResource synced;
      if (auto status = ReadResourceObject(resource, expected_type, where + ".resource", synced);
          !status) {
        return Fail(status.error());
      }
      if (synced.version == 0) synced.version = etag_version;
      if (synced.last_updated.empty()) synced.last_updated = std::string(last_modified);
      if (synced.version == 0) {
        return Malformed("The history entry has no version.", where + ".response.etag");
      }
      synced.etag = std::move(etag);
      page.resources.push_back(std::move(synced));
      ++page.entries;
      continue;
    }
    dom::object request;
    if (entry["request"].get(request) != simdjson::SUCCESS ||
        StringMember(request, "method") != "DELETE") {
      return Malformed("The history entry has neither a resource nor a DELETE request.", where);
    }
    const std::string_view url = StringMember(request, "url");
    const std::size_t slash = url.find('/');
    if (slash == std::string_view::npos || url.substr(0, slash) != expected_type ||
        slash + 1 >= url.size() || url.find('/', slash + 1) != std::string_view::npos) {
      return Malformed(
          "The history delete's request.url is not " + std::string(expected_type) + "/id.",
          where + ".request.url");
    }
    if (etag_version == 0) {
      return Malformed("The history delete has no version.", where + ".response.etag");
    }
    page.tombstones.push_back({std::string(expected_type), std::string(url.substr(slash + 1)),
                               etag_version, std::string(last_modified)});
    ++page.entries;
  }
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
  if (auto status = ReadResourceObject(document, expected_type, std::string(expected_type), synced);
      !status) {
    return Fail(status.error());
  }
  return synced;
}

}  // namespace fhirbridge::sync
