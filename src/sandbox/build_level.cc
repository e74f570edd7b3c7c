#include "sandbox/build_level.h"

#include <array>
#include <utility>

namespace fhirbridge::sandbox {
namespace {

using std::string_view_literals::operator""sv;

// In enum order; InteractionCode indexes it, so the static_assert keeps the two in step.
constexpr std::array kInteractionCodes = {
    std::pair{Interaction::kRead, "read"sv},
    std::pair{Interaction::kVread, "vread"sv},
    std::pair{Interaction::kUpdate, "update"sv},
    std::pair{Interaction::kDelete, "delete"sv},
    std::pair{Interaction::kHistoryInstance, "history-instance"sv},
    std::pair{Interaction::kHistoryType, "history-type"sv},
    std::pair{Interaction::kCreate, "create"sv},
    std::pair{Interaction::kSearchType, "search-type"sv},
    std::pair{Interaction::kTransaction, "transaction"sv},
    std::pair{Interaction::kBatch, "batch"sv},
    std::pair{Interaction::kHistorySystem, "history-system"sv},
};

constexpr bool CodesAreInEnumOrder() {
  for (std::size_t i = 0; i < kInteractionCodes.size(); ++i) {
    if (static_cast<std::size_t>(kInteractionCodes[i].first) != i) return false;
  }
  return true;
}
static_assert(CodesAreInEnumOrder(), "kInteractionCodes must list Interaction in enum order");
static_assert(kInteractionCodes.size() == static_cast<std::size_t>(Interaction::kHistorySystem) + 1,
              "every Interaction needs a code");

}  // namespace

std::string_view InteractionCode(Interaction interaction) {
  return kInteractionCodes[static_cast<std::size_t>(interaction)].second;
}

std::optional<Interaction> ParseInteraction(std::string_view code) {
  for (const auto& [interaction, interaction_code] : kInteractionCodes) {
    if (interaction_code == code) return interaction;
  }
  return std::nullopt;
}

bool IsSystemInteraction(Interaction interaction) {
  return interaction == Interaction::kTransaction || interaction == Interaction::kBatch ||
         interaction == Interaction::kHistorySystem;
}

bool BuildLevel::SupportsType(std::string_view type) const { return resources.contains(type); }

bool BuildLevel::Supports(std::string_view type, Interaction interaction) const {
  const auto found = resources.find(type);
  return found != resources.end() && found->second.contains(interaction);
}

bool BuildLevel::SupportsSystem(Interaction interaction) const {
  return system_interactions.contains(interaction);
}

}  // namespace fhirbridge::sandbox
