// The table of entry_rules.hpp, put together from the families' parts.
#include <array>

#include "domain/commands/entry_rules.hpp"
#include "domain/room_state.hpp"

namespace hearth {
namespace {

// Above every field number of LogEntry.kind and ClientMessage.command: a
// family that names a higher one fails at the first look-up (at()).
constexpr std::size_t kTableSize = 64;

struct Tables {
  std::array<const EntryRules*, kTableSize> entries{};
  std::array<const CommandRules*, kTableSize> commands{};

  Tables() {
    for (const CommandFamily& family : command_families()) {
      for (const EntryRules& rules : family.entries)
        entries.at(static_cast<std::size_t>(rules.kind)) = &rules;
      for (const CommandRules& rules : family.commands)
        commands.at(static_cast<std::size_t>(rules.command)) = &rules;
    }
  }
};

const Tables& tables() {
  static const Tables built;
  return built;
}

}  // namespace

std::array<CommandFamily, 6> command_families() {
  return {lifecycle_family(), membership_family(), moderation_family(),
          question_family(),  chat_family(),       care_family()};
}

const EntryRules* rules_for(v1::LogEntry::KindCase kind) {
  const auto at = static_cast<std::size_t>(kind);
  return at < kTableSize ? tables().entries[at] : nullptr;
}

const CommandRules* rules_for(v1::ClientMessage::CommandCase command) {
  const auto at = static_cast<std::size_t>(command);
  return at < kTableSize ? tables().commands[at] : nullptr;
}

bool erase_text(std::string* text) {
  if (text->empty() || *text == kErasedText) return false;
  *text = kErasedText;
  return true;
}

v1::Person person_of(const v1::Actor& actor) {
  v1::Person person;
  person.set_user_id(actor.user_id());
  person.set_display_name(actor.display_name());
  person.set_role(actor.role());
  return person;
}

}  // namespace hearth
