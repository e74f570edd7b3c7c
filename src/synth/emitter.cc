#include "synth/emitter.h"

#include <algorithm>
#include <cassert>

#include "synth/random.h"

namespace fhirbridge::synth {
namespace {

constexpr std::array<std::string_view, kResourceTypeCount> kTypeNames = {
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Medication",
    "Patient",
    "Encounter",
    "Observation",
    "Condition",
    "AllergyIntolerance",
    "MedicationRequest",
    "MedicationStatement",
    "QuestionnaireResponse",
};

void AppendHex(std::string& out, std::uint64_t value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4)
    out.push_back(kHex[(value >> shift) & 0xf]);
}

}  // namespace

std::string_view TypeName(ResourceType type) { return kTypeNames[static_cast<std::size_t>(type)]; }

Emitter::Emitter(OutputFormat format, std::uint64_t seed) : format_(format), seed_(seed) {}

std::string Emitter::FullUrl(ResourceType type, std::string_view id) const {
  const std::uint64_t high = MixKey(seed_, static_cast<std::uint64_t>(type), HashText(id));
  const std::uint64_t low = MixKey(high, 0x75756964);
  // RFC 4122 version 4 layout: version nibble 4, variant bits 10.
  std::string url = "urn:uuid:";
  AppendHex(url, high >> 32, 8);
  url.push_back('-');
  AppendHex(url, (high >> 16) & 0xffff, 4);
  url.push_back('-');
  AppendHex(url, 0x4000 | (high & 0x0fff), 4);
  url.push_back('-');
  AppendHex(url, 0x8000 | ((low >> 48) & 0x3fff), 4);
  url.push_back('-');
  AppendHex(url, low & 0xffffffffffffULL, 12);
  return url;
}

const std::string& Emitter::CachedFullUrl(ResourceType type, std::string_view id) {
  for (const CachedUrl& cached : url_cache_) {
    if (cached.type == type && cached.id == id && !cached.id.empty()) return cached.full_url;
  }
  CachedUrl& slot = url_cache_[url_cache_next_];
  url_cache_next_ = (url_cache_next_ + 1) % url_cache_.size();
  slot.type = type;
  slot.id.assign(id);
  slot.full_url = FullUrl(type, id);
  return slot.full_url;
}

int Emitter::RegisterShared(ResourceType type, std::string id, std::string display) {
  Shared shared{type, std::move(id), std::move(display), {}, {}, {}};
  shared.full_url = FullUrl(type, shared.id);
  shared_.push_back(std::move(shared));
  return static_cast<int>(shared_.size()) - 1;
}

void Emitter::BeginUnit(bool graph) {
  graph_unit_ = graph;
  for (auto& lines : lines_) lines.clear();
  entries_.clear();
  manifest_.clear();
  shared_used_.clear();
}

JsonWriter& Emitter::BeginResource(ResourceType type, std::string_view id) {
  current_type_ = type;
  current_id_.assign(id);
  if (format_ == OutputFormat::kNdjson) {
    writer_.emplace(lines_[static_cast<std::size_t>(type)]);
    writer_->BeginObject();
    writer_->Member("resourceType", TypeName(type));
    writer_->Member("id", id);
    return *writer_;
  }

  // A POST entry carries no id: the server assigns it, and references use the fullUrl.
  scratch_.clear();
  writer_.emplace(scratch_);
  writer_->BeginObject();
  writer_->Member("fullUrl", CachedFullUrl(type, id));
  writer_->Key("resource");
  writer_->BeginObject();
  writer_->Member("resourceType", TypeName(type));
  return *writer_;
}

void Emitter::EndResource(std::string_view identifier_system, std::string_view identifier_value,
                          int shared_index) {
  assert(writer_.has_value() && "EndResource needs a BeginResource");
  ++counts_.resources[static_cast<std::size_t>(current_type_)];
  if (format_ == OutputFormat::kNdjson) {
    writer_->EndObject();
    writer_->out().push_back('\n');
    writer_.reset();
    return;
  }

  JsonWriter& writer = *writer_;
  writer.EndObject();
  writer.Key("request");
  writer.BeginObject();
  writer.Member("method", "POST");
  writer.Member("url", TypeName(current_type_));
  std::string condition = "identifier=";
  condition.append(identifier_system);
  condition.push_back('|');
  condition.append(identifier_value);
  writer.Member("ifNoneExist", condition);
  writer.EndObject();
  writer.EndObject();
  writer_.reset();

  if (!entries_.empty()) entries_.push_back(',');
  entries_.append(scratch_);
  if (shared_index >= 0) {
    Shared& shared = shared_[static_cast<std::size_t>(shared_index)];
    shared.entry = scratch_;
    shared.dependencies = shared_used_;
  }
  if (graph_unit_) shared_used_.clear();
}

void Emitter::AppendReference(std::string& out, ResourceType type, std::string_view id) const {
  out.append(TypeName(type));
  out.push_back('/');
  out.append(id);
}

void Emitter::WriteReferenceBody(JsonWriter& writer, std::string_view reference,
                                 std::string_view display) {
  writer.BeginObject();
  writer.Member("reference", reference);
  if (!display.empty()) writer.Member("display", display);
  writer.EndObject();
}

void Emitter::LocalReference(JsonWriter& writer, std::string_view key, ResourceType type,
                             std::string_view id, std::string_view display) {
  writer.Key(key);
  LocalReferenceValue(writer, type, id, display);
}

void Emitter::LocalReferenceValue(JsonWriter& writer, ResourceType type, std::string_view id,
                                  std::string_view display) {
  reference_.clear();
  if (format_ == OutputFormat::kBundles) {
    reference_ = CachedFullUrl(type, id);
  } else {
    AppendReference(reference_, type, id);
  }
  WriteReferenceBody(writer, reference_, display);
}

void Emitter::SharedReference(JsonWriter& writer, std::string_view key, int shared_index) {
  writer.Key(key);
  SharedReferenceValue(writer, shared_index);
}

void Emitter::SharedReferenceValue(JsonWriter& writer, int shared_index) {
  const Shared& shared = shared_[static_cast<std::size_t>(shared_index)];
  if (format_ == OutputFormat::kBundles) {
    shared_used_.push_back(shared_index);
    WriteReferenceBody(writer, shared.full_url, shared.display);
    return;
  }
  reference_.clear();
  AppendReference(reference_, shared.type, shared.id);
  WriteReferenceBody(writer, reference_, shared.display);
}

void Emitter::BrokenReference(JsonWriter& writer, std::string_view key, ResourceType type,
                              std::string_view id, std::string_view display) {
  writer.Key(key);
  reference_.clear();
  AppendReference(reference_, type, id);
  WriteReferenceBody(writer, reference_, display);
}

void Emitter::RecordDefect(ResourceType type, std::string_view id, Defect defect,
                           std::string_view path, std::string_view detail) {
  ++counts_.defects[static_cast<std::size_t>(defect)];
  JsonWriter writer(manifest_);
  writer.BeginObject();
  reference_.clear();
  AppendReference(reference_, type, id);
  writer.Member("resource", reference_);
  if (format_ == OutputFormat::kBundles) writer.Member("fullUrl", CachedFullUrl(type, id));
  writer.Member("defect", Describe(defect).name);
  writer.Member("path", path);
  writer.Member("detail", detail);
  writer.EndObject();
  manifest_.push_back('\n');
}

base::Status Emitter::EndUnit(SynthOutput& output) {
  if (format_ == OutputFormat::kNdjson) {
    for (std::size_t i = 0; i < kResourceTypeCount; ++i) {
      if (lines_[i].empty()) continue;
      counts_.bytes += lines_[i].size();
      if (auto written = output.Append(kTypeNames[i], lines_[i]); !written) return written;
    }
  } else {
    // The shared resources this unit references come first, once each, in graph order, with
    // the shared resources their own entries reference. The graph unit holds them all already.
    if (graph_unit_) shared_used_.clear();
    for (std::size_t i = 0; i < shared_used_.size(); ++i) {
      const auto& dependencies = shared_[static_cast<std::size_t>(shared_used_[i])].dependencies;
      shared_used_.insert(shared_used_.end(), dependencies.begin(), dependencies.end());
    }
    std::sort(shared_used_.begin(), shared_used_.end());
    shared_used_.erase(std::unique(shared_used_.begin(), shared_used_.end()), shared_used_.end());
    std::string bundle = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
    bool first = true;
    for (const int index : shared_used_) {
      const std::string& entry = shared_[static_cast<std::size_t>(index)].entry;
      assert(!entry.empty() && "a shared resource is written before it is referenced");
      if (!first) bundle.push_back(',');
      bundle.append(entry);
      first = false;
    }
    if (!first && !entries_.empty()) bundle.push_back(',');
    bundle.append(entries_);
    bundle.append("]}\n");
    counts_.bytes += bundle.size();
    if (auto written = output.Append("Bundle", bundle); !written) return written;
  }
  if (!manifest_.empty()) {
    counts_.bytes += manifest_.size();
    if (auto written = output.Append("manifest", manifest_); !written) return written;
  }
  return {};
}

}  // namespace fhirbridge::synth
