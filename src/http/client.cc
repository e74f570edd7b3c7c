#include "http/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

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

// The scheme, host and port of `url`: safe to put in a message, unlike its path and query.
std::string OriginOf(const std::string& url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "(invalid URL)";
  const std::size_t path_start = url.find('/', scheme_end + 3);
  return url.substr(0, path_start);
}

}  // namespace

const std::string* ClientResponse::FindHeader(std::string_view lower_case_name) const {
  for (const Header& header : headers) {
    if (header.name == lower_case_name) return &header.value;
  }
  return nullptr;
}

struct Client::Impl {
  CURL* handle = nullptr;
};

Client::Client() : impl_(std::make_unique<Impl>()) {
  EnsureCurlInitialised();
  impl_->handle = curl_easy_init();
}

Client::~Client() {
  if (impl_->handle != nullptr) curl_easy_cleanup(impl_->handle);
}

base::Result<ClientResponse> Client::Send(const ClientRequest& request) {
  CURL* handle = impl_->handle;
  if (handle == nullptr) return base::Fail(base::ErrorCode::kInternal, "libcurl did not start.");
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
