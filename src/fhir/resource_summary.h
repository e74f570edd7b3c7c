#pragma once

// Reading what a local store needs from a FHIR resource as received: its identity (type, id,
// version, lastUpdated) and, for the common clinical types, a few normalised columns. The
// original bytes are never changed; this only reads them.
//
// Contract: summarising never fails. Anything that cannot be read (malformed JSON, no
// resourceType, no id, a field of the wrong shape) leaves the field empty, and only a resource
// without a readable type and id is reported as not well formed, with a PHI-free reason.
//
// Thread safety: a ResourceSummariser or BundlePageReader is not thread-safe (each reuses its
// parser's buffers); use one per thread.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace fhirbridge::fhir {

// Normalised columns of Patient, Encounter, Observation, Condition, AllergyIntolerance,
// MedicationRequest and MedicationStatement. Which element feeds each column is listed in
// resource_summary.cc; a column the resource does not have stays empty.
struct ClinicalView {
  std::optional<std::string> patient_reference;    // "Patient/<id>" (subject or patient)
  std::optional<std::string> encounter_reference;  // encounter or context
  std::optional<std::string> status;               // status, or clinicalStatus's first code
  std::optional<std::string> category;             // first category code, class, or intent
  std::optional<std::string> code_system;          // first coding of code / medication / type
  std::optional<std::string> code;
  std::optional<std::string> effective;      // the clinically relevant date as written
  std::optional<std::int64_t> effective_us;  // the same in microseconds since 1970 UTC
  std::optional<double> value_number;        // Observation.valueQuantity.value
  std::optional<std::string> value_unit;     // Observation.valueQuantity unit or code
  std::optional<std::string> gender;         // Patient
  std::optional<std::string> birth_date;     // Patient

  bool operator==(const ClinicalView&) const = default;
};

struct ResourceSummary {
  bool well_formed = false;  // a JSON object with a string resourceType and a string id
  std::string problem;       // why not, when not well formed; never quotes the content
  std::string resource_type;
  std::string id;
  std::string version_id;            // meta.versionId, "" when absent
  std::string last_updated;          // meta.lastUpdated as written, "" when absent
  std::int64_t last_updated_us = 0;  // 0 when absent or unreadable
  std::int64_t version_number = 0;   // meta.versionId when it is a whole number, else 0
  std::optional<ClinicalView> view;  // set for the seven clinical types above

  bool operator==(const ResourceSummary&) const = default;
};

// True for the seven types that have a normalised view.
bool HasClinicalView(std::string_view resource_type);

class ResourceSummariser {
 public:
  ResourceSummariser();
  ~ResourceSummariser();
  ResourceSummariser(const ResourceSummariser&) = delete;
  ResourceSummariser& operator=(const ResourceSummariser&) = delete;

  ResourceSummary Summarise(std::string_view raw);

 private:
  struct Parser;
  std::unique_ptr<Parser> parser_;
};

// Splits a Bundle page (searchset, history, collection) into the raw text of each
// entry.resource, in order, without copying: the views point into `bundle`, whose capacity the
// reader grows by simdjson's padding (so it may reallocate once; take the views after Read).
// Entries without a resource (deletions in a history Bundle) are counted, not returned.
// kMalformedResponse when the text is not a JSON object with a resourceType of "Bundle" or when
// an entry or its resource is not an object.
struct BundlePage {
  std::vector<std::string_view> resources;
  std::size_t entries_without_resource = 0;
};

class BundlePageReader {
 public:
  BundlePageReader();
  ~BundlePageReader();
  BundlePageReader(const BundlePageReader&) = delete;
  BundlePageReader& operator=(const BundlePageReader&) = delete;

  base::Result<BundlePage> Read(std::string& bundle);

 private:
  struct Parser;
  std::unique_ptr<Parser> parser_;
};

}  // namespace fhirbridge::fhir
