#pragma once

// HTTP request and response values exchanged between the server and its handlers. They are
// plain data, independent of Boost.Beast, so handlers and tests need no networking headers.

#include <string>
#include <string_view>
#include <vector>

namespace fhirbridge::http {

struct Header {
  std::string name;  // lower-case in a Request; as written in a Response
  std::string value;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target before '?', still percent-encoded
  std::string query;   // the target after '?', without it; empty if none
  std::vector<Header> headers;
  std::string body;
  std::string remote_address;  // the peer's IP address as text; empty when unknown

  // The value of the first header called `lower_case_name`, or nullptr.
  const std::string* FindHeader(std::string_view lower_case_name) const;
};

struct Response {
  int status = 200;
  std::vector<Header> headers;
  std::string body;
  bool close_connection = false;  // ask the server to close after sending
  // A fault injected on purpose: send the headers and half of the body, then close the
  // connection, so the client sees a transfer cut short.
  bool drop_midway = false;

  // Replaces the value of header `name` (compared case-insensitively) or adds it.
  void SetHeader(std::string_view name, std::string value);
  const std::string* FindHeader(std::string_view name) const;
};

// True when a Host header value is a plain host[:port] (letters, digits, '-', '.', ':', '[', ']',
// at most 255 characters) that is safe to put into an absolute URL.
bool IsPlainHost(std::string_view host);

// Splits a query string into decoded name/value pairs, in order. '+' is a space in values.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

// Decodes %XX escapes; returns false on a malformed escape. `plus_is_space` for form values.
bool PercentDecode(std::string_view text, std::string& out, bool plus_is_space = false);

// Splits a path "/a/b/c" into its decoded segments; false if an escape is malformed.
bool SplitPath(std::string_view path, std::vector<std::string>& segments);

}  // namespace fhirbridge::http
