#pragma once

// A blocking HTTP client on libcurl. One Client keeps its connections alive between calls; use
// one Client per thread (a Client is not thread-safe).
//
// Transport rules: TLS certificates and host names are always verified (against the system's
// CA store, or the bundle given); plain http:// is refused with kInsecureTransport unless the
// host is loopback (127.0.0.0/8, ::1, localhost) or the options allow it; only http and https
// are spoken; redirects are not followed; proxies are used only when configured.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "http/message.h"

namespace fhirbridge::http {

struct ClientOptions {
  // PEM file of the certificate authorities to trust; empty: the system's store.
  std::string ca_bundle;
  // Proxy URL ("http://proxy.example:3128"); empty: none, unless use_environment_proxy.
  std::string proxy;
  // Honour http_proxy, https_proxy and no_proxy from the environment (libcurl's rules) when no
  // explicit proxy is set. Off by default, so an inherited variable never reroutes traffic.
  bool use_environment_proxy = false;
  // Allow plain http:// to hosts other than loopback (a site that has no TLS on a private
  // network). Tokens would cross the network readable.
  bool allow_plain_http = false;
  std::chrono::milliseconds connect_timeout{10000};
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::vector<Header> headers;
  std::string body;
  std::chrono::milliseconds timeout{30000};  // the whole exchange, connection included
};

struct ClientResponse {
  int status = 0;
  std::vector<Header> headers;  // names lower-case, in the order received
  std::string body;

  const std::string* FindHeader(std::string_view lower_case_name) const;
};

// The scheme, host and port of `url` ("https://fhir.example.org:8443"): safe to put in a message
// or a log, unlike its path and query. "(invalid URL)" when it has none.
std::string OriginOf(std::string_view url);

// True when `host` (as in a URL, brackets allowed) names the local machine: "localhost",
// an IPv4 address in 127.0.0.0/8, or ::1.
bool IsLoopbackHost(std::string_view host);

// Checks that `url` is an absolute http or https URL that the options allow: kInvalidParameter
// for a malformed URL or another scheme, kInsecureTransport for plain http to a host that is not
// loopback without allow_plain_http.
base::Status CheckTransport(std::string_view url, const ClientOptions& options);

class Client {
 public:
  Client();
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `request` and returns the response, whatever its status. Fails with CheckTransport's
  // errors before sending, and with kIoFailure when no complete response arrives (refused,
  // reset, cut off, timed out, certificate refused); the diagnostic names the URL's origin only.
  base::Result<ClientResponse> Send(const ClientRequest& request);

  const ClientOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fhirbridge::http
