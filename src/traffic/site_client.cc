#include "traffic/site_client.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <random>
#include <utility>

#include "fhir/json_value.h"
#include "observe/log.h"

namespace fhirbridge::traffic {
namespace {

using base::ErrorCode;
using Duration = base::Clock::Duration;
using TimePoint = base::Clock::TimePoint;

std::string RandomHex(std::size_t digits) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text(digits, '0');
  for (std::size_t i = 0; i < digits; i += 16) {
    std::uint64_t bits = generator();
    for (std::size_t j = i; j < std::min(digits, i + 16); ++j, bits >>= 4)
      text[j] = kHex[bits & 15];
  }
  return text;
}

bool IsLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A W3C trace id: 32 lower-case hex digits, not all zero.
bool IsTraceId(std::string_view text) {
  return text.size() == 32 && IsLowerHex(text) && text.find_first_not_of('0') != std::string::npos;
}

// The id a site echoed goes into the logs only if it is short and plain, like the ids we send.
bool IsPlainRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == ':';
  });
}

bool HasHeaderNamed(const std::vector<http::Header>& headers, std::string_view lower_case_name) {
  return std::any_of(headers.begin(), headers.end(), [&](const http::Header& header) {
    if (header.name.size() != lower_case_name.size()) return false;
    for (std::size_t i = 0; i < header.name.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(header.name[i])) != lower_case_name[i]) {
        return false;
      }
    }
    return true;
  });
}

std::string_view StatusClass(int status) {
  static constexpr std::array<std::string_view, 6> kClasses = {"1xx", "1xx", "2xx",
                                                               "3xx", "4xx", "5xx"};
  if (status < 100 || status > 599) return "other";
  return kClasses[static_cast<std::size_t>(status / 100)];
}

std::string Trimmed(std::string text) {
  while (!text.empty() && text.back() == '/') text.pop_back();
  return text;
}

double Milliseconds(Duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

std::string SecondsText(Duration duration) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", std::chrono::duration<double>(duration).count());
  return text;
}

}  // namespace

std::string RouteTemplate(std::string_view relative_path) {
  std::string route;
  // FHIR paths alternate: a type, then an id ("Patient/123/Observation"); a segment after a
  // type is an id even when it looks like one ("Patient/Smith").
  bool after_type = false;
  std::size_t start = 0;
  while (start <= relative_path.size()) {
    std::size_t end = relative_path.find('/', start);
    if (end == std::string_view::npos) end = relative_path.size();
    const std::string_view segment = relative_path.substr(start, end - start);
    start = end + 1;
    if (segment.empty()) continue;
    const bool looks_like_type = segment.front() >= 'A' && segment.front() <= 'Z' &&
                                 std::all_of(segment.begin(), segment.end(), [](char c) {
                                   return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
                                 });
    const bool keyword = route.empty() && (segment == "metadata" || segment == ".well-known");
    const bool control = (segment.front() == '_' || segment.front() == '$') &&
                         std::all_of(segment.begin() + 1, segment.end(), [](char c) {
                           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
                         });
    const bool type = looks_like_type && !after_type;
    route += '/';
    route += (type || keyword || control) ? std::string(segment) : std::string("{id}");
    after_type = type;
  }
  return route.empty() ? "/" : route;
}

base::Status ValidateSitePolicy(const SitePolicy& policy) {
  if (policy.site.empty() || policy.site.size() > 100 ||
      !std::all_of(policy.site.begin(), policy.site.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
      })) {
    return base::Fail(ErrorCode::kInvalidParameter,
                      "site must be 1 to 100 letters, digits, '-', '_' or '.'; it labels logs "
                      "and metrics.");
  }
  if (policy.base_url.find_first_of("?#") != std::string::npos) {
    return base::Fail(ErrorCode::kInvalidParameter,
                      "base_url must not have a query or a fragment.");
  }
  http::ClientOptions options;
  options.allow_plain_http = policy.allow_plain_http;
  if (auto transport = http::CheckTransport(policy.base_url, options); !transport) {
    return transport;
  }
  if (!policy.proxy.empty()) {
    http::ClientOptions any;
    any.allow_plain_http = true;
    if (auto proxy = http::CheckTransport(policy.proxy, any); !proxy) {
      return base::Fail(ErrorCode::kInvalidParameter,
                        "proxy must be an http or https URL such as http://proxy.example:3128.");
    }
  }
  if (policy.connect_timeout.count() <= 0 || policy.request_timeout.count() <= 0) {
    return base::Fail(ErrorCode::kInvalidParameter,
                      "connect_timeout and request_timeout must be positive.");
  }
  if (auto throttle = ValidateThrottleSettings(policy.throttle); !throttle) return throttle;
  if (auto retry = ValidateRetrySettings(policy.retry); !retry) return retry;
  return ValidateBreakerSettings(policy.breaker);
}

// Metric handles for one site, looked up once.
struct SiteClient::Metrics {
  Metrics(observe::MetricsRegistry& target, const std::string& site_name)
      : registry(target), site(site_name) {
    const observe::Labels labels = {{"site", site}};
    for (const std::string_view status_class : {"1xx", "2xx", "3xx", "4xx", "5xx", "other"}) {
      by_class.emplace_back(
          std::string(status_class),
          &registry.GetCounter("fhirbridge_site_requests_total",
                               "HTTP exchanges with a site by status class.",
                               {{"site", site}, {"class", std::string(status_class)}}));
    }
    no_response = &registry.GetCounter("fhirbridge_site_requests_total",
                                       "HTTP exchanges with a site by status class.",
                                       {{"site", site}, {"class", "no_response"}});
    latency =
        &registry.GetHistogram("fhirbridge_site_request_duration_seconds",
                               "Time from sending a request to a site to its full answer.", labels);
    throttle_waits = &registry.GetCounter(
        "fhirbridge_site_throttle_waits_total",
        "Requests that waited for the site's throttle (rate, priority or Retry-After pause).",
        labels);
    throttle_wait =
        &registry.GetHistogram("fhirbridge_site_throttle_wait_seconds",
                               "How long requests that waited for the throttle waited.", labels);
    rate = &registry.GetGauge("fhirbridge_site_throttle_rate_millirequests_per_second",
                              "The throttle's current rate for a site, in thousandths of a "
                              "request per second.",
                              labels);
    configured_rate = &registry.GetGauge(
        "fhirbridge_site_throttle_configured_rate_millirequests_per_second",
        "The site's configured rate, in thousandths of a request per second.", labels);
    breaker_state =
        &registry.GetGauge("fhirbridge_site_breaker_state",
                           "The site's circuit breaker: 0 closed, 1 half-open, 2 open.", labels);
    breaker_rejections = &registry.GetCounter(
        "fhirbridge_site_breaker_rejections_total",
        "Requests not sent because the site's circuit breaker was open.", labels);
    pauses =
        &registry.GetCounter("fhirbridge_site_retry_after_pauses_total",
                             "Answers whose Retry-After paused all requests to the site.", labels);
    token_renewals = &registry.GetCounter(
        "fhirbridge_site_token_renewals_total",
        "Tokens invalidated after a 401 and the request sent again with a new one.", labels);
    warnings = &registry.GetCounter(
        "fhirbridge_site_outcome_warnings_total",
        "OperationOutcome warning and information issues surfaced to callers.", labels);
  }

  observe::Counter& Retries(std::string_view reason) {
    return registry.GetCounter("fhirbridge_site_retries_total", retries_help,
                               {{"site", site}, {"reason", std::string(reason)}});
  }

  observe::Counter& ByClass(std::string_view status_class) {
    for (auto& [name, counter] : by_class) {
      if (name == status_class) return *counter;
    }
    return *by_class.back().second;
  }

  observe::MetricsRegistry& registry;
  std::string site;
  static constexpr std::string_view retries_help =
      "Requests to a site sent again, by the reason of the retry.";
  std::vector<std::pair<std::string, observe::Counter*>> by_class;
  observe::Counter* no_response;
  observe::Histogram* latency;
  observe::Counter* throttle_waits;
  observe::Histogram* throttle_wait;
  observe::Gauge* rate;
  observe::Gauge* configured_rate;
  observe::Gauge* breaker_state;
  observe::Counter* breaker_rejections;
  observe::Counter* pauses;
  observe::Counter* token_renewals;
  observe::Counter* warnings;
};

base::Result<std::unique_ptr<SiteClient>> SiteClient::Create(SitePolicy policy,
                                                             auth::TokenSource* tokens,
                                                             observe::MetricsRegistry& metrics,
                                                             base::Clock& clock,
                                                             std::optional<std::uint64_t> seed) {
  if (auto valid = ValidateSitePolicy(policy); !valid) return base::Fail(valid.error());
  return std::unique_ptr<SiteClient>(
      new SiteClient(std::move(policy), tokens, metrics, clock, seed));
}

SiteClient::SiteClient(SitePolicy policy, auth::TokenSource* tokens,
                       observe::MetricsRegistry& metrics, base::Clock& clock,
                       std::optional<std::uint64_t> seed)
    : policy_([&] {
        policy.base_url = Trimmed(std::move(policy.base_url));
        return std::move(policy);
      }()),
      tokens_(tokens),
      clock_(clock),
      throttle_(policy_.throttle, clock),
      breaker_(policy_.breaker, clock),
      retry_(policy_.retry, seed),
      metrics_(std::make_unique<Metrics>(metrics, policy_.site)) {
  client_options_.ca_bundle = policy_.ca_bundle;
  client_options_.proxy = policy_.proxy;
  client_options_.use_environment_proxy = policy_.use_environment_proxy;
  client_options_.allow_plain_http = policy_.allow_plain_http;
  client_options_.connect_timeout = policy_.connect_timeout;
  PublishState();
}

SiteClient::~SiteClient() = default;

base::Result<std::string> SiteClient::Resolve(std::string_view target) const {
  if (target.starts_with("http://") || target.starts_with("https://")) {
    const std::string& base = policy_.base_url;
    const bool under_base =
        target.starts_with(base) &&
        (target.size() == base.size() || target[base.size()] == '/' || target[base.size()] == '?');
    if (!under_base) {
      return base::Fail(ErrorCode::kInvalidParameter,
                        "An absolute URL sent to site " + policy_.site +
                            " must lie under its base URL; this one points to " +
                            http::OriginOf(target) + " elsewhere.");
    }
    return std::string(target);
  }
  while (target.starts_with('/')) target.remove_prefix(1);
  if (target.empty()) return policy_.base_url;
  return policy_.base_url + (target.front() == '?' ? "" : "/") + std::string(target);
}

std::unique_ptr<http::Client> SiteClient::BorrowClient() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!idle_clients_.empty()) {
      std::unique_ptr<http::Client> client = std::move(idle_clients_.back());
      idle_clients_.pop_back();
      return client;
    }
  }
  return std::make_unique<http::Client>(client_options_);
}

void SiteClient::ReturnClient(std::unique_ptr<http::Client> client) {
  std::lock_guard lock(pool_mutex_);
  idle_clients_.push_back(std::move(client));
}

void SiteClient::PublishState() {
  const ThrottleSnapshot snapshot = throttle_.Snapshot();
  metrics_->rate->Set(static_cast<std::int64_t>(snapshot.current_rate * 1000));
  metrics_->configured_rate->Set(static_cast<std::int64_t>(snapshot.configured_rate * 1000));
  const BreakerState state = breaker_.state();
  metrics_->breaker_state->Set(state == BreakerState::kClosed     ? 0
                               : state == BreakerState::kHalfOpen ? 1
                                                                  : 2);
}

base::Result<SiteResponse> SiteClient::Send(const SiteRequest& request) {
  auto url = Resolve(request.target);
  if (!url) return base::Fail(url.error());
  const std::size_t path_start = url->find('/', url->find("://") + 3);
  const std::size_t query_start = url->find('?');
  const std::string relative_path = url->substr(
      policy_.base_url.size(),
      query_start == std::string::npos ? std::string::npos : query_start - policy_.base_url.size());
  const std::string path =
      path_start == std::string::npos ? "/" : url->substr(path_start, query_start - path_start);
  const std::string route = "[base]" + RouteTemplate(relative_path);
  const std::string redacted_query =
      query_start == std::string::npos ? "" : observe::RedactQuery(url->substr(query_start + 1));
  const bool safe_to_repeat =
      IsSafeToRepeat(request.method, path, request.headers, request.idempotent);

  SiteResponse result;
  result.request_id = RandomHex(32);
  result.trace_id = IsTraceId(request.trace_id) ? request.trace_id : RandomHex(32);

  auto log_event = [&](observe::LogLevel level, observe::Literal event, observe::Literal message) {
    observe::LogEvent line;
    line.level = level;
    line.event = event;
    line.subsystem = "traffic.site";
    line.message = message;
    line.site = policy_.site;
    line.correlation_id = result.request_id;
    line.method = request.method;
    line.route = route;
    line.query = redacted_query;
    return line;
  };

  const TimePoint started = clock_.Now();
  const TimePoint deadline = started + policy_.retry.max_total;
  int retry_number = 1;  // the policy's attempt number: token renewals do not count
  bool token_renewed = false;
  // What this request's previous attempt got ("HTTP 500", "no response"), so that a breaker
  // opened by its own retries names the answer that opened it.
  std::string last_answer;

  while (true) {
    // The breaker first: an open breaker must not cost a throttle token.
    if (auto allowed = breaker_.Allow(); !allowed) {
      metrics_->breaker_rejections->Increment();
      PublishState();
      base::Error error = allowed.error();
      if (!last_answer.empty()) {
        error.diagnostic = "Site " + policy_.site + " failed " + std::to_string(result.attempts) +
                           " attempts (last: " + last_answer + "). " + error.diagnostic;
      }
      return base::Fail(std::move(error));
    }
    const Admission admission = throttle_.AcquireUntil(request.priority, deadline);
    if (admission.waited > Duration::zero()) {
      metrics_->throttle_waits->Increment();
      metrics_->throttle_wait->Observe(std::chrono::duration<double>(admission.waited).count());
      result.throttle_wait += admission.waited;
    }
    if (!admission.granted) {
      breaker_.Release();
      return base::Fail(ErrorCode::kRetriesExhausted,
                        "Site " + policy_.site +
                            " cannot take the request within its retry budget "
                            "(retry.max_total): its throttle or a Retry-After pause holds "
                            "requests for " +
                            SecondsText(admission.available_at - clock_.Now()) +
                            " s more; try again later.");
    }

    // The request as sent: the caller's headers, then the ones this client owns.
    http::ClientRequest attempt;
    attempt.method = request.method;
    attempt.url = *url;
    attempt.body = request.body;
    for (const http::Header& header : request.headers) {
      if (HasHeaderNamed({header}, "authorization") || HasHeaderNamed({header}, "x-request-id") ||
          HasHeaderNamed({header}, "traceparent")) {
        continue;
      }
      attempt.headers.push_back(header);
    }
    if (!HasHeaderNamed(request.headers, "accept")) {
      attempt.headers.push_back({"Accept", "application/fhir+json"});
    }
    attempt.headers.push_back({"X-Request-Id", result.request_id});
    attempt.headers.push_back(
        {"traceparent", "00-" + result.trace_id + "-" + RandomHex(16) + "-01"});
    std::string token;
    if (tokens_ != nullptr) {
      auto access = tokens_->AccessToken();
      if (!access) {
        breaker_.Release();
        return base::Fail(access.error());
      }
      token = std::move(*access);
      attempt.headers.push_back({"Authorization", "Bearer " + token});
    }
    const Duration remaining = deadline - clock_.Now();
    attempt.timeout =
        std::max(std::chrono::milliseconds(1),
                 std::min(policy_.request_timeout,
                          std::chrono::duration_cast<std::chrono::milliseconds>(remaining)));

    std::unique_ptr<http::Client> client = BorrowClient();
    const TimePoint sent = clock_.Now();
    base::Result<http::ClientResponse> answer = client->Send(attempt);
    const TimePoint answered = clock_.Now();
    ReturnClient(std::move(client));
    ++result.attempts;
    const Duration latency = answered - sent;

    // Classify what came back for the breaker and the throttle.
    const BreakerState breaker_before = breaker_.state();
    std::optional<Duration> retry_after;
    bool paused = false;  // the throttle holds every request to the site for Retry-After
    std::string_view retry_reason;
    if (!answer) {
      if (answer.error().code != ErrorCode::kIoFailure) {
        breaker_.Release();
        return base::Fail(answer.error());
      }
      metrics_->no_response->Increment();
      breaker_.RecordFailure();
      throttle_.Record(SiteSignal::kNoResponse, latency);
      retry_reason = "no_response";
      observe::LogEvent line = log_event(observe::LogLevel::kDebug, "site.attempt",
                                         "The site gave no complete response.");
      line.latency_ms = Milliseconds(latency);
      line.error = answer.error();
      line.attributes.push_back({"attempt", static_cast<std::int64_t>(result.attempts)});
      observe::Log(line);
    } else {
      const int status = answer->status;
      metrics_->ByClass(StatusClass(status)).Increment();
      metrics_->latency->Observe(std::chrono::duration<double>(latency).count());
      if (const std::string* value = answer->FindHeader("retry-after")) {
        retry_after = ParseRetryAfter(*value, clock_.WallNow());
      }
      const bool refused = status == 429 || status == 503;
      const bool down =
          status == 500 || status == 502 || status == 504 || (status == 503 && !retry_after);
      if (down) {
        breaker_.RecordFailure();
      } else if (status != 429) {
        breaker_.RecordSuccess();
      } else {
        breaker_.Release();
      }
      throttle_.Record(refused ? SiteSignal::kRefused
                       : down  ? SiteSignal::kServerError
                               : SiteSignal::kOk,
                       latency);
      if (refused && retry_after && *retry_after > Duration::zero()) {
        paused = true;
        throttle_.PauseUntil(answered + *retry_after);
        metrics_->pauses->Increment();
        observe::LogEvent line = log_event(observe::LogLevel::kInfo, "site.paused",
                                           "The site asked for a pause (Retry-After); every "
                                           "request to it waits until the pause ends.");
        line.status = status;
        line.attributes.push_back(
            {"pause_ms", static_cast<std::int64_t>(Milliseconds(*retry_after))});
        observe::Log(line);
      }

      const std::string* echoed = answer->FindHeader("x-request-id");
      result.echoed_request_id = echoed == nullptr ? "" : *echoed;
      observe::LogEvent line =
          log_event(observe::LogLevel::kDebug, "site.attempt", "The site answered.");
      line.status = status;
      line.latency_ms = Milliseconds(latency);
      line.attributes.push_back({"attempt", static_cast<std::int64_t>(result.attempts)});
      if (echoed != nullptr) {
        line.attributes.push_back(
            {"echoed_request_id", IsPlainRequestId(*echoed)
                                      ? observe::AttributeValue(observe::NonPhi{*echoed})
                                      : observe::AttributeValue(observe::Literal("[not plain]"))});
      }
      observe::Log(line);

      if (status == 401 && !token.empty() && !token_renewed) {
        // The token was refused, not the request: renew it and send once more at once.
        token_renewed = true;
        tokens_->Invalidate(token);
        metrics_->token_renewals->Increment();
        observe::Log(log_event(observe::LogLevel::kInfo, "site.token_renewal",
                               "The site refused the access token (401); asking the token "
                               "source for a new one and sending the request again."));
        PublishState();
        continue;
      }
      if (IsRetryableStatus(status) && safe_to_repeat) {
        static constexpr std::array<std::string_view, 5> kReasons = {"429", "500", "502", "503",
                                                                     "504"};
        for (const std::string_view reason : kReasons) {
          if (reason == std::to_string(status)) retry_reason = reason;
        }
      }
      if (retry_reason.empty()) {
        result.http = std::move(*answer);
        result.warnings = ExtractOutcomeWarnings(result.http.body);
        if (!result.warnings.empty()) metrics_->warnings->Increment(result.warnings.size());
        result.elapsed = clock_.Now() - started;
        PublishState();
        return result;
      }
    }

    if (breaker_.state() != breaker_before) {
      observe::LogEvent line = log_event(observe::LogLevel::kWarning, "site.breaker",
                                         "The site's circuit breaker changed state; while open, "
                                         "requests to the site fail at once with circuit-open.");
      line.attributes.push_back(
          {"state", observe::NonPhi{std::string(BreakerStateName(breaker_.state()))}});
      observe::Log(line);
    }
    PublishState();

    // A failure without a response: only a request safe to repeat may be sent again.
    if (!answer && !safe_to_repeat) {
      base::Error error = answer.error();
      error.diagnostic +=
          " The request is not safe to repeat, so it was not retried; whether "
          "the site acted on it is unknown.";
      return base::Fail(std::move(error));
    }
    last_answer = answer ? "HTTP " + std::to_string(answer->status) : std::string("no response");
    ++retry_number;
    const std::optional<Duration> delay =
        retry_.NextDelay(retry_number, clock_.Now() - started, retry_after);
    if (!delay) {
      const std::string& last = last_answer;
      return base::Fail(
          ErrorCode::kRetriesExhausted,
          "Site " + policy_.site + " still failed after " + std::to_string(result.attempts) +
              " attempts in " + SecondsText(clock_.Now() - started) + " s (last: " + last +
              (retry_after ? ", Retry-After " + SecondsText(*retry_after) + " s" : std::string()) +
              "); the retry budget (retry.max_attempts, retry.max_total) is spent.");
    }
    metrics_->Retries(retry_reason).Increment();
    observe::LogEvent line = log_event(observe::LogLevel::kInfo, "site.retry",
                                       "Sending the request again after a back-off.");
    if (answer) line.status = answer->status;
    line.attributes.push_back({"attempt", static_cast<std::int64_t>(result.attempts)});
    line.attributes.push_back({"delay_ms", static_cast<std::int64_t>(Milliseconds(*delay))});
    line.attributes.push_back({"reason", observe::NonPhi{std::string(retry_reason)}});
    observe::Log(line);
    // A Retry-After pause is waited for in the throttle, with every other request to the site.
    if (!paused) clock_.SleepFor(*delay);
  }
}

base::Status SiteClient::ForEachPage(
    const SiteRequest& first, const std::function<base::Result<bool>(const SiteResponse&)>& on_page,
    std::size_t max_pages) {
  SiteRequest request = first;
  std::size_t matches_seen = 0;
  for (std::size_t page = 1;; ++page) {
    auto response = Send(request);
    if (!response) return base::Fail(response.error());
    if (response->status() == 410 && page > 1) {
      return base::Fail(ErrorCode::kPagingSessionExpired,
                        "Site " + policy_.site + " ended the paging session at page " +
                            std::to_string(page) +
                            " (410); run the search again from its "
                            "first page.");
    }
    if (response->status() != 200) {
      return base::Fail(ErrorCode::kRemoteRejected, "Site " + policy_.site + " answered page " +
                                                        std::to_string(page) + " with HTTP " +
                                                        std::to_string(response->status()) + ".");
    }
    const fhir::Json bundle =
        fhir::Json::parse(response->http.body, nullptr, /*allow_exceptions=*/false);
    if (!bundle.is_object() || bundle.value("resourceType", "") != "Bundle") {
      return base::Fail(ErrorCode::kMalformedResponse, "Site " + policy_.site + " answered page " +
                                                           std::to_string(page) +
                                                           " with something other than a Bundle.");
    }
    auto keep_going = on_page(*response);
    if (!keep_going) return base::Fail(keep_going.error());
    if (!*keep_going) return {};

    // Count the matches, to notice paging that stops before the total.
    if (const auto entries = bundle.find("entry"); entries != bundle.end() && entries->is_array()) {
      for (const fhir::Json& entry : *entries) {
        const auto search = entry.find("search");
        const bool outcome =
            search != entry.end() && search->is_object() && search->value("mode", "") == "outcome";
        const bool include =
            search != entry.end() && search->is_object() && search->value("mode", "") == "include";
        if (!outcome && !include) ++matches_seen;
      }
    }
    std::string next;
    if (const auto links = bundle.find("link"); links != bundle.end() && links->is_array()) {
      for (const fhir::Json& link : *links) {
        if (link.is_object() && link.value("relation", "") == "next" && link.contains("url") &&
            link["url"].is_string()) {
          next = link["url"].get<std::string>();
        }
      }
    }
    if (next.empty()) {
      const auto total = bundle.find("total");
      if (total != bundle.end() && total->is_number_unsigned() &&
          total->get<std::size_t>() > matches_seen) {
        return base::Fail(ErrorCode::kMalformedResponse,
                          "Site " + policy_.site + " ended paging after " +
                              std::to_string(matches_seen) + " of " +
                              std::to_string(total->get<std::size_t>()) + " results: page " +
                              std::to_string(page) + " has no next link. Run the search again.");
      }
      return {};
    }
    if (page >= max_pages) {
      return base::Fail(ErrorCode::kMalformedResponse,
                        "Site " + policy_.site + " still offered a next page after " +
                            std::to_string(max_pages) + " pages; stopped.");
    }
    if (auto resolved = Resolve(next); !resolved) {
      return base::Fail(ErrorCode::kMalformedResponse,
                        "Site " + policy_.site + " gave a next link outside its base URL (to " +
                            http::OriginOf(next) + "); not followed.");
    }
    SiteRequest following;
    following.method = "GET";
    following.target = std::move(next);
    following.priority = first.priority;
    following.trace_id = first.trace_id;
    for (const http::Header& header : first.headers) {
      if (!HasHeaderNamed({header}, "content-type")) following.headers.push_back(header);
    }
    request = std::move(following);
  }
}

}  // namespace fhirbridge::traffic
