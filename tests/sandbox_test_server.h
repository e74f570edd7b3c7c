#pragma once

// Starts the sandbox on a free loopback port, with its built-in configuration or one given as
// text, with log lines captured in memory, for the HTTP-level tests.

#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include "observe/metrics.h"
#include "sandbox/sandbox_server.h"

namespace fhirbridge::testing {

class SandboxTestServer {
 public:
  // Fails the calling test (ASSERT-style) if the sandbox does not start.
  SandboxTestServer();
  // The same with the tenant file `config_toml`; its [server] port and threads are overridden.
  explicit SandboxTestServer(std::string_view config_toml);
  ~SandboxTestServer();

  const std::string& origin() const { return origin_; }
  sandbox::SandboxServer& server() { return *server_; }
  // Every log line written since start.
  std::string Logs() const;

 private:
  void Start(base::Result<sandbox::SandboxConfig> config);

  std::ostringstream logs_;
  observe::MetricsRegistry metrics_;
  std::unique_ptr<sandbox::SandboxServer> server_;
  std::string origin_;
};

}  // namespace fhirbridge::testing
