// HTTP-level tests of the sandbox driven by tables in tests/http/*.json. Each file is a sequence
// of cases run in order against a freshly started sandbox: a request, the expected status,
// headers and body, and values to capture for later cases (${name} in paths, headers and bodies).
//
// Case keys:
//   name                    what the case proves
//   request.method/path     the request line; path is relative to the server's origin, or an
//                           absolute URL (a captured link)
//   request.headers         {"Name": "value"}
//   request.body            a JSON value sent as the body, or request.raw_body, a string
//   expect.status           the status code
//   expect.headers          {"lower-case-name": "substring"}, or null for "must be absent"
//   expect.json             {"/json/pointer": value} compared exactly
//   expect.json_exists      ["/json/pointer", ...]
//   expect.json_absent      ["/json/pointer", ...]
//   expect.json_size        {"/json/pointer": n}: the array or object there has n elements
//   expect.json_substring   {"/json/pointer": "text"}: the string there contains text
//   expect.body_empty       true: no body
//   capture                 {"name": "json:/pointer" | "header:lower-case-name"}

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "http/client.h"
#include "sandbox_test_server.h"

namespace fhirbridge::testing {
namespace {

using nlohmann::json;
using Variables = std::map<std::string, std::string>;

std::string Substitute(std::string text, const Variables& variables) {
  for (std::size_t start = text.find("${"); start != std::string::npos;
       start = text.find("${", start)) {
    const std::size_t end = text.find('}', start);
    if (end == std::string::npos) break;
    const std::string name = text.substr(start + 2, end - start - 2);
    const auto found = variables.find(name);
    if (found == variables.end()) {
      ADD_FAILURE() << "variable ${" << name << "} was never captured";
      start = end + 1;
      continue;
    }
    text.replace(start, end - start + 1, found->second);
    start += found->second.size();
  }
  return text;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

void CheckExpectations(const json& expect, const http::ClientResponse& response,
                       const std::optional<json>& body) {
  if (expect.contains("status")) {
    EXPECT_EQ(response.status, expect["status"].get<int>()) << "body: " << response.body;
  }
  if (expect.contains("headers")) {
    for (const auto& [name, wanted] : expect["headers"].items()) {
      const std::string* value = response.FindHeader(name);
      if (wanted.is_null()) {
        EXPECT_EQ(value, nullptr) << "header " << name << " should be absent";
        continue;
      }
      ASSERT_NE(value, nullptr) << "header " << name << " is missing";
      EXPECT_NE(value->find(wanted.get<std::string>()), std::string::npos)
          << "header " << name << ": '" << *value << "' lacks '" << wanted.get<std::string>()
          << "'";
    }
  }
  if (expect.value("body_empty", false)) {
    EXPECT_TRUE(response.body.empty()) << response.body;
  }

  const bool wants_json = expect.contains("json") || expect.contains("json_exists") ||
                          expect.contains("json_absent") || expect.contains("json_size") ||
                          expect.contains("json_substring");
  if (!wants_json) return;
  ASSERT_TRUE(body.has_value()) << "body is not JSON: " << response.body;
  const json wanted_values = expect.value("json", json::object());
  for (const auto& [pointer, wanted] : wanted_values.items()) {
    const json::json_pointer path(pointer);
    ASSERT_TRUE(body->contains(path)) << pointer << " missing in " << body->dump();
    EXPECT_EQ(body->at(path), wanted) << "at " << pointer << " in " << body->dump();
  }
  for (const auto& pointer : expect.value("json_exists", json::array())) {
    EXPECT_TRUE(body->contains(json::json_pointer(pointer.get<std::string>())))
        << pointer << " missing in " << body->dump();
  }
  for (const auto& pointer : expect.value("json_absent", json::array())) {
    EXPECT_FALSE(body->contains(json::json_pointer(pointer.get<std::string>())))
        << pointer << " present in " << body->dump();
  }
  const json wanted_sizes = expect.value("json_size", json::object());
  for (const auto& [pointer, size] : wanted_sizes.items()) {
    const json::json_pointer path(pointer);
    ASSERT_TRUE(body->contains(path)) << pointer << " missing in " << body->dump();
    EXPECT_EQ(body->at(path).size(), size.get<std::size_t>()) << "at " << pointer;
  }
  const json wanted_substrings = expect.value("json_substring", json::object());
  for (const auto& [pointer, text] : wanted_substrings.items()) {
    const json::json_pointer path(pointer);
    ASSERT_TRUE(body->contains(path) && body->at(path).is_string())
        << pointer << " is not a string in " << body->dump();
    EXPECT_NE(body->at(path).get<std::string>().find(text.get<std::string>()), std::string::npos)
        << pointer << ": '" << body->at(path).get<std::string>() << "' lacks '"
        << text.get<std::string>() << "'";
  }
}

void Capture(const json& captures, const http::ClientResponse& response,
             const std::optional<json>& body, Variables& variables) {
  for (const auto& [name, source_value] : captures.items()) {
    const std::string source = source_value.get<std::string>();
    if (source.starts_with("header:")) {
      const std::string* value = response.FindHeader(source.substr(7));
      ASSERT_NE(value, nullptr) << "cannot capture " << name << " from " << source;
      variables[name] = *value;
    } else if (source.starts_with("json:")) {
      const json::json_pointer path(source.substr(5));
      ASSERT_TRUE(body && body->contains(path)) << "cannot capture " << name << " from " << source;
      const json& value = body->at(path);
      variables[name] = value.is_string() ? value.get<std::string>() : value.dump();
    } else {
      FAIL() << "capture source must start with header: or json:, got " << source;
    }
  }
}

class SandboxHttpTableTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SandboxHttpTableTest, EveryCaseAnswersAsExpected) {
  const std::filesystem::path file =
      std::filesystem::path(FHIRBRIDGE_SOURCE_DIR) / "tests" / "http" / GetParam();
  const json cases = json::parse(ReadFile(file));
  ASSERT_TRUE(cases.is_array() && !cases.empty()) << file;

  SandboxTestServer sandbox;
  ASSERT_FALSE(sandbox.origin().empty());
  http::Client client;
  Variables variables;

  for (const json& test_case : cases) {
    const std::string name = test_case.at("name").get<std::string>();
    SCOPED_TRACE(GetParam() + ": " + name);
    const json& request_spec = test_case.at("request");

    http::ClientRequest request;
    request.method = request_spec.value("method", "GET");
    // A path may be an absolute URL captured from an earlier answer, such as a next link.
    const std::string path = Substitute(request_spec.at("path").get<std::string>(), variables);
    request.url = path.starts_with("http") ? path : sandbox.origin() + path;
    const json headers = request_spec.value("headers", json::object());
    for (const auto& [header, value] : headers.items()) {
      request.headers.push_back({header, Substitute(value.get<std::string>(), variables)});
    }
    if (request_spec.contains("body")) {
      request.body = Substitute(request_spec["body"].dump(), variables);
    } else if (request_spec.contains("raw_body")) {
      request.body = Substitute(request_spec["raw_body"].get<std::string>(), variables);
    }

    auto response = client.Send(request);
    ASSERT_TRUE(response.has_value()) << response.error().ToString();
    std::optional<json> body;
    if (!response->body.empty()) {
      json parsed = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_discarded()) body = std::move(parsed);
    }
    EXPECT_NE(response->FindHeader("x-request-id"), nullptr) << "every answer has X-Request-Id";
    const json expect = json::parse(Substitute(test_case.at("expect").dump(), variables));
    CheckExpectations(expect, *response, body);
    Capture(test_case.value("capture", json::object()), *response, body, variables);
    if (HasFatalFailure()) return;
  }
}

std::vector<std::string> CaseFiles() {
  std::vector<std::string> files;
  const auto folder = std::filesystem::path(FHIRBRIDGE_SOURCE_DIR) / "tests" / "http";
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

INSTANTIATE_TEST_SUITE_P(Tables, SandboxHttpTableTest, ::testing::ValuesIn(CaseFiles()),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           const std::string& file = param_info.param;
                           std::string name = file.substr(0, file.find('.'));
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace fhirbridge::testing
