#include "http/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>
#include <utility>

namespace fhirbridge::http {
namespace {

void EnsureCurlInitialised() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t AppendBody(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::size_t AppendHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* response = static_cast<ClientResponse*>(user);
  std::string_view line(data, size * count);
  // A new status line (after a 100 Continue or a redirect) starts a fresh header list.
  if (line.starts_with("HTTP/")) {
    response->headers.clear();
    return size * count;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  response->headers.push_back(Header{std::move(name), std::string(value)});
  return size * count;
}

// The parts of a URL the transport rules look at, parsed by libcurl itself so that the check and
// the request can never disagree about the host.
struct UrlParts {
  std::string scheme;
  std::string host;
  std::string port;  // empty when the URL has none
};

std::optional<UrlParts> ParseUrl(std::string_view url) {
  CURLU* handle = curl_url();
  if (handle == nullptr) return std::nullopt;
  std::optional<UrlParts> parts;
  if (curl_url_set(handle, CURLUPART_URL, std::string(url).c_str(), 0) == CURLUE_OK) {
    char* scheme = nullptr;
    char* host = nullptr;
    char* port = nullptr;
    if (curl_url_get(handle, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(handle, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
      parts = UrlParts{scheme, host, ""};
      if (curl_url_get(handle, CURLUPART_PORT, &port, 0) == CURLUE_OK) parts->port = port;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(handle);
  return parts;
}

}  // namespace

const std::string* ClientResponse::FindHeader(std::string_view lower_case_name) const {
  for (const Header& header : headers) {
    if (header.name == lower_case_name) return &header.value;
  }
  return nullptr;
}

std::string OriginOf(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "(invalid URL)";
  const std::size_t path_start = url.find_first_of("/?#", scheme_end + 3);
  std::string_view origin = url.substr(0, path_start);
  // Credentials in the authority ("user:secret@host") never reach a message.
  const std::size_t at = origin.find('@', scheme_end + 3);
  if (at == std::string_view::npos) return std::string(origin);
  return std::string(origin.substr(0, scheme_end + 3)) + std::string(origin.substr(at + 1));
}

bool IsLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string lower(host);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "localhost" || lower == "localhost." || lower == "::1") return true;
  // A dotted IPv4 address whose first octet is 127.
  if (!lower.starts_with("127.")) return false;
  int dots = 0;
  for (const char c : lower) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

base::Status CheckTransport(std::string_view url, const ClientOptions& options) {
  EnsureCurlInitialised();
  const std::optional<UrlParts> parts = ParseUrl(url);
  if (!parts || parts->host.empty()) {
    return base::Fail(base::ErrorCode::kInvalidParameter,
                      "The URL is not an absolute URL with a host; give one such as "
                      "https://fhir.example.org/api/FHIR/R4.");
  }
  std::string scheme = parts->scheme;
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "https" && scheme != "http") {
    return base::Fail(
        base::ErrorCode::kInvalidParameter,
        "Only http and https URLs are sent; " + OriginOf(url) + " uses another scheme.");
  }
  if (scheme == "http" && !options.allow_plain_http && !IsLoopbackHost(parts->host)) {
    return base::Fail(base::ErrorCode::kInsecureTransport,
                      "Plain http to " + OriginOf(url) +
                          " would send tokens and health data unencrypted; use https, or allow "
                          "plain http explicitly for this site (allow_plain_http).");
  }
  return {};
}

struct Client::Impl {
  CURL* handle = nullptr;
  ClientOptions options;
};

Client::Client() : Client(ClientOptions{}) {}

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  EnsureCurlInitialised();
  impl_->handle = curl_easy_init();
  impl_->options = std::move(options);
}

const ClientOptions& Client::options() const { return impl_->options; }

Client::~Client() {
  if (impl_->handle != nullptr) curl_easy_cleanup(impl_->handle);
}

base::Result<ClientResponse> Client::Send(const ClientRequest& request) {
  CURL* handle = impl_->handle;
  if (handle == nullptr) return base::Fail(base::ErrorCode::kInternal, "libcurl did not start.");
  const ClientOptions& options = impl_->options;
  if (auto allowed = CheckTransport(request.url, options); !allowed)
    return base::Fail(allowed.error());
  // Resets the options of the last request; live connections stay open for reuse.
  curl_easy_reset(handle);

  ClientResponse response;
  curl_slist* headers = nullptr;
  for (const Header& header : request.headers) {
    headers = curl_slist_append(headers, (header.name + ": " + header.value).c_str());
  }
  // libcurl adds "Expect: 100-continue" to large bodies; the round trip only costs time.
  headers = curl_slist_append(headers, "Expect:");

  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method == "HEAD") curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  }
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  // Verification is libcurl's default; set anyway so that no earlier option can have undone it.
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_bundle.empty()) {
    curl_easy_setopt(handle, CURLOPT_CAINFO, options.ca_bundle.c_str());
    curl_easy_setopt(handle, CURLOPT_PROXY_CAINFO, options.ca_bundle.c_str());
  }
  if (!options.proxy.empty()) {
    curl_easy_setopt(handle, CURLOPT_PROXY, options.proxy.c_str());
  } else if (!options.use_environment_proxy) {
    // An empty proxy string turns off the environment's http_proxy and friends.
    curl_easy_setopt(handle, CURLOPT_PROXY, "");
  }
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &AppendHeader);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &response);

  const CURLcode code = curl_easy_perform(handle);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) {
    return base::Fail(base::ErrorCode::kIoFailure, request.method + " to " + OriginOf(request.url) +
                                                       " failed: " + curl_easy_strerror(code) +
                                                       ".");
  }
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

}  // namespace fhirbridge::http
