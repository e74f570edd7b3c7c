#pragma once

// Site configuration bundles: one TOML file per site, sites/<name>.toml, kept in version control.
// See sites/examples/ for complete bundles. The sections and keys are those of SiteConfig
// (site_config.h): [site], [auth], [traffic], [features], [schedule], [sync], [runbook].
//
// Reading collects every mistake, each as "file:line:column: key: what is wrong", before it
// answers; unknown sections and keys are mistakes too (a misspelt key would otherwise be a
// silently ignored setting).
//
// Environment overrides: any key can be replaced from the environment, so that one code version
// runs everywhere with different configuration. The variable for key `section.key` of site
// `name` is
//
//   FHIRBRIDGE_SITE_<NAME>_<SECTION>_<KEY>
//
// upper-cased, with '-' written '_': FHIRBRIDGE_SITE_EPIC_SANDBOX_AUTH_CLIENT_ID sets
// auth.client_id of site "epic-sandbox". The value is typed like the file's: text as is for
// strings; true or false; an integer; a number; a TOML date (2026-03-01); for arrays either a
// TOML array (["a", "b"]) or items separated by commas. A value that does not read, or a
// FHIRBRIDGE_SITE_<NAME>_ variable that names no key, is a mistake reported with the variable's
// name (never its value, which may have been meant for somewhere secret).
//
// Limitation: a site whose name extends another's with a '-' ("a" and "a-b") shares the
// variable prefix; overrides are told apart only when both sites are loaded together.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/secret.h"
#include "fhir/json_value.h"
#include "sites/site_config.h"

namespace fhirbridge::sites {

// The environment variables the overrides are read from. A copy, so that tests can give their
// own and a load sees one consistent set.
struct EnvironmentVariables {
  std::map<std::string, std::string, std::less<>> values;

  // The variables of this process.
  static EnvironmentVariables FromProcess();
  const std::string* Find(std::string_view name) const;
};

// A site as loaded: its effective configuration, which keys the environment set, and the
// fingerprint of the effective configuration.
struct LoadedSite {
  SiteConfig config;
  // "auth.client_id" -> "FHIRBRIDGE_SITE_EPIC_SANDBOX_AUTH_CLIENT_ID", for every override applied.
  std::map<std::string, std::string> overrides;
  // Hex SHA-256 of CanonicalSiteConfig(config): equal iff the effective configuration is equal,
  // whatever the file's layout, comments or key order.
  std::string fingerprint;
};

// The variable that overrides `key` ("auth.client_id") of site `site_name`.
std::string OverrideVariableName(std::string_view site_name, std::string_view key);

// Every key of a bundle, "section.key", in the order of the documentation.
std::vector<std::string> SiteBundleKeys();

// Parses one bundle's text. `source_name` (the path) prefixes every message; `site_name` is the
// name the bundle is known by (its file name without ".toml"). `sibling_names` are the other
// sites loaded beside it, so that their overrides are not taken for mistakes of this one.
base::Result<LoadedSite> ParseSiteBundle(std::string_view toml_text, std::string_view source_name,
                                         std::string_view site_name,
                                         const EnvironmentVariables& environment,
                                         const std::vector<std::string>& sibling_names = {});

// The names of the bundles in `folder` (its *.toml files, not recursively), sorted.
// kConfigNotFound if the folder cannot be read or holds none.
base::Result<std::vector<std::string>> ListSiteNames(const std::filesystem::path& folder);

// Loads `folder`/`name`.toml; kConfigNotFound when there is no such bundle (naming the sites that
// exist), kConfigInvalid with every mistake otherwise.
base::Result<LoadedSite> LoadSite(const std::filesystem::path& folder, std::string_view name,
                                  const EnvironmentVariables& environment);

// Loads every bundle of `folder`; kConfigInvalid listing the mistakes of all files at once.
base::Result<std::vector<LoadedSite>> LoadSites(const std::filesystem::path& folder,
                                                const EnvironmentVariables& environment);

// The effective configuration as canonical JSON text (keys sorted, defaults included, the
// source path left out): the input of the fingerprint.
std::string CanonicalSiteConfig(const SiteConfig& config);

// The effective configuration as JSON for people and scripts: secrets masked (a proxy's or URL's
// password shows as "****"; key and secret references are shown, never what they point to), the
// fingerprint, and for each overridden key the variable it came from. With `environment`, also
// whether each secret reference can be resolved now (checked without reading the secret).
fhir::Json SiteToJson(const LoadedSite& site, const EnvironmentVariables* environment = nullptr);
// The same as indented text, one "section.key = value" per line.
std::string SiteToText(const LoadedSite& site, const EnvironmentVariables* environment = nullptr);

// A key or client-secret reference: "file:/path" or "env:VAR".
struct SecretReference {
  enum class Kind { kFile, kEnvironment };
  Kind kind = Kind::kFile;
  std::string target;  // the path or the variable's name
};

// Reads a reference's syntax; kConfigInvalid for anything else, without repeating the text.
base::Result<SecretReference> ParseSecretReference(std::string_view text);

// Whether ResolveSecret would find the secret, checked without reading it: the variable is set
// and not empty, or the path is a non-empty file (or a key ring folder) that only its owner can
// read. kSecretUnavailable naming the reference otherwise.
base::Status CheckSecretAvailable(const SecretReference& reference,
                                  const EnvironmentVariables& environment);

// Reads the secret a reference points to, now. kSecretUnavailable naming the reference (never
// its content) when the variable is unset or empty, or the file is missing, unreadable, a
// folder, empty, or readable by other users (like ssh, a key anyone can read is refused).
base::Result<base::Secret> ResolveSecret(const SecretReference& reference,
                                         const EnvironmentVariables& environment);

}  // namespace fhirbridge::sites
