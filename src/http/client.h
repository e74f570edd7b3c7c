#pragma once

// A blocking HTTP client on libcurl. One Client keeps its connections alive between calls; use
// one Client per thread (a Client is not thread-safe).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "http/message.h"

namespace fhirbridge::http {

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::vector<Header> headers;
  std::string body;
  std::chrono::milliseconds timeout{30000};
};

struct ClientResponse {
  int status = 0;
  std::vector<Header> headers;  // names lower-case, in the order received
  std::string body;

  const std::string* FindHeader(std::string_view lower_case_name) const;
};

class Client {
 public:
  Client();
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `request` and returns the response, whatever its status. Fails with kIoFailure when no
  // response arrives (refused, reset, timed out); the diagnostic names the URL's origin only.
  base::Result<ClientResponse> Send(const ClientRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fhirbridge::http
