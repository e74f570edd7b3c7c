// Changes a sandbox tenant over HTTP for bench/sync_bench.sh, through transaction Bundles.
//
// Usage: fhirbridge_sync_bench_changer BASE settle TYPE...
//          updates the first resource of each type, so that each type's latest change is a
//          lone resource and not a batch of thousands sharing one timestamp;
//        fhirbridge_sync_bench_changer BASE change FRACTION TYPE...
//          changes FRACTION of each type's resources, spread evenly: of every five changes,
//          three are updates, one a delete and one a create (a copy under a new id).
// Prints one line: "updated U created C deleted D".

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "http/client.h"

namespace {

using fhirbridge::http::Client;
using fhirbridge::http::ClientRequest;
using nlohmann::json;

json Send(Client& client, const std::string& method, const std::string& url,
          const std::string& body = {}) {
  ClientRequest request;
  request.method = method;
  request.url = url;
  request.body = body;
  request.timeout = std::chrono::milliseconds(300000);
  request.headers = {{"Content-Type", "application/fhir+json"},
                     {"Accept", "application/fhir+json"}};
  auto response = client.Send(request);
  if (!response || response->status != 200) {
    std::fprintf(
        stderr, "sync_bench_changer: %s %s failed: %s\n", method.c_str(), url.c_str(),
        response ? response->body.substr(0, 300).c_str() : response.error().ToString().c_str());
    std::exit(1);
  }
  return json::parse(response->body);
}

std::vector<json> AllResources(Client& client, const std::string& base, const std::string& type,
                               std::size_t limit) {
  std::vector<json> resources;
  std::string next = base + "/" + type + "?_count=1000";
  while (!next.empty() && resources.size() < limit) {
    const json page = Send(client, "GET", next);
    for (const json& entry : page.value("entry", json::array())) {
      resources.push_back(entry["resource"]);
    }
    next.clear();
    for (const json& link : page.value("link", json::array())) {
      if (link.value("relation", "") == "next") next = link.value("url", "");
    }
  }
  return resources;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s BASE settle TYPE... | BASE change FRACTION TYPE...\n", argv[0]);
    return 2;
  }
  const std::string base = argv[1];
  const std::string mode = argv[2];
  const bool settle = mode == "settle";
  const double fraction = settle ? 0 : std::atof(argv[3]);
  if (!settle && (mode != "change" || fraction <= 0 || fraction > 1)) {
    std::fprintf(stderr,
                 "sync_bench_changer: mode must be settle, or change with 0 < FRACTION <= 1\n");
    return 2;
  }
  Client client;
  long updated = 0;
  long created = 0;
  long deleted = 0;
  for (int arg = settle ? 3 : 4; arg < argc; ++arg) {
    const std::string type = argv[arg];
    const std::vector<json> resources = AllResources(client, base, type, settle ? 1 : SIZE_MAX);
    const std::size_t step = settle ? SIZE_MAX : static_cast<std::size_t>(1 / fraction);
    json entries = json::array();
    auto flush = [&] {
      if (entries.empty()) return;
      Send(client, "POST", base,
           json{{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}}.dump());
      entries = json::array();
    };
    for (std::size_t i = 0, change = 0; i < resources.size(); ++i) {
      if (!settle && i % step != 0) continue;
      if (settle && i > 0) break;
      json resource = resources[i];
      const std::string id = resource["id"].get<std::string>();
      resource.erase("meta");
      const std::size_t kind = settle ? 0 : change++ % 5;
      if (kind == 3) {
        entries.push_back({{"request", {{"method", "DELETE"}, {"url", type + "/" + id}}}});
        ++deleted;
      } else if (kind == 4) {
        resource.erase("id");
        entries.push_back(
            {{"resource", resource}, {"request", {{"method", "POST"}, {"url", type}}}});
        ++created;
      } else {
        resource["language"] = resource.value("language", "") == "en" ? "de" : "en";
        entries.push_back(
            {{"resource", resource}, {"request", {{"method", "PUT"}, {"url", type + "/" + id}}}});
        ++updated;
      }
      if (entries.size() >= 500) flush();
    }
    flush();
  }
  std::printf("updated %ld created %ld deleted %ld\n", updated, created, deleted);
  return 0;
}
