#include "smart/scopes.h"

#include <algorithm>
#include <cctype>

#include "http/message.h"

namespace fhirbridge::smart {
namespace {

constexpr std::string_view kLetters = "cruds";

std::uint8_t PermissionOfLetter(char letter) {
  switch (letter) {
    case 'c':
      return static_cast<std::uint8_t>(Permission::kCreate);
    case 'r':
      return static_cast<std::uint8_t>(Permission::kRead);
    case 'u':
      return static_cast<std::uint8_t>(Permission::kUpdate);
    case 'd':
      return static_cast<std::uint8_t>(Permission::kDelete);
    case 's':
      return static_cast<std::uint8_t>(Permission::kSearch);
    default:
      return 0;
  }
}

std::string Lower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

bool IsResourceTypeName(std::string_view name) {
  if (name == "*") return true;
  if (name.empty() || !std::isupper(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0; });
}

// Reads "context/Type.permissions[?filters]"; nullopt if it is not a clinical scope at all,
// and `malformed` set when it looks like one but breaks the grammar.
std::optional<ClinicalScope> ReadClinical(std::string_view text, bool& malformed) {
  malformed = false;
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view context_name = text.substr(0, slash);
  ClinicalScope scope;
  if (context_name == "patient") {
    scope.context = Context::kPatient;
  } else if (context_name == "user") {
    scope.context = Context::kUser;
  } else if (context_name == "system") {
    scope.context = Context::kSystem;
  } else {
    // "launch/patient" and the like are not clinical.
    return std::nullopt;
  }

  std::string_view rest = text.substr(slash + 1);
  std::string_view query;
  if (const std::size_t question = rest.find('?'); question != std::string_view::npos) {
    query = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  const std::size_t dot = rest.rfind('.');
  if (dot == std::string_view::npos) {
    malformed = true;
    return std::nullopt;
  }
  scope.resource_type = std::string(rest.substr(0, dot));
  const std::string suffix = Lower(rest.substr(dot + 1));
  if (!IsResourceTypeName(scope.resource_type)) {
    malformed = true;
    return std::nullopt;
  }

  if (suffix == "read") {
    scope.permissions = PermissionOfLetter('r') | PermissionOfLetter('s');
  } else if (suffix == "write") {
    scope.permissions = PermissionOfLetter('c') | PermissionOfLetter('u') | PermissionOfLetter('d');
  } else if (suffix == "*") {
    scope.permissions = 31;
  } else {
    // v2: a non-empty, in-order subset of "cruds".
    std::size_t next = 0;
    for (const char letter : suffix) {
      const std::size_t at = kLetters.find(letter, next);
      if (at == std::string_view::npos) {
        malformed = true;
        return std::nullopt;
      }
      scope.permissions |= PermissionOfLetter(letter);
      next = at + 1;
    }
    if (scope.permissions == 0) {
      malformed = true;
      return std::nullopt;
    }
    scope.v2 = true;
  }
  if (!query.empty()) {
    if (!scope.v2) {
      malformed = true;  // filters exist only in v2
      return std::nullopt;
    }
    scope.filters = http::ParseQuery(query);
  }
  return scope;
}

}  // namespace

bool ParsedScopes::Has(std::string_view text) const {
  return std::any_of(scopes.begin(), scopes.end(),
                     [&](const Scope& scope) { return scope.text == text; });
}

ParsedScopes ParseScopes(std::string_view scope_string) {
  ParsedScopes parsed;
  std::size_t position = 0;
  while (position < scope_string.size()) {
    while (position < scope_string.size() &&
           std::isspace(static_cast<unsigned char>(scope_string[position]))) {
      ++position;
    }
    std::size_t end = position;
    while (end < scope_string.size() &&
           !std::isspace(static_cast<unsigned char>(scope_string[end]))) {
      ++end;
    }
    if (end == position) break;
    const std::string_view text = scope_string.substr(position, end - position);
    position = end;

    bool malformed = false;
    Scope scope{std::string(text), ReadClinical(text, malformed)};
    if (malformed) {
      parsed.rejected.push_back(scope.text);
      continue;
    }
    parsed.scopes.push_back(std::move(scope));
  }
  return parsed;
}

std::string_view ContextName(Context context) {
  switch (context) {
    case Context::kPatient:
      return "patient";
    case Context::kUser:
      return "user";
    case Context::kSystem:
      return "system";
  }
  return "patient";
}

std::string PermissionLetters(std::uint8_t permissions) {
  std::string letters;
  for (const char letter : kLetters) {
    if ((permissions & PermissionOfLetter(letter)) != 0) letters += letter;
  }
  return letters;
}

Decision Decide(const std::vector<Scope>& scopes, std::string_view resource_type,
                Permission permission, std::initializer_list<Context> contexts) {
  Decision decision;
  for (const Scope& scope : scopes) {
    if (!scope.clinical) continue;
    const ClinicalScope& clinical = *scope.clinical;
    const bool context_matches =
        std::find(contexts.begin(), contexts.end(), clinical.context) != contexts.end();
    const bool type_matches =
        clinical.resource_type == "*" || clinical.resource_type == resource_type;
    if (!context_matches || !type_matches || !clinical.Allows(permission)) continue;
    if (clinical.filters.empty()) {
      return Decision{true, scope.text, {}};
    }
    if (!decision.allowed) decision = Decision{true, scope.text, clinical.filters};
  }
  if (decision.allowed) return decision;

  const Context wanted = contexts.size() > 0 ? *contexts.begin() : Context::kPatient;
  decision.scope = std::string(ContextName(wanted)) + "/" + std::string(resource_type) + "." +
                   PermissionLetters(static_cast<std::uint8_t>(permission));
  return decision;
}

std::string JoinScopes(const std::vector<Scope>& scopes) {
  std::string joined;
  for (const Scope& scope : scopes) {
    if (!joined.empty()) joined += ' ';
    joined += scope.text;
  }
  return joined;
}

}  // namespace fhirbridge::smart
