#include "http/client.h"

#include <gtest/gtest.h>

namespace fhirbridge::http {
namespace {

TEST(HttpClientTest, LoopbackHostsAreRecognised) {
  for (const char* host : {"localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "[::1]"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"example.org", "127.0.0.1.example.org", "10.0.0.1", "128.0.0.1",
                           "localhost.example.org", "::2", "", "127.0.0"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST(HttpClientTest, PlainHttpGoesOnlyToLoopbackUnlessAllowed) {
  const ClientOptions strict;
  EXPECT_TRUE(CheckTransport("https://fhir.example.org/api/FHIR/R4", strict));
  EXPECT_TRUE(CheckTransport("http://127.0.0.1:8090/x", strict));
  EXPECT_TRUE(CheckTransport("http://localhost/x", strict));
  EXPECT_TRUE(CheckTransport("http://[::1]:80/x", strict));

  const auto refused = CheckTransport("http://fhir.example.org/api?name=Smith", strict);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, base::ErrorCode::kInsecureTransport);
  EXPECT_NE(refused.error().diagnostic.find("http://fhir.example.org"), std::string::npos);
  EXPECT_EQ(refused.error().diagnostic.find("Smith"), std::string::npos) << "origin only";
  // A host that merely starts like a loopback address is not one.
  EXPECT_FALSE(CheckTransport("http://127.0.0.1.example.org/x", strict));
  EXPECT_FALSE(CheckTransport("http://user@127.0.0.1@example.org/x", strict));

  ClientOptions lenient;
  lenient.allow_plain_http = true;
  EXPECT_TRUE(CheckTransport("http://fhir.example.org/api", lenient));
}

TEST(HttpClientTest, OtherSchemesAndMalformedUrlsAreRefused) {
  const ClientOptions options;
  for (const char* url :
       {"ftp://example.org/x", "file:///etc/passwd", "gopher://x", "", "no url", "http://"}) {
    const auto status = CheckTransport(url, options);
    ASSERT_FALSE(status) << url;
    EXPECT_EQ(status.error().code, base::ErrorCode::kInvalidParameter) << url;
  }
}

TEST(HttpClientTest, SendRefusesPlainHttpBeforeConnecting) {
  Client client;
  // Port 9 on a documentation address: if the client tried to connect, it would time out.
  const auto response = client.Send({"GET", "http://192.0.2.1:9/metadata", {}, {}});
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, base::ErrorCode::kInsecureTransport);
}

TEST(HttpClientTest, OriginKeepsSchemeHostAndPortOnly) {
  EXPECT_EQ(OriginOf("https://fhir.example.org:8443/api/FHIR/R4/Patient?name=x"),
            "https://fhir.example.org:8443");
  EXPECT_EQ(OriginOf("https://user:secret@fhir.example.org/x"), "https://fhir.example.org");
  EXPECT_EQ(OriginOf("https://fhir.example.org?x=1"), "https://fhir.example.org");
  EXPECT_EQ(OriginOf("nothing"), "(invalid URL)");
}

}  // namespace
}  // namespace fhirbridge::http
