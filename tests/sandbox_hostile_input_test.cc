// Hostile and random input through the sandbox's request handler: whatever arrives, the answer
// is a well-formed HTTP status with an OperationOutcome for every refusal, never a crash. Runs
// in-process (no sockets) so that thousands of cases stay fast under the sanitizers.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "sandbox_test_server.h"

namespace fhirbridge::testing {
namespace {

using nlohmann::json;

std::string RandomBytes(std::mt19937& random, std::size_t max_length) {
  std::uniform_int_distribution<std::size_t> length(0, max_length);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string text(length(random), '\0');
  for (char& c : text) c = static_cast<char>(byte(random));
  return text;
}

// Mutates a valid JSON document by flipping, deleting or inserting a few characters.
std::string Mutate(std::mt19937& random, std::string text) {
  static constexpr std::string_view kAlphabet = "{}[]\":,0123456789.-eE \\ntruefalsnul";
  std::uniform_int_distribution<int> edits(1, 4);
  for (int i = edits(random); i > 0 && !text.empty(); --i) {
    std::uniform_int_distribution<std::size_t> position(0, text.size() - 1);
    std::uniform_int_distribution<std::size_t> letter(0, kAlphabet.size() - 1);
    switch (random() % 3) {
      case 0:
        text[position(random)] = kAlphabet[letter(random)];
        break;
      case 1:
        text.erase(position(random), 1);
        break;
      default:
        text.insert(position(random), 1, kAlphabet[letter(random)]);
    }
  }
  return text;
}

void ExpectWellFormedAnswer(const http::Response& response, const http::Request& request) {
  SCOPED_TRACE(request.method + " " + request.path);
  ASSERT_GE(response.status, 200);
  ASSERT_LT(response.status, 600);
  EXPECT_NE(response.status, 500) << response.body;
  if (response.status >= 400) {
    const json outcome = json::parse(response.body, nullptr, false);
    ASSERT_FALSE(outcome.is_discarded()) << response.body;
    EXPECT_EQ(outcome.value("resourceType", ""), "OperationOutcome");
    EXPECT_FALSE(outcome["issue"][0].value("diagnostics", "").empty());
  }
}

TEST(SandboxHostileInputTest, RandomBodiesOnEveryWriteRouteNeverCrashOrAnswer500) {
  SandboxTestServer sandbox;
  ASSERT_FALSE(sandbox.origin().empty());
  std::mt19937 random(20261203);

  const std::string valid_patient = json{
      {"resourceType", "Patient"},
      {"id", "e86izff4laD1mVsXVTNHrrl3"},
      {"identifier", {{{"system", "urn:example:mrn"}, {"value", "hostile"}}}},
      {"name",
       {{{"family", "Example"}}}}}.dump();
  const std::string valid_bundle =
      json{{"resourceType", "Bundle"},
           {"type", "transaction"},
           {"entry",
            {{{"fullUrl", "urn:uuid:1"},
              {"resource", {{"resourceType", "Patient"}}},
              {"request", {{"method", "POST"}, {"url", "Patient"}}}},
             {{"resource",
               {{"resourceType", "Observation"}, {"subject", {{"reference", "urn:uuid:1"}}}}},
              {"request", {{"method", "POST"}, {"url", "Observation"}}}}}}}
          .dump();

  const std::vector<std::pair<std::string, std::string>> targets = {
      {"POST", "/open-lab/api/FHIR/R4/Patient"},
      {"PUT", "/open-lab/api/FHIR/R4/Patient/e86izff4laD1mVsXVTNHrrl3"},
      {"POST", "/open-lab/api/FHIR/R4"},
      {"POST", "/alpine-health/api/FHIR/R4/Observation"},
  };
  for (int round = 0; round < 400; ++round) {
    for (const auto& [method, path] : targets) {
      http::Request request;
      request.method = method;
      request.path = path;
      request.headers = {{"content-type", "application/fhir+json"}};
      const std::string& seed_body = path.ends_with("/R4") ? valid_bundle : valid_patient;
      request.body = round % 4 == 0 ? RandomBytes(random, 64) : Mutate(random, seed_body);
      ExpectWellFormedAnswer(sandbox.server().Handle(request), request);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(SandboxHostileInputTest, RandomPathsQueriesAndHeadersNeverCrashOrAnswer500) {
  SandboxTestServer sandbox;
  ASSERT_FALSE(sandbox.origin().empty());
  std::mt19937 random(7);
  const std::vector<std::string> pieces = {
      "open-lab", "alpine-health", "api",    "FHIR", "R4", "Patient",    "_history",
      "1",        "%2F",           "%",      "..",   "",   "metadata",   "admin",
      "tenants",  "reset",         "Bundle", "%00",  "x",  "Observation"};
  const std::vector<std::string> methods = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"};
  const std::vector<std::string> header_names = {"if-match", "if-none-exist", "if-none-match",
                                                 "prefer",   "x-request-id",  "host"};

  for (int round = 0; round < 3000; ++round) {
    http::Request request;
    request.method = methods[random() % methods.size()];
    const std::size_t depth = random() % 8;
    for (std::size_t i = 0; i < depth; ++i) request.path += "/" + pieces[random() % pieces.size()];
    if (request.path.empty()) request.path = "/";
    if (random() % 2 == 0) request.query = RandomBytes(random, 24);
    for (int i = random() % 3; i > 0; --i) {
      request.headers.push_back(
          {header_names[random() % header_names.size()], RandomBytes(random, 16)});
    }
    if (request.method == "POST" || request.method == "PUT") request.body = RandomBytes(random, 32);
    ExpectWellFormedAnswer(sandbox.server().Handle(request), request);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace fhirbridge::testing
