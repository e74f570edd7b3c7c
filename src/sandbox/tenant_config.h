#pragma once

// The sandbox's configuration file (TOML): server settings, build levels and tenants.
// Parsing collects every mistake, each with the file, line and column and the key at fault,
// before it answers.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "sandbox/auth_config.h"
#include "sandbox/build_level.h"
#include "sandbox/traffic_config.h"

namespace fhirbridge::sandbox {

// How a tenant makes ids for created resources.
enum class IdStyle {
  kEpic,        // Epic-like: letters, digits, '.' and '-', starting with 'e' (can exceed 64)
  kUuid,        // RFC 4122 version 4, 36 characters
  kSequential,  // 1, 2, 3, ...
};

struct ServerSettings {
  std::string host = "127.0.0.1";
  unsigned short port = 8090;
  unsigned threads = 0;  // 0: one per core
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 8 * 1024 * 1024;
};

struct TenantConfig {
  std::string name;          // the URL segment: /{name}/api/FHIR/R4/
  std::string display_name;  // the simulated organisation's name
  std::string build_level;   // key into SandboxConfig::build_levels
  IdStyle id_style = IdStyle::kEpic;
  std::size_t id_length = 24;        // ignored for kUuid and kSequential
  std::string storage = ":memory:";  // SQLite path, or ":memory:"
  std::string baseline = "default";  // folder under sandbox/baseline/ loaded at start and reset
  TrafficSettings traffic;           // [tenants.traffic]: rate and concurrency limits
  FaultSettings faults;              // [tenants.faults]: injected faults
  TenantAuthSettings auth;           // [tenants.auth]: tokens required, lifetimes, test user
};

struct SandboxConfig {
  ServerSettings server;
  std::map<std::string, BuildLevel, std::less<>> build_levels;
  std::vector<TenantConfig> tenants;
};

// Parses `toml_text`; `source_name` (a path) prefixes every message. On failure the error is
// kConfigInvalid and its diagnostic lists each problem on its own line as
// "source:line:column: key: what is wrong".
base::Result<SandboxConfig> ParseSandboxConfig(std::string_view toml_text,
                                               std::string_view source_name);

// Reads and parses a file; kConfigNotFound if it cannot be read.
base::Result<SandboxConfig> LoadSandboxConfig(const std::string& path);

// The configuration compiled into the binary (data/sandbox/tenants.toml).
base::Result<SandboxConfig> DefaultSandboxConfig();

}  // namespace fhirbridge::sandbox
