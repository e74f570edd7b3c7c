#include "fhir/fhirpath.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>

namespace fhirbridge::fhir {
namespace {

using base::ErrorCode;
using std::string_view_literals::operator""sv;

// The data types a FHIR R4 choice element ([x]) can take, as they appear capitalised at the end
// of the element's JSON name (valueQuantity, effectiveDateTime).
constexpr std::array kChoiceTypeSuffixes = {
    "Address"sv,
    "Age"sv,
    "Annotation"sv,
    "Attachment"sv,
    "Base64Binary"sv,
    "Boolean"sv,
    "Canonical"sv,
    "Code"sv,
    "CodeableConcept"sv,
    "Coding"sv,
    "ContactDetail"sv,
    "ContactPoint"sv,
    "Contributor"sv,
    "Count"sv,
    "DataRequirement"sv,
    "Date"sv,
    "DateTime"sv,
    "Decimal"sv,
    "Distance"sv,
    "Dosage"sv,
    "Duration"sv,
    "Expression"sv,
    "HumanName"sv,
    "Id"sv,
    "Identifier"sv,
    "Instant"sv,
    "Integer"sv,
    "Markdown"sv,
    "Meta"sv,
    "Money"sv,
    "Oid"sv,
    "ParameterDefinition"sv,
    "Period"sv,
    "PositiveInt"sv,
    "Quantity"sv,
    "Range"sv,
    "Ratio"sv,
    "Reference"sv,
    "RelatedArtifact"sv,
    "SampledData"sv,
    "Signature"sv,
    "String"sv,
    "Time"sv,
    "Timing"sv,
    "TriggerDefinition"sv,
    "UnsignedInt"sv,
    "Uri"sv,
    "Url"sv,
    "UsageContext"sv,
    "Uuid"sv,
};

// Primitive types are spelled with a lower-case initial in FHIRPath (dateTime, string).
constexpr std::array kPrimitiveTypes = {
    "base64Binary"sv, "boolean"sv, "canonical"sv,   "code"sv,    "date"sv,
    "dateTime"sv,     "decimal"sv, "id"sv,          "instant"sv, "integer"sv,
    "markdown"sv,     "oid"sv,     "positiveInt"sv, "string"sv,  "time"sv,
    "unsignedInt"sv,  "uri"sv,     "url"sv,         "uuid"sv,
};

// The FHIRPath spelling of a choice suffix: "DateTime" -> "dateTime", "Quantity" unchanged.
std::string_view TypeOfSuffix(std::string_view suffix) {
  for (const std::string_view primitive : kPrimitiveTypes) {
    if (primitive.size() == suffix.size() && primitive.substr(1) == suffix.substr(1) &&
        std::toupper(static_cast<unsigned char>(primitive[0])) == suffix[0]) {
      return primitive;
    }
  }
  return suffix;
}

// Type names compare ignoring the case of the first letter, so `as DateTime` and `as dateTime`
// agree; FHIR never has two types that differ only there.
bool SameTypeName(std::string_view left, std::string_view right) {
  if (left.size() != right.size() || left.empty()) return false;
  return std::tolower(static_cast<unsigned char>(left[0])) ==
             std::tolower(static_cast<unsigned char>(right[0])) &&
         left.substr(1) == right.substr(1);
}

bool IsResourceRoot(std::string_view root) {
  return root == "Resource" || root == "DomainResource";
}

// ---------------------------------------------------------------------------------------------
// Tokens.

enum class TokenKind { kIdentifier, kString, kNumber, kSymbol, kEnd };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;  // identifier name, decoded string, digits, or the symbol
  std::size_t position = 0;
};

base::Result<std::vector<Token>> Tokenize(std::string_view text) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token token;
    token.position = i;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t end = i + 1;
      while (end < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) {
        ++end;
      }
      token.kind = TokenKind::kIdentifier;
      token.text = text.substr(i, end - i);
      i = end;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t end = i + 1;
      while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
      token.kind = TokenKind::kNumber;
      token.text = text.substr(i, end - i);
      i = end;
    } else if (c == '\'') {
      std::size_t end = i + 1;
      while (end < text.size() && text[end] != '\'') {
        if (text[end] == '\\' && end + 1 < text.size()) ++end;
        token.text.push_back(text[end]);
        ++end;
      }
      if (end >= text.size()) {
        return base::Fail(ErrorCode::kInvalidParameter,
                          "unterminated string at position " + std::to_string(i));
      }
      token.kind = TokenKind::kString;
      i = end + 1;
    } else if (std::string_view("().[]|=,").find(c) != std::string_view::npos) {
      token.kind = TokenKind::kSymbol;
      token.text = std::string(1, c);
      ++i;
    } else {
      return base::Fail(
          ErrorCode::kInvalidParameter,
          "unsupported character at position " + std::to_string(i) + " of a FHIRPath expression");
    }
    tokens.push_back(std::move(token));
  }
  tokens.push_back(Token{TokenKind::kEnd, "", text.size()});
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parser: builds the union-of-linear-paths normal form directly. Postfix steps after a
// parenthesised union are applied to every member, which is what FHIRPath means by them except
// for indexing, refused there.

using Paths = std::vector<FhirPath::Path>;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  base::Result<Paths> ParseAll() {
    auto paths = ParseUnion();
    if (!paths) return paths;
    if (Peek().kind != TokenKind::kEnd) return Unsupported("unexpected '" + Peek().text + "'");
    return paths;
  }

 private:
  const Token& Peek() const { return tokens_[next_]; }
  const Token& Take() { return tokens_[next_ < tokens_.size() - 1 ? next_++ : next_]; }

  bool TakeSymbol(std::string_view symbol) {
    if (Peek().kind == TokenKind::kSymbol && Peek().text == symbol) {
      ++next_;
      return true;
    }
    return false;
  }

  bool TakeKeyword(std::string_view keyword) {
    if (Peek().kind == TokenKind::kIdentifier && Peek().text == keyword) {
      ++next_;
      return true;
    }
    return false;
  }

  std::unexpected<base::Error> Unsupported(const std::string& what) const {
    return base::Fail(ErrorCode::kInvalidParameter,
                      what + " at position " + std::to_string(Peek().position) +
                          " is outside the supported FHIRPath subset");
  }

  base::Result<Paths> ParseUnion() {
    auto paths = ParseTyped();
    if (!paths) return paths;
    while (TakeSymbol("|")) {
      auto more = ParseTyped();
      if (!more) return more;
      paths->insert(paths->end(), more->begin(), more->end());
    }
    return paths;
  }

  base::Result<Paths> ParseTyped() {
    auto paths = ParsePostfix();
    if (!paths) return paths;
    if (TakeKeyword("as")) {
      auto type = ParseTypeName();
      if (!type) return base::Fail(type.error());
      for (auto& path : *paths) path.steps.push_back(FhirPath::OfType{*type});
    } else if (Peek().kind == TokenKind::kIdentifier) {
      return Unsupported("operator '" + Peek().text + "'");
    }
    return paths;
  }

  base::Result<std::string> ParseTypeName() {
    if (Peek().kind != TokenKind::kIdentifier) return Unsupported("a missing type name");
    std::string name = Take().text;
    // Qualified names (FHIR.Quantity, System.String) name the same types.
    if ((name == "FHIR" || name == "System") && TakeSymbol(".")) {
      if (Peek().kind != TokenKind::kIdentifier) return Unsupported("a missing type name");
      name = Take().text;
    }
    return name;
  }

  base::Result<Paths> ParsePostfix() {
    auto paths = ParsePrimary();
    if (!paths) return paths;
    for (;;) {
      if (TakeSymbol(".")) {
        if (Peek().kind != TokenKind::kIdentifier) return Unsupported("a missing member name");
        const std::string name = Take().text;
        if (TakeSymbol("(")) {
          if (auto applied = ApplyFunction(name, *paths); !applied) {
            return base::Fail(applied.error());
          }
        } else {
          for (auto& path : *paths) path.steps.push_back(FhirPath::Member{name});
        }
      } else if (TakeSymbol("[")) {
        if (Peek().kind != TokenKind::kNumber) return Unsupported("an index that is not a number");
        const std::size_t position = std::stoul(Take().text);
        if (!TakeSymbol("]")) return Unsupported("a missing ']'");
        if (auto indexed = AddIndex(*paths, position); !indexed) {
          return base::Fail(indexed.error());
        }
      } else {
        return paths;
      }
    }
  }

  base::Status AddIndex(Paths& paths, std::size_t position) {
    if (paths.size() != 1) return Unsupported("indexing a union");
    paths.front().steps.push_back(FhirPath::Index{position});
    return {};
  }

  base::Result<Paths> ParsePrimary() {
    if (TakeSymbol("(")) {
      auto paths = ParseUnion();
      if (!paths) return paths;
      if (!TakeSymbol(")")) return Unsupported("a missing ')'");
      return paths;
    }
    if (Peek().kind != TokenKind::kIdentifier) return Unsupported("'" + Peek().text + "'");
    const std::string name = Take().text;
    if (Peek().kind == TokenKind::kSymbol && Peek().text == "(") {
      return Unsupported("function '" + name + "' at the start of a path");
    }
    FhirPath::Path path;
    if (std::isupper(static_cast<unsigned char>(name[0]))) {
      path.root_type = name;
    } else {
      path.steps.push_back(FhirPath::Member{name});
    }
    return Paths{std::move(path)};
  }

  // `name(` has been read.
  base::Status ApplyFunction(const std::string& name, Paths& paths) {
    if (name == "as" || name == "ofType") {
      auto type = ParseTypeName();
      if (!type) return base::Fail(type.error());
      if (!TakeSymbol(")")) return Unsupported("a missing ')'");
      for (auto& path : paths) path.steps.push_back(FhirPath::OfType{*type});
      return {};
    }
    if (name == "first") {
      if (!TakeSymbol(")")) return Unsupported("arguments to first()");
      return AddIndex(paths, 0);
    }
    if (name == "where") {
      auto step = ParseWhereCriterion();
      if (!step) return base::Fail(step.error());
      if (!TakeSymbol(")")) return Unsupported("a where() criterion of this form");
      for (auto& path : paths) path.steps.push_back(*step);
      return {};
    }
    return Unsupported("function '" + name + "'");
  }

  // Either `resolve() is Type` or `member = 'text'`.
  base::Result<FhirPath::Step> ParseWhereCriterion() {
    if (Peek().kind != TokenKind::kIdentifier) return Unsupported("a where() criterion");
    const std::string name = Take().text;
    if (name == "resolve") {
      if (!TakeSymbol("(") || !TakeSymbol(")") || !TakeKeyword("is")) {
        return Unsupported("a resolve() criterion other than 'resolve() is Type'");
      }
      auto type = ParseTypeName();
      if (!type) return base::Fail(type.error());
      return FhirPath::Step{FhirPath::WhereResolveIs{*type}};
    }
    if (!TakeSymbol("=")) return Unsupported("a where() criterion other than member = 'text'");
    if (Peek().kind != TokenKind::kString) return Unsupported("a comparison with a non-string");
    return FhirPath::Step{FhirPath::WhereEquals{name, Take().text}};
  }

  std::vector<Token> tokens_;
  std::size_t next_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Evaluation.

void AddItems(const Json& value, std::string_view type, std::vector<PathValue>& out) {
  if (value.is_array()) {
    for (const Json& element : value) {
      if (!element.is_null()) out.push_back({&element, type});
    }
  } else if (!value.is_null()) {
    out.push_back({&value, type});
  }
}

void SelectMember(const PathValue& item, const std::string& name, std::vector<PathValue>& out) {
  if (!item.node->is_object()) return;
  const auto found = item.node->find(name);
  if (found != item.node->end()) {
    AddItems(*found, {}, out);
    return;
  }
  // A choice element: name followed by one of the type suffixes.
  for (auto member = item.node->begin(); member != item.node->end(); ++member) {
    const std::string& key = member.key();
    if (key.size() <= name.size() || !key.starts_with(name)) continue;
    const std::string_view suffix = std::string_view(key).substr(name.size());
    if (std::ranges::find(kChoiceTypeSuffixes, suffix) != kChoiceTypeSuffixes.end()) {
      AddItems(member.value(), TypeOfSuffix(suffix), out);
    }
  }
}

std::vector<PathValue> ApplyStep(const FhirPath::Step& step, std::vector<PathValue> items,
                                 const Json& resource) {
  std::vector<PathValue> out;
  if (const auto* member = std::get_if<FhirPath::Member>(&step)) {
    for (const PathValue& item : items) SelectMember(item, member->name, out);
  } else if (const auto* index = std::get_if<FhirPath::Index>(&step)) {
    if (index->position < items.size()) out.push_back(items[index->position]);
  } else if (const auto* of_type = std::get_if<FhirPath::OfType>(&step)) {
    for (const PathValue& item : items) {
      if (SameTypeName(item.type, of_type->type)) out.push_back(item);
    }
  } else if (const auto* resolve = std::get_if<FhirPath::WhereResolveIs>(&step)) {
    for (const PathValue& item : items) {
      if (item.node->is_object() && ReferencedType(*item.node, resource) == resolve->type) {
        out.push_back(item);
      }
    }
  } else if (const auto* equals = std::get_if<FhirPath::WhereEquals>(&step)) {
    for (const PathValue& item : items) {
      if (!item.node->is_object()) continue;
      const auto found = item.node->find(equals->member);
      if (found != item.node->end() && found->is_string() &&
          found->get_ref<const std::string&>() == equals->text) {
        out.push_back(item);
      }
    }
  }
  return out;
}

std::string StepToString(const FhirPath::Step& step) {
  if (const auto* member = std::get_if<FhirPath::Member>(&step)) return "." + member->name;
  if (const auto* index = std::get_if<FhirPath::Index>(&step)) {
    return "[" + std::to_string(index->position) + "]";
  }
  if (const auto* of_type = std::get_if<FhirPath::OfType>(&step)) {
    return ".ofType(" + of_type->type + ")";
  }
  if (const auto* resolve = std::get_if<FhirPath::WhereResolveIs>(&step)) {
    return ".where(resolve() is " + resolve->type + ")";
  }
  const auto& equals = std::get<FhirPath::WhereEquals>(step);
  return ".where(" + equals.member + "='" + equals.text + "')";
}

bool IsResourceTypeName(std::string_view text) {
  return !text.empty() && std::isupper(static_cast<unsigned char>(text[0])) &&
         std::ranges::all_of(text,
                             [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
}

}  // namespace

base::Result<FhirPath> FhirPath::Parse(std::string_view expression) {
  auto tokens = Tokenize(expression);
  if (!tokens) return base::Fail(tokens.error());
  Parser parser(std::move(*tokens));
  auto paths = parser.ParseAll();
  if (!paths) return base::Fail(paths.error());
  FhirPath parsed;
  parsed.paths_ = std::move(*paths);
  return parsed;
}

FhirPath FhirPath::ForType(std::string_view resource_type) const {
  FhirPath projected;
  for (const Path& path : paths_) {
    if (path.root_type.empty() || path.root_type == resource_type ||
        IsResourceRoot(path.root_type)) {
      projected.paths_.push_back(path);
    }
  }
  return projected;
}

std::vector<PathValue> FhirPath::Evaluate(const Json& resource) const {
  std::vector<PathValue> results;
  const auto type = resource.find("resourceType");
  std::string_view resource_type;
  if (type != resource.end() && type->is_string()) {
    resource_type = type->get_ref<const std::string&>();
  }
  for (const Path& path : paths_) {
    if (!path.root_type.empty() && path.root_type != resource_type &&
        !IsResourceRoot(path.root_type)) {
      continue;
    }
    std::vector<PathValue> items = {{&resource, {}}};
    for (const Step& step : path.steps) {
      items = ApplyStep(step, std::move(items), resource);
      if (items.empty()) break;
    }
    results.insert(results.end(), items.begin(), items.end());
  }
  return results;
}

std::string FhirPath::ToString() const {
  std::string text;
  for (const Path& path : paths_) {
    if (!text.empty()) text += " | ";
    std::string steps;
    for (const Step& step : path.steps) steps += StepToString(step);
    text += path.root_type.empty() ? steps.substr(1) : path.root_type + steps;
  }
  return text;
}

std::string ReferencedType(const Json& reference, const Json& resource) {
  const auto type = reference.find("type");
  if (type != reference.end() && type->is_string()) return type->get<std::string>();
  const auto target = reference.find("reference");
  if (target == reference.end() || !target->is_string()) return {};
  std::string_view text = target->get_ref<const std::string&>();

  if (text.starts_with('#')) {
    const auto contained = resource.find("contained");
    if (contained == resource.end() || !contained->is_array()) return {};
    for (const Json& candidate : *contained) {
      if (candidate.is_object() && candidate.value("id", "") == text.substr(1)) {
        return candidate.value("resourceType", "");
      }
    }
    return {};
  }

  // Type/id, with optional /_history/vid, at the end of a relative or absolute reference.
  if (const std::size_t history = text.find("/_history/"); history != std::string_view::npos) {
    text = text.substr(0, history);
  }
  const std::size_t last_slash = text.rfind('/');
  if (last_slash == std::string_view::npos || last_slash == 0) return {};
  const std::string_view before = text.substr(0, last_slash);
  const std::size_t type_start = before.rfind('/');
  const std::string_view candidate =
      type_start == std::string_view::npos ? before : before.substr(type_start + 1);
  return IsResourceTypeName(candidate) ? std::string(candidate) : std::string();
}

}  // namespace fhirbridge::fhir
