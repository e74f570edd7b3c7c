#pragma once

// The Emitter turns generated resources into the chosen output format and keeps the manifest and
// the counts. Generation code writes each resource once through it; the Emitter decides whether
// that becomes an NDJSON line with an id and literal references, or a transaction Bundle entry
// with a urn:uuid fullUrl, urn:uuid references and a conditional create.
//
// Units: the organisation graph is one unit, each patient (with any extra records made for
// defects) is one unit. In bundle format a unit becomes one transaction Bundle; a patient's
// Bundle also carries, as conditional creates, every shared resource (Organization, Location,
// Practitioner, Medication) its resources reference, so each Bundle can be posted on its own, in
// any order, and posting it twice creates nothing new.
//
// Limitation: in bundle format the server assigns ids and meta.lastUpdated, so the long-id and
// same-last-updated defects are visible only in NDJSON output (the manifest still lists them,
// naming the record by its NDJSON id and its fullUrl).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "synth/defects.h"
#include "synth/json_writer.h"

namespace fhirbridge::synth {

enum class ResourceType {
  kOrganization,
  kLocation,
  kPractitioner,
  kPractitionerRole,
  kMedication,
  kPatient,
  kEncounter,
  kObservation,
  kCondition,
  kAllergyIntolerance,
  kMedicationRequest,
  kMedicationStatement,
  kQuestionnaireResponse,
};

inline constexpr std::size_t kResourceTypeCount =
    static_cast<std::size_t>(ResourceType::kQuestionnaireResponse) + 1;

std::string_view TypeName(ResourceType type);

enum class OutputFormat { kNdjson, kBundles };

// Where generated lines go. Streams are named after resource types ("Patient"), "Bundle" and
// "manifest"; a directory output writes each to STREAM.ndjson.
class SynthOutput {
 public:
  virtual ~SynthOutput() = default;
  // Appends `lines` (complete lines, each ending in '\n') to stream `name`.
  virtual base::Status Append(std::string_view name, std::string_view lines) = 0;
};

// Counts kept while generating.
struct EmitterCounts {
  std::array<std::uint64_t, kResourceTypeCount> resources{};
  std::array<std::uint64_t, kDefectCount> defects{};
  std::uint64_t bytes = 0;
};

class Emitter {
 public:
  Emitter(OutputFormat format, std::uint64_t seed);

  OutputFormat format() const { return format_; }

  // Registers a resource of the organisation graph before it is written, so that references to
  // it resolve. Returns its index for SharedReference and EndResource.
  int RegisterShared(ResourceType type, std::string id, std::string display);

  // Starts a unit; every resource written until EndUnit belongs to it. The organisation graph is
  // written as the first unit, with `graph` true.
  void BeginUnit(bool graph = false);

  // Starts a resource and returns the writer, positioned inside the resource object after
  // resourceType and (in NDJSON) id. The writer stays valid until EndResource.
  JsonWriter& BeginResource(ResourceType type, std::string_view id);

  // Ends the resource begun last. The business identifier keys the conditional create of its
  // bundle entry (request.ifNoneExist). `shared_index` is RegisterShared's index when the
  // resource is part of the organisation graph, otherwise -1.
  void EndResource(std::string_view identifier_system, std::string_view identifier_value,
                   int shared_index = -1);

  // Writes {"reference": ..., "display": ...} (display when not empty) as the value of `key`.
  // Local: a resource of the current unit. Shared: a registered graph resource. Broken: a
  // resource that is deliberately not in the data; always a literal Type/id.
  void LocalReference(JsonWriter& writer, std::string_view key, ResourceType type,
                      std::string_view id, std::string_view display = {});
  void SharedReference(JsonWriter& writer, std::string_view key, int shared_index);
  void BrokenReference(JsonWriter& writer, std::string_view key, ResourceType type,
                       std::string_view id, std::string_view display = {});

  // The same three, as an element of an array (no key).
  void LocalReferenceValue(JsonWriter& writer, ResourceType type, std::string_view id,
                           std::string_view display = {});
  void SharedReferenceValue(JsonWriter& writer, int shared_index);

  // Lists one injected defect in the manifest.
  void RecordDefect(ResourceType type, std::string_view id, Defect defect, std::string_view path,
                    std::string_view detail);

  // Hands the unit's lines to `output`. A failed write is returned as is.
  base::Status EndUnit(SynthOutput& output);

  const EmitterCounts& counts() const { return counts_; }

  // The urn:uuid fullUrl a resource gets in bundle format; stable for a seed.
  std::string FullUrl(ResourceType type, std::string_view id) const;

 private:
  struct Shared {
    ResourceType type;
    std::string id;
    std::string display;
    std::string full_url;
    std::string entry;              // the cached bundle entry, once written
    std::vector<int> dependencies;  // shared resources its entry references
  };

  void WriteReferenceBody(JsonWriter& writer, std::string_view reference, std::string_view display);
  // FullUrl through a small cache: a patient's id, and its encounters', recur in most of its
  // resources, and the hash costs more than the lookup.
  const std::string& CachedFullUrl(ResourceType type, std::string_view id);
  void AppendReference(std::string& out, ResourceType type, std::string_view id) const;

  OutputFormat format_;
  std::uint64_t seed_;
  std::vector<Shared> shared_;
  std::vector<int> shared_used_;
  bool graph_unit_ = false;

  // The resource being written.
  ResourceType current_type_ = ResourceType::kPatient;
  std::string current_id_;
  std::optional<JsonWriter> writer_;
  std::string scratch_;

  // The unit being written.
  std::array<std::string, kResourceTypeCount> lines_;
  std::string entries_;
  std::string manifest_;
  std::string reference_;

  struct CachedUrl {
    ResourceType type = ResourceType::kPatient;
    std::string id;
    std::string full_url;
  };
  std::array<CachedUrl, 8> url_cache_;
  std::size_t url_cache_next_ = 0;

  EmitterCounts counts_;
};

}  // namespace fhirbridge::synth
