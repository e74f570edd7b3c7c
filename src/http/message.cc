#include "http/message.h"

#include <algorithm>
#include <cctype>

namespace fhirbridge::http {
namespace {

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const std::string* Request::FindHeader(std::string_view lower_case_name) const {
  for (const Header& header : headers) {
    if (header.name == lower_case_name) return &header.value;
  }
  return nullptr;
}

void Response::SetHeader(std::string_view name, std::string value) {
  for (Header& header : headers) {
    if (EqualsIgnoringCase(header.name, name)) {
      header.value = std::move(value);
      return;
    }
  }
  headers.push_back(Header{std::string(name), std::move(value)});
}

const std::string* Response::FindHeader(std::string_view name) const {
  for (const Header& header : headers) {
    if (EqualsIgnoringCase(header.name, name)) return &header.value;
  }
  return nullptr;
}

bool IsPlainHost(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == ':' || c == '[' || c == ']';
  });
}

bool PercentDecode(std::string_view text, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return false;
      const int high = HexValue(text[i + 1]);
      const int low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) return false;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> parameters;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;

    const std::size_t equals = part.find('=');
    std::string name;
    std::string value;
    // A malformed escape keeps the raw text, so the caller can still name the parameter.
    if (!PercentDecode(part.substr(0, equals), name, true)) name = part.substr(0, equals);
    if (equals != std::string_view::npos && !PercentDecode(part.substr(equals + 1), value, true)) {
      value = part.substr(equals + 1);
    }
    parameters.emplace_back(std::move(name), std::move(value));
  }
  return parameters;
}

bool SplitPath(std::string_view path, std::vector<std::string>& segments) {
  segments.clear();
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) {
      std::string decoded;
      if (!PercentDecode(path.substr(start, slash - start), decoded)) return false;
      segments.push_back(std::move(decoded));
    }
    start = slash + 1;
  }
  return true;
}

}  // namespace fhirbridge::http
