#include "sandbox_test_server.h"

#include <gtest/gtest.h>

#include "observe/log.h"

namespace fhirbridge::testing {

SandboxTestServer::SandboxTestServer() { Start(sandbox::DefaultSandboxConfig()); }

SandboxTestServer::SandboxTestServer(std::string_view config_toml) {
  Start(sandbox::ParseSandboxConfig(config_toml, "test-config.toml"));
}

void SandboxTestServer::Start(base::Result<sandbox::SandboxConfig> config) {
  observe::SetLogStream(&logs_);
  observe::SetMinimumLogLevel(observe::LogLevel::kInfo);
  if (!config) {
    ADD_FAILURE() << "configuration: " << config.error().ToString();
    return;
  }
  config->server.port = 0;
  config->server.threads = 2;
  auto server = sandbox::SandboxServer::Start(std::move(*config), metrics_);
  if (!server) {
    ADD_FAILURE() << "sandbox start: " << server.error().ToString();
    return;
  }
  server_ = std::move(*server);
  origin_ = server_->Origin();
}

SandboxTestServer::~SandboxTestServer() {
  server_.reset();
  observe::SetLogStream(nullptr);
}

std::string SandboxTestServer::Logs() const { return logs_.str(); }

}  // namespace fhirbridge::testing
