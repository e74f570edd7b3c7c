#include "sandbox/sandbox_server.h"

#include <array>
#include <cassert>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "base/clock.h"
#include "fhir/operation_outcome.h"
#include "observe/log.h"
#include "sandbox/access_control.h"
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

// The route template of a FHIR request answered before it was routed: refused by traffic shaping,
// or given an injected error.
constexpr std::string_view kNotRoutedFhir = "/{tenant}/api/FHIR/R4/{not-routed}";
// Names the faults injected into a response, for people reading it; clients must not rely on it.
constexpr std::string_view kInjectedFaultHeader = "X-Fhirbridge-Injected-Fault";
// Epic's code system for its own OperationOutcome codes, as its public sandbox sends them.
constexpr std::string_view kEpicErrorSystem = "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369";
// Concurrency refusals have no natural wait; Microsoft's FHIR server also answers a fixed one.
constexpr std::chrono::seconds kQueueRetryAfter{1};

struct InjectedError {
  int status;
  ErrorCode code;
  observe::Literal kind;
};

constexpr std::array<InjectedError, 4> kInjectedErrors = {{
    {500, ErrorCode::kInjectedServerError, "error_500"},
    {502, ErrorCode::kInjectedBadGateway, "error_502"},
    {503, ErrorCode::kInjectedServiceUnavailable, "error_503"},
    {504, ErrorCode::kInjectedGatewayTimeout, "error_504"},
}};

const InjectedError& InjectedErrorFor(int status) {
  for (const InjectedError& injected : kInjectedErrors) {
    if (injected.status == status) return injected;
  }
  assert(false && "every status in kInjectedErrorStatuses has a row in kInjectedErrors");
  return kInjectedErrors[0];
}

void AddFaultHeader(http::Response& response, observe::Literal kind) {
  const std::string* existing = response.FindHeader(kInjectedFaultHeader);
  response.SetHeader(kInjectedFaultHeader, existing == nullptr
                                               ? std::string(kind.view())
                                               : *existing + ", " + std::string(kind.view()));
}

// Whole seconds from `now` until `end`, at least 1, for Retry-After.
std::chrono::seconds SecondsUntil(base::SystemTime now, base::SystemTime end) {
  const double seconds = std::chrono::duration<double>(end - now).count();
  return std::chrono::seconds(std::max<std::int64_t>(1, std::llround(std::ceil(seconds))));
}

http::Response RetryLater(const base::Error& error, std::chrono::seconds retry_after) {
  http::Response response = ErrorResponse(error);
  response.SetHeader("Retry-After", std::to_string(retry_after.count()));
  return response;
}

// Whether a request asks for a later page of results, by the cursor parameters paging uses.
bool HasPagingCursor(std::string_view query) {
  for (const auto& [name, value] : http::ParseQuery(query)) {
    if (name == "_page" || name == "_cursor") return true;
  }
  return false;
}

// Epic answers a page whose cached search session has expired with 4113; so does this fault.
http::Response ExpiredPageResponse(const base::Error& error) {
  http::Response response = ErrorResponse(error);
  fhir::Json outcome = fhir::OperationOutcomeFor(error);
  outcome["issue"][0]["details"]["coding"].push_back(
      {{"system", kEpicErrorSystem},
       {"code", "4113"},
       {"display", "The paging session for these cached results has expired."}});
  response.body = outcome.dump();
  return response;
}

// The catalogue error behind an OAuth error answer ({"error": "invalid_client", ...}), for the
// request's log line and metrics.
base::Error OAuthErrorOf(const http::Response& response) {
  const fhir::Json body = fhir::Json::parse(response.body, nullptr, false);
  const std::string name = body.is_object() ? body.value("error", "") : "";
  for (const ErrorCode code :
       {ErrorCode::kOAuthInvalidRequest, ErrorCode::kOAuthInvalidClient,
        ErrorCode::kOAuthInvalidGrant, ErrorCode::kOAuthUnauthorizedClient,
        ErrorCode::kOAuthUnsupportedGrantType, ErrorCode::kOAuthInvalidScope}) {
    if (base::Describe(code).name == name) {
      return base::MakeError(code, "The authorization server refused the request.");
    }
  }
  return base::MakeError(ErrorCode::kOAuthInvalidRequest,
                         "The authorization server refused the request.");
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
  // Requests still queued hold their connections, which must close before the server's I/O goes.
  for (const auto& [name, tenant] : tenants_) tenant->traffic().concurrency().DropWaiting();
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
  auto server = http::Server::StartAsync(
      options,
      [self](http::Request request, http::Responder responder) {
        self->Serve(std::move(request), std::move(responder));
      },
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

  // Scheduled resets run on the server's timers, so they start now that it runs; the listener
  // starts them again whenever the admin API changes a tenant's faults.
  for (const auto& [name, tenant] : sandbox->tenants_) {
    Tenant* tenant_pointer = tenant.get();
    const std::uint64_t generation =
        tenant->traffic().SetFaultsListener([self, tenant_pointer](std::uint64_t changed) {
          self->ScheduleResets(*tenant_pointer, changed);
        });
    self->ScheduleResets(*tenant, generation);
  }
  return sandbox;
}

unsigned short SandboxServer::port() const { return server_ ? server_->port() : 0; }

std::string SandboxServer::Origin() const {
  return "http://" + config_.server.host + ":" + std::to_string(port());
}

Tenant* SandboxServer::FindTenant(std::string_view name) {
  const auto found = tenants_.find(name);
  return found == tenants_.end() ? nullptr : found->second.get();
}

void SandboxServer::Stop() {
  if (server_) server_->Stop();
}

void SandboxServer::Wait() {
  if (server_) server_->Wait();
}

std::string SandboxServer::RequestIdFor(const http::Request& request) {
  const std::string* client_request_id = request.FindHeader("x-request-id");
  return client_request_id != nullptr && IsSaneRequestId(*client_request_id) ? *client_request_id
                                                                             : NewRequestId();
}

std::string SandboxServer::AuthorityOf(const http::Request& request) const {
  const std::string* host = request.FindHeader("host");
  return host != nullptr && http::IsPlainHost(*host)
             ? *host
             : config_.server.host + ":" + std::to_string(port());
}

AuthUrls SandboxServer::AuthUrlsOf(const Tenant& tenant, const http::Request& request) const {
  const std::string origin = "http://" + AuthorityOf(request);
  return AuthUrls{origin + tenant.BasePath(), origin + "/" + tenant.config().name + "/oauth2"};
}

FhirAnswer SandboxServer::CallFhir(Tenant& tenant, const http::Request& request,
                                   std::span<const std::string> segments) {
  const AuthUrls urls = AuthUrlsOf(tenant, request);

  // Discovery and the CapabilityStatement are public, as SMART requires.
  if (segments.size() == 2 && segments[0] == ".well-known" &&
      segments[1] == "smart-configuration") {
    FhirAnswer answer;
    answer.route = "/{tenant}/api/FHIR/R4/.well-known/smart-configuration";
    answer.response.SetHeader("Content-Type", "application/json");
    answer.response.body = tenant.auth().SmartConfiguration(urls).dump();
    return answer;
  }
  const bool is_public = segments.size() == 1 && segments[0] == "metadata";

  // A token is checked when the tenant requires one, and whenever one is sent.
  const std::string* authorization = request.FindHeader("authorization");
  std::optional<AccessGrant> grant;
  if (!is_public && (tenant.requires_token() || authorization != nullptr)) {
    const auto refuse = [&](base::Error error) {
      FhirAnswer answer;
      answer.route = "/{tenant}/api/FHIR/R4/{protected}";
      answer.response = ErrorResponse(error);
      AddAuthenticateChallenge(answer.response, error, tenant.config().name);
      answer.error = std::move(error);
      return answer;
    };
    auto authenticated = tenant.auth().Authenticate(authorization);
    if (!authenticated) return refuse(authenticated.error());
    if (auto allowed = AuthorizeFhirRequest(*authenticated, request, segments); !allowed) {
      return refuse(allowed.error());
    }
    grant = std::move(*authenticated);
  }

  FhirCall call{tenant, request, segments, urls.fhir_base, started_at_, grant ? &*grant : nullptr};
  FhirAnswer answer = HandleFhirCall(call);
  if (grant) {
    if (auto allowed = AuthorizeFhirAnswer(*grant, request, segments, answer.response); !allowed) {
      answer.response = ErrorResponse(allowed.error());
      AddAuthenticateChallenge(answer.response, allowed.error(), tenant.config().name);
      answer.error = allowed.error();
    }
  }
  return answer;
}

http::Response SandboxServer::Handle(const http::Request& request) {
  const auto started = std::chrono::steady_clock::now();
  const std::string request_id = RequestIdFor(request);

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
    UpdateTrafficGauges();
    response.SetHeader("Content-Type", "text/plain; version=0.0.4");
    response.body = metrics_.RenderPrometheus();
  } else if (!segments.empty() && segments[0] == "admin") {
    AdminAnswer answer =
        HandleAdminCall(tenants_, request, std::span(segments).subspan(1), started_at_);
    response = std::move(answer.response);
    route = std::move(answer.route);
    tenant_name = std::move(answer.tenant);
    error = std::move(answer.error);
  } else if (segments.size() == 3 && segments[1] == "oauth2") {
    // The tenant's authorization server. Not traffic-shaped: Epic throttles its FHIR API, and
    // the simulated token-endpoint errors cover the OAuth side.
    static const std::set<std::string, std::less<>> kEndpoints = {"token", "authorize",
                                                                  "introspect", "revoke", "jwks"};
    const bool known_endpoint = kEndpoints.contains(segments[2]);
    route = known_endpoint ? "/{tenant}/oauth2/" + segments[2] : "/{tenant}/oauth2/{unknown}";
    const auto tenant = tenants_.find(segments[0]);
    if (tenant == tenants_.end()) {
      error = base::MakeError(ErrorCode::kUnknownTenant, "No tenant is called '" +
                                                             segments[0].substr(0, 64) +
                                                             "'; GET /admin/tenants lists them.");
    } else {
      tenant_name = tenant->first;
      response =
          tenant->second->auth().Handle(request, segments[2], AuthUrlsOf(*tenant->second, request));
      if (response.status >= 400) error = OAuthErrorOf(response);
    }
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
      FhirAnswer answer = CallFhir(*tenant->second, request, std::span(segments).subspan(4));
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
  Record(request, request_id, started, std::move(route), std::move(tenant_name), std::move(error),
         response);
  return response;
}

void SandboxServer::Record(const http::Request& request, const std::string& request_id,
                           std::chrono::steady_clock::time_point started, std::string route,
                           std::string tenant_name, std::optional<base::Error> error,
                           http::Response& response) {
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
}

// One FHIR request on its way through its tenant's traffic shaping and faults. Shared between the
// steps and timers that handle it; each step runs on the request's connection strand or on the
// thread that handed it a slot, never two at once.
struct SandboxServer::Exchange {
  Exchange(http::Request request_in, http::Responder responder_in, Tenant& tenant_in,
           std::vector<std::string> segments_in)
      : request(std::move(request_in)),
        responder(std::move(responder_in)),
        tenant(tenant_in),
        segments(std::move(segments_in)),
        request_id(RequestIdFor(request)),
        faults(tenant.traffic().faults()) {}

  http::Request request;
  http::Responder responder;
  Tenant& tenant;
  std::vector<std::string> segments;  // the whole path; the FHIR part starts at index 4
  std::string request_id;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point queued_at;
  // The settings in force when the request arrived, so a change mid-request cannot mix two.
  std::shared_ptr<const FaultSettings> faults;
  bool holds_slot = false;
  std::chrono::milliseconds delay{0};
  std::string route = std::string(kNotRoutedFhir);
  std::optional<base::Error> error;
  http::Response response;
};

void SandboxServer::Serve(http::Request request, http::Responder responder) {
  std::vector<std::string> segments;
  Tenant* tenant = nullptr;
  if (http::SplitPath(request.path, segments) && segments.size() >= 4 && segments[1] == "api" &&
      segments[2] == "FHIR" && segments[3] == "R4") {
    if (const auto found = tenants_.find(segments[0]); found != tenants_.end()) {
      tenant = found->second.get();
    }
  }
  if (tenant == nullptr) {
    // A simulated slow token endpoint answers later without holding a worker meanwhile.
    if (segments.size() == 3 && segments[1] == "oauth2" && segments[2] == "token") {
      if (const auto found = tenants_.find(segments[0]); found != tenants_.end()) {
        const std::int64_t delay = found->second->auth().simulated_errors().token_endpoint_delay_ms;
        if (delay > 0) {
          responder.RunAfter(
              std::chrono::milliseconds(delay),
              [this, request = std::move(request), responder] { responder.Send(Handle(request)); });
          return;
        }
      }
    }
    responder.Send(Handle(request));
    return;
  }
  ServeFhir(std::make_shared<Exchange>(std::move(request), std::move(responder), *tenant,
                                       std::move(segments)));
}

void SandboxServer::ServeFhir(const std::shared_ptr<Exchange>& exchange) {
  TenantTraffic& traffic = exchange->tenant.traffic();
  const std::string& tenant_name = exchange->tenant.config().name;
  const observe::Labels tenant_label = {{"tenant", tenant_name}};

  // A tenant in maintenance turns everything away before anything else is looked at.
  const auto now = std::chrono::system_clock::now();
  if (const auto end = traffic.MaintenanceEnd(now)) {
    RecordFault(tenant_name, exchange->request_id, "maintenance");
    exchange->error = base::MakeError(
        ErrorCode::kMaintenanceWindow,
        "The tenant is in a maintenance window (faults.maintenance_windows, or one started with "
        "POST /admin/tenants/{tenant}/maintenance); retry after the time in Retry-After.");
    exchange->response = RetryLater(*exchange->error, SecondsUntil(now, *end));
    AddFaultHeader(exchange->response, "maintenance");
    return Complete(*exchange);
  }

  const RateLimiter::Decision rate =
      traffic.TakeToken(RateLimitClient(exchange->request), std::chrono::steady_clock::now());
  if (!rate.allowed) {
    metrics_
        .GetCounter("fhirbridge_sandbox_rate_limited_total",
                    "FHIR requests refused with 429 by a tenant's per-client rate limit.",
                    tenant_label)
        .Increment();
    exchange->error = base::MakeError(
        ErrorCode::kRateLimited,
        "This client sent more requests than the tenant's rate limit allows "
        "(traffic.requests_per_second and traffic.burst); retry after the time in Retry-After.");
    exchange->response = RetryLater(*exchange->error, rate.retry_after);
    return Complete(*exchange);
  }

  exchange->queued_at = std::chrono::steady_clock::now();
  ConcurrencyLimiter::Ticket ticket = traffic.concurrency().Acquire([this, exchange] {
    // Called on the thread that freed the slot: the request goes on on its own connection.
    exchange->holds_slot = true;
    exchange->responder.RunAfter(std::chrono::milliseconds::zero(), [this, exchange] {
      metrics_
          .GetHistogram("fhirbridge_sandbox_queue_wait_seconds",
                        "Time FHIR requests waited in a tenant's queue before getting a slot.",
                        {{"tenant", exchange->tenant.config().name}})
          .Observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - exchange->queued_at)
                  .count());
      Admitted(exchange);
    });
  });
  switch (ticket.admission) {
    case ConcurrencyLimiter::Admission::kAdmitted:
      exchange->holds_slot = true;
      return Admitted(exchange);
    case ConcurrencyLimiter::Admission::kQueueFull:
      metrics_
          .GetCounter("fhirbridge_sandbox_queue_rejected_total",
                      "FHIR requests refused with 429 because a tenant's queue was full or the "
                      "wait for a slot expired.",
                      {{"tenant", tenant_name}, {"reason", "queue_full"}})
          .Increment();
      exchange->error = base::MakeError(
          ErrorCode::kConcurrencyLimited,
          "The tenant is handling as many requests as traffic.max_concurrent allows and its "
          "queue (traffic.queue_size) is full; retry after the time in Retry-After.");
      exchange->response = RetryLater(*exchange->error, kQueueRetryAfter);
      return Complete(*exchange);
    case ConcurrencyLimiter::Admission::kQueued:
      break;
  }

  metrics_
      .GetCounter("fhirbridge_sandbox_queued_requests_total",
                  "FHIR requests that waited in a tenant's queue for a slot.", tenant_label)
      .Increment();
  // The timer holds the request weakly: once admitted and answered, nothing keeps it alive.
  exchange->responder.RunAfter(
      traffic.traffic().queue_timeout,
      [this, weak = std::weak_ptr<Exchange>(exchange), waiter = ticket.waiter] {
        const std::shared_ptr<Exchange> expired = weak.lock();
        if (expired == nullptr || !expired->tenant.traffic().concurrency().Withdraw(waiter)) {
          return;
        }
        metrics_
            .GetCounter("fhirbridge_sandbox_queue_rejected_total",
                        "FHIR requests refused with 429 because a tenant's queue was full or the "
                        "wait for a slot expired.",
                        {{"tenant", expired->tenant.config().name}, {"reason", "wait_expired"}})
            .Increment();
        expired->error = base::MakeError(
            ErrorCode::kConcurrencyLimited,
            "The request waited traffic.queue_timeout_ms for one of the tenant's "
            "traffic.max_concurrent slots without getting one; retry after the time in "
            "Retry-After.");
        expired->response = RetryLater(*expired->error, kQueueRetryAfter);
        Complete(*expired);
      });
}

void SandboxServer::Admitted(const std::shared_ptr<Exchange>& exchange) {
  const FaultSettings& faults = *exchange->faults;
  TenantTraffic& traffic = exchange->tenant.traffic();
  const std::string& tenant_name = exchange->tenant.config().name;

  if (faults.expired_page_rate > 0 && HasPagingCursor(exchange->request.query) &&
      traffic.Roll(faults.expired_page_rate)) {
    RecordFault(tenant_name, exchange->request_id, "expired_page");
    exchange->error =
        base::MakeError(ErrorCode::kPagingSessionExpired,
                        "Injected fault (faults.expired_page_rate): the paging session of these "
                        "results has expired; run the search again from its first page.");
    exchange->response = ExpiredPageResponse(*exchange->error);
    AddFaultHeader(exchange->response, "expired_page");
    return Deliver(exchange);
  }

  // An injected error is answered instead of the request, which is therefore not processed.
  if (const std::optional<int> status = traffic.RollInjectedError(faults)) {
    const InjectedError& injected = InjectedErrorFor(*status);
    RecordFault(tenant_name, exchange->request_id, injected.kind);
    exchange->error = base::MakeError(
        injected.code, "Injected fault (faults.error_rates." + std::to_string(*status) +
                           "): the request was not processed; retry it.");
    exchange->response = ErrorResponse(*exchange->error);
    AddFaultHeader(exchange->response, injected.kind);
    return Deliver(exchange);
  }

  FhirAnswer answer =
      CallFhir(exchange->tenant, exchange->request, std::span(exchange->segments).subspan(4));
  exchange->response = std::move(answer.response);
  exchange->route = std::move(answer.route);
  exchange->error = std::move(answer.error);
  ApplyPagingFaults(*exchange);
  Deliver(exchange);
}

// Paging faults concern the pages of searchset and history Bundles, the two kinds that carry
// next links.
void SandboxServer::ApplyPagingFaults(Exchange& exchange) {
  const FaultSettings& faults = *exchange.faults;
  if (faults.missing_next_link_rate <= 0 && faults.slow_last_page <= std::chrono::milliseconds{0}) {
    return;
  }
  http::Response& response = exchange.response;
  if (response.status != 200 || exchange.request.method != "GET" ||
      response.body.find("\"Bundle\"") == std::string::npos) {
    return;
  }
  fhir::Json bundle = fhir::Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!bundle.is_object() || bundle.value("resourceType", "") != "Bundle") return;
  const std::string type = bundle.value("type", "");
  if (type != "searchset" && type != "history") return;

  const std::string& tenant_name = exchange.tenant.config().name;
  auto links = bundle.find("link");
  if (links != bundle.end() && links->is_array()) {
    for (std::size_t i = 0; i < links->size(); ++i) {
      const fhir::Json& link = (*links)[i];
      if (!link.is_object() || link.value("relation", "") != "next") continue;
      if (exchange.tenant.traffic().Roll(faults.missing_next_link_rate)) {
        links->erase(i);
        response.body = bundle.dump();
        RecordFault(tenant_name, exchange.request_id, "missing_next_link");
        AddFaultHeader(response, "missing_next_link");
      }
      return;
    }
  }
  // No next link: this is the last page.
  if (faults.slow_last_page > std::chrono::milliseconds{0}) {
    exchange.delay += faults.slow_last_page;
    RecordFault(tenant_name, exchange.request_id, "slow_last_page", faults.slow_last_page);
    AddFaultHeader(response, "slow_last_page");
  }
}

void SandboxServer::Deliver(const std::shared_ptr<Exchange>& exchange) {
  const FaultSettings& faults = *exchange->faults;
  TenantTraffic& traffic = exchange->tenant.traffic();
  const std::string& tenant_name = exchange->tenant.config().name;

  const std::chrono::milliseconds latency = traffic.RollLatency(faults);
  if (latency > std::chrono::milliseconds{0}) {
    exchange->delay += latency;
    RecordFault(tenant_name, exchange->request_id, "latency", latency);
    AddFaultHeader(exchange->response, "latency");
  }
  if (traffic.Roll(faults.drop_connection_rate)) {
    exchange->response.drop_midway = true;
    RecordFault(tenant_name, exchange->request_id, "dropped_connection");
    AddFaultHeader(exchange->response, "dropped_connection");
  }

  // The request keeps its slot while it is delayed, as a slow server's requests do.
  if (exchange->delay <= std::chrono::milliseconds{0}) return Complete(*exchange);
  exchange->responder.RunAfter(exchange->delay, [this, exchange] { Complete(*exchange); });
}

void SandboxServer::Complete(Exchange& exchange) {
  if (exchange.holds_slot) {
    exchange.holds_slot = false;
    exchange.tenant.traffic().concurrency().Release();
  }
  if (exchange.error && exchange.response.body.empty()) {
    exchange.response = ErrorResponse(*exchange.error);
  }
  Record(exchange.request, exchange.request_id, exchange.started, std::move(exchange.route),
         exchange.tenant.config().name, std::move(exchange.error), exchange.response);
  exchange.responder.Send(std::move(exchange.response));
}

void SandboxServer::RecordFault(const std::string& tenant_name, const std::string& correlation_id,
                                observe::Literal kind, std::chrono::milliseconds delay) {
  metrics_
      .GetCounter("fhirbridge_sandbox_injected_faults_total",
                  "Faults injected on purpose by the tenants' fault settings, by kind.",
                  {{"tenant", tenant_name}, {"kind", std::string(kind.view())}})
      .Increment();
  observe::LogEvent event;
  event.event = "fault.injected";
  event.subsystem = "sandbox.faults";
  event.message =
      "A fault was injected as the tenant's fault settings ask; GET "
      "/admin/tenants/{tenant}/faults shows them and PUT changes them.";
  event.tenant = tenant_name;
  event.correlation_id = correlation_id;
  event.attributes.push_back({"kind", kind});
  if (delay > std::chrono::milliseconds{0}) {
    event.attributes.push_back({"delay_ms", static_cast<std::int64_t>(delay.count())});
  }
  observe::Log(event);
}

void SandboxServer::UpdateTrafficGauges() {
  for (const auto& [name, tenant] : tenants_) {
    const ConcurrencyLimiter& limiter = tenant->traffic().concurrency();
    metrics_
        .GetGauge("fhirbridge_sandbox_requests_in_flight",
                  "FHIR requests a tenant is handling now, each holding a concurrency slot.",
                  {{"tenant", name}})
        .Set(static_cast<std::int64_t>(limiter.in_flight()));
    metrics_
        .GetGauge("fhirbridge_sandbox_queue_length",
                  "FHIR requests waiting in a tenant's queue for a slot now.", {{"tenant", name}})
        .Set(static_cast<std::int64_t>(limiter.waiting()));
  }
}

// Limitation: a reset runs on a worker thread and holds the tenant's store for its transaction,
// a few milliseconds for the baseline; requests to that tenant wait for it meanwhile.
void SandboxServer::ScheduleResets(Tenant& tenant, std::uint64_t generation) {
  const std::chrono::milliseconds interval = tenant.traffic().faults()->ResetInterval();
  if (interval <= std::chrono::milliseconds{0}) return;
  server_->RunAfter(interval, [this, &tenant, generation] {
    // The faults changed since this schedule began; the schedule for the new ones has taken over.
    if (tenant.traffic().faults_generation() != generation) return;
    if (auto loaded = tenant.ResetToBaseline(); loaded) {
      tenant.traffic().CountScheduledReset();
      RecordFault(tenant.config().name, {}, "scheduled_reset");
    } else {
      observe::LogEvent event;
      event.level = observe::LogLevel::kError;
      event.event = "tenant.scheduled_reset_failed";
      event.subsystem = "sandbox.faults";
      event.message =
          "A scheduled reset to the baseline failed; the tenant keeps its data. Check its storage, "
          "or set faults.reset_every_minutes to 0.";
      event.tenant = tenant.config().name;
      event.error = loaded.error();
      observe::Log(event);
    }
    ScheduleResets(tenant, generation);
  });
}

}  // namespace fhirbridge::sandbox
