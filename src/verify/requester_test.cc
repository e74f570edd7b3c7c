#include "verify/requester.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "http/server.h"

namespace fhirbridge::verify {
namespace {

TEST(RequesterTest, WarningsComeFromOperationOutcomesAndOutcomeEntriesOnly) {
  EXPECT_EQ(ExtractWarnings(R"({"resourceType": "OperationOutcome", "issue": [
      {"severity": "error", "code": "exception"},
      {"severity": "warning", "code": "processing", "diagnostics": "Name Smith ignored",
       "details": {"coding": [{"system": "urn:oid:epic", "code": "4122"}]}},
      {"severity": "information", "code": "informational"}]})"),
            (std::vector<ResponseWarning>{{"warning", "processing", "4122"},
                                          {"information", "informational", ""}}));

  EXPECT_EQ(ExtractWarnings(R"({"resourceType": "Bundle", "type": "searchset", "entry": [
      {"resource": {"resourceType": "OperationOutcome", "issue": [
          {"severity": "warning", "code": "processing"}]}, "search": {"mode": "match"}},
      {"resource": {"resourceType": "OperationOutcome", "issue": [
          {"severity": "warning", "code": "processing",
           "details": {"coding": [{"code": "4101"}]}}]}, "search": {"mode": "outcome"}},
      {"resource": {"resourceType": "Patient"}, "search": {"mode": "outcome"}}]})"),
            (std::vector<ResponseWarning>{{"warning", "processing", "4101"}}));

  EXPECT_TRUE(ExtractWarnings("not json").empty());
  EXPECT_TRUE(ExtractWarnings(R"({"resourceType": "Patient"})").empty());
  EXPECT_TRUE(ExtractWarnings(R"({"resourceType": "Bundle", "entry": 3})").empty());
}

TEST(RequesterTest, RequestIdsAreFreshAndPlain) {
  const std::string first = NewRequestId();
  EXPECT_EQ(first.size(), 26u);
  EXPECT_TRUE(first.starts_with("smoke-"));
  EXPECT_EQ(first.find_first_not_of("0123456789abcdef", 6), std::string::npos);
  EXPECT_NE(first, NewRequestId());
}

// Gives "first" until told it was refused, then "second".
class RenewingTokenSource final : public auth::TokenSource {
 public:
  base::Result<std::string> AccessToken() override { return renewed_ ? "second" : "first"; }
  void Invalidate(std::string_view rejected) override {
    if (rejected == "first") renewed_ = true;
    ++invalidations_;
  }
  int invalidations_ = 0;

 private:
  bool renewed_ = false;
};

// A loopback server that records every request and refuses the token "first" with 401.
class RecordingServer {
 public:
  RecordingServer() {
    server_ = *http::Server::Start(
        {.threads = 1},
        [this](const http::Request& request) {
          std::lock_guard lock(mutex_);
          requests_.push_back(request);
          http::Response response;
          const std::string* authorization = request.FindHeader("authorization");
          if (authorization != nullptr && *authorization == "Bearer first") {
            response.status = 401;
            return response;
          }
          response.SetHeader("Content-Type", "application/fhir+json");
          response.body = R"({"resourceType": "OperationOutcome", "issue": [
              {"severity": "information", "code": "informational"}]})";
          return response;
        },
        [](const base::Error&) { return http::Response{}; });
  }

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/x"; }
  std::vector<http::Request> Requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  std::mutex mutex_;
  std::vector<http::Request> requests_;
  std::unique_ptr<http::Server> server_;
};

TEST(RequesterTest, EveryRequestIsMarkedSyntheticAndTaggedWithItsRequestId) {
  RecordingServer server;
  HttpRequester requester(nullptr);
  auto response = requester.Get(server.Url(), SyntheticRequestHeaders());
  ASSERT_TRUE(response.has_value()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_GT(response->latency.count(), 0);
  ASSERT_EQ(response->warnings.size(), 1u);

  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto header = [&](std::string_view name) {
    const std::string* value = requests[0].FindHeader(name);
    return value == nullptr ? std::string("(absent)") : *value;
  };
  EXPECT_EQ(header("x-synthetic-transaction"), "true");
  EXPECT_EQ(header("user-agent"), "fhirbridge-smoke/0.1.0");
  EXPECT_EQ(header("x-request-id"), response->request_id);
  EXPECT_EQ(header("accept"), "application/fhir+json");
  EXPECT_EQ(header("authorization"), "(absent)");
}

TEST(RequesterTest, A401RenewsTheTokenOnceAndKeepsTheRequestId) {
  RecordingServer server;
  RenewingTokenSource tokens;
  HttpRequester requester(&tokens);
  auto response = requester.Get(server.Url(), SyntheticRequestHeaders());
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(tokens.invalidations_, 1);

  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(*requests[0].FindHeader("authorization"), "Bearer first");
  EXPECT_EQ(*requests[1].FindHeader("authorization"), "Bearer second");
  EXPECT_EQ(*requests[0].FindHeader("x-request-id"), *requests[1].FindHeader("x-request-id"));
}

TEST(RequesterTest, NoResponseIsAnErrorThatNamesNoPath) {
  HttpRequester requester(nullptr, std::chrono::milliseconds(2000));
  // Port 9 on loopback (discard) is closed in test environments.
  auto response = requester.Get("http://127.0.0.1:9/Patient?identifier=secret", {});
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code, base::ErrorCode::kIoFailure);
  EXPECT_EQ(response.error().ToString().find("secret"), std::string::npos);
}

}  // namespace
}  // namespace fhirbridge::verify
