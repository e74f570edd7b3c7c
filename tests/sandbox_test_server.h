#pragma once

// Starts the sandbox with its built-in configuration on a free loopback port, with log lines
// captured in memory, for the HTTP-level tests.

#include <memory>
#include <sstream>
#include <string>

#include "observe/metrics.h"
#include "sandbox/sandbox_server.h"

namespace fhirbridge::testing {

class SandboxTestServer {
 public:
  // Fails the calling test (ASSERT-style) if the sandbox does not start.
  SandboxTestServer();
  ~SandboxTestServer();

  const std::string& origin() const { return origin_; }
  sandbox::SandboxServer& server() { return *server_; }
  // Every log line written since start.
  std::string Logs() const;

 private:
  std::ostringstream logs_;
  observe::MetricsRegistry metrics_;
  std::unique_ptr<sandbox::SandboxServer> server_;
  std::string origin_;
};

}  // namespace fhirbridge::testing
