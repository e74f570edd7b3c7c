#include "sandbox/sandbox_server.h"

#include <chrono>
#include <random>

#include "base/clock.h"
#include "observe/log.h"
#include "sandbox/admin_api.h"
#include "sandbox/fhir_api.h"

namespace fhirbridge::sandbox {
namespace {

using base::ErrorCode;

constexpr std::size_t kMaxRequestIdLength = 128;

// A client's X-Request-Id is echoed only if it is short and made of safe characters, so it can
// neither break a header nor smuggle data into the logs.
bool IsSaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (const char c : id) {
    const bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == ':';
    if (!safe) return false;
  }
  return true;
}

std::string NewRequestId() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  std::uint64_t high = generator();
  std::uint64_t low = generator();
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(high >> (i * 4)) & 0xF];
    id[16 + i] = kHex[(low >> (i * 4)) & 0xF];
  }
  return id;
}

bool IsSaneHost(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  for (const char c : host) {
    const bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == ':' || c == '[' || c == ']';
    if (!safe) return false;
  }
  return true;
}

std::string_view StatusClass(int status) {
  if (status < 200) return "1xx";
  if (status < 300) return "2xx";
  if (status < 400) return "3xx";
  if (status < 500) return "4xx";
  return "5xx";
}

}  // namespace

SandboxServer::SandboxServer(SandboxConfig config, observe::MetricsRegistry& metrics)
    : config_(std::move(config)),
      metrics_(metrics),
      started_at_(base::FormatInstant(std::chrono::system_clock::now())) {}

SandboxServer::~SandboxServer() {
  if (server_) {
    server_->Stop();
    server_->Wait();
  }
}

base::Result<std::unique_ptr<SandboxServer>> SandboxServer::Start(
    SandboxConfig config, observe::MetricsRegistry& metrics) {
  std::unique_ptr<SandboxServer> sandbox(new SandboxServer(std::move(config), metrics));

  for (const TenantConfig& tenant_config : sandbox->config_.tenants) {
    const auto level = sandbox->config_.build_levels.find(tenant_config.build_level);
    if (level == sandbox->config_.build_levels.end()) {
      return base::Fail(ErrorCode::kConfigInvalid, "Tenant '" + tenant_config.name +
                                                       "' names unknown build level '" +
                                                       tenant_config.build_level + "'.");
    }
    auto tenant = Tenant::Open(tenant_config, level->second);
    if (!tenant) return base::Fail(tenant.error());
    sandbox->tenants_.emplace(tenant_config.name, std::move(*tenant));
  }

  const ServerSettings& settings = sandbox->config_.server;
  http::ServerOptions options;
  options.host = settings.host;
  options.port = settings.port;
  options.threads = settings.threads;
  options.max_header_bytes = settings.max_header_bytes;
  options.max_body_bytes = settings.max_body_bytes;

  SandboxServer* self = sandbox.get();
  auto server = http::Server::Start(
      options, [self](const http::Request& request) { return self->Handle(request); },
      [self](const base::Error& error) {
        // A request the parser refused: it has no route, tenant or id worth trusting.
        http::Response response = ErrorResponse(error);
        response.SetHeader("X-Request-Id", NewRequestId());
        observe::LogEvent event;
        event.level = observe::LogLevel::kWarning;
        event.event = "http.request_rejected";
        event.subsystem = "sandbox.http";
        event.message = "The HTTP parser refused a request; the connection was closed.";
        event.status = response.status;
        event.error = error;
        observe::Log(event);
        self->metrics_
            .GetCounter("fhirbridge_sandbox_rejected_requests_total",
                        "Requests refused by the HTTP parser (malformed or over a size limit).",
                        {{"reason", std::string(error.info().name)}})
            .Increment();
        return response;
      });
  if (!server) return base::Fail(server.error());
  sandbox->server_ = std::move(*server);
  return sandbox;
}

unsigned short SandboxServer::port() const { return server_ ? server_->port() : 0; }

std::string SandboxServer::Origin() const {
  return "http://" + config_.server.host + ":" + std::to_string(port());
}

void SandboxServer::Stop() {
  if (server_) server_->Stop();
}

void SandboxServer::Wait() {
  if (server_) server_->Wait();
}

http::Response SandboxServer::Handle(const http::Request& request) {
  const auto started = std::chrono::steady_clock::now();
  const std::string* client_request_id = request.FindHeader("x-request-id");
  const std::string request_id = client_request_id != nullptr && IsSaneRequestId(*client_request_id)
                                     ? *client_request_id
                                     : NewRequestId();

  http::Response response;
  std::string route;
  std::string tenant_name;
  std::optional<base::Error> error;
  std::vector<std::string> segments;

  if (!http::SplitPath(request.path, segments)) {
    route = "{malformed}";
    error = base::MakeError(ErrorCode::kMalformedHttp, "The request path has a bad %-escape.");
  } else if (segments.size() == 1 && segments[0] == "healthz") {
    route = "/healthz";
    response.SetHeader("Content-Type", "text/plain");
    response.body = "ok\n";
  } else if (segments.size() == 1 && segments[0] == "metrics") {
    route = "/metrics";
    response.SetHeader("Content-Type", "text/plain; version=0.0.4");
    response.body = metrics_.RenderPrometheus();
  } else if (!segments.empty() && segments[0] == "admin") {
    AdminAnswer answer =
        HandleAdminCall(tenants_, request, std::span(segments).subspan(1), started_at_);
    response = std::move(answer.response);
    route = std::move(answer.route);
    tenant_name = std::move(answer.tenant);
    error = std::move(answer.error);
  } else if (segments.size() >= 4 && segments[1] == "api" && segments[2] == "FHIR" &&
             segments[3] == "R4") {
    const auto tenant = tenants_.find(segments[0]);
    if (tenant == tenants_.end()) {
      route = "/{tenant}/api/FHIR/R4";
      error = base::MakeError(ErrorCode::kUnknownTenant, "No tenant is called '" +
                                                             segments[0].substr(0, 64) +
                                                             "'; GET /admin/tenants lists them.");
    } else {
      tenant_name = tenant->first;
      const std::string* host = request.FindHeader("host");
      const std::string authority = host != nullptr && IsSaneHost(*host)
                                        ? *host
                                        : config_.server.host + ":" + std::to_string(port());
      FhirCall call{*tenant->second, request, std::span(segments).subspan(4),
                    "http://" + authority + tenant->second->BasePath(), started_at_};
      FhirAnswer answer = HandleFhirCall(call);
      response = std::move(answer.response);
      route = std::move(answer.route);
      error = std::move(answer.error);
    }
  } else {
    route = "{unknown}";
    error = base::MakeError(ErrorCode::kUnknownRoute,
                            "No route matches this path. FHIR lives under "
                            "/{tenant}/api/FHIR/R4/; GET /admin/tenants lists the tenants.");
  }
  if (error && response.body.empty()) response = ErrorResponse(*error);
  response.SetHeader("X-Request-Id", request_id);

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const observe::Labels labels = {{"tenant", tenant_name.empty() ? "-" : tenant_name},
                                  {"route", route},
                                  {"status_class", std::string(StatusClass(response.status))}};
  metrics_
      .GetCounter("fhirbridge_sandbox_requests_total", "Requests answered by the sandbox.", labels)
      .Increment();
  metrics_
      .GetHistogram("fhirbridge_sandbox_request_duration_seconds",
                    "Time to handle a sandbox request, from parsed request to response.", labels)
      .Observe(seconds);

  observe::LogEvent event;
  event.level = response.status >= 500 ? observe::LogLevel::kError : observe::LogLevel::kInfo;
  event.event = "http.request";
  event.subsystem = "sandbox.http";
  event.tenant = std::move(tenant_name);
  event.correlation_id = request_id;
  event.method = request.method.substr(0, 16);
  event.route = std::move(route);
  event.query = observe::RedactQuery(request.query);
  event.status = response.status;
  event.latency_ms = seconds * 1000.0;
  event.error = std::move(error);
  observe::Log(event);
  return response;
}

}  // namespace fhirbridge::sandbox
