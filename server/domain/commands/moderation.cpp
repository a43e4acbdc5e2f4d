// Staff acting on a member: mute (and unmute), ban (and unban), remove.
// Moderation is between staff and the person: nobody else is told who was
// muted, banned or removed.
#include "domain/commands/entry_rules.hpp"
#include "domain/room_state.hpp"
#include "domain/transcript_line.hpp"

namespace hearth {

struct RoomState::ModerationRules {
  static const std::string& target(const v1::LogEntry& entry) {
    return entry.has_mute()  ? entry.mute().user_id()
           : entry.has_ban() ? entry.ban().user_id()
                             : entry.kick().user_id();
  }

  static std::optional<Failure> check(const RoomState& state, const v1::LogEntry& entry) {
    const v1::Actor& actor = entry.actor();
    if (!is_staff(actor.role())) return fail(v1::PERMISSION_DENIED, "only hosts and moderators may do this");
    const std::string& user_id = target(entry);
    if (user_id.empty()) return fail(v1::INVALID_ARGUMENT, "user_id is empty");
    if (user_id == actor.user_id()) return fail(v1::INVALID_ARGUMENT, "you cannot do this to yourself");
    const v1::Person* person = state.known_person(user_id);
    if (person == nullptr) return fail(v1::MEMBER_NOT_FOUND, "no such member in this room");
    // Ranks follow the enum: participant < moderator < host < admin.
    if (static_cast<int>(actor.role()) <= static_cast<int>(person->role())) {
      return fail(v1::PERMISSION_DENIED, "you may not do this to a member of equal or higher role");
    }
    if (entry.has_kick() && !state.is_present(user_id)) {
      return fail(v1::MEMBER_NOT_FOUND, "the member is not in the room");
    }
    return std::nullopt;
  }

  static bool mute_changes_nothing(const RoomState& state, const v1::LogEntry& entry) {
    return entry.mute().muted() == state.muted_.contains(entry.mute().user_id());
  }

  static bool ban_changes_nothing(const RoomState& state, const v1::LogEntry& entry) {
    return entry.ban().banned() == state.banned_.contains(entry.ban().user_id());
  }

  static bool apply_mute(RoomState& state, Fold& fold) {
    const auto& mute = fold.entry.mute();
    if (mute_changes_nothing(state, fold.entry)) return false;
    if (mute.muted())
      state.muted_.insert(mute.user_id());
    else
      state.muted_.erase(mute.user_id());
    *fold.event.mutable_member_muted() = state.member_view(state.members_.at(mute.user_id()));
    fold.out.audience = Audience{true, mute.user_id()};
    fold.out.presence_changed = true;
    // Kept only for the mute: an anonymous person who left goes with it.
    if (!mute.muted()) state.forget_if_gone(mute.user_id());
    return true;
  }

  static bool apply_ban(RoomState& state, Fold& fold) {
    const auto& ban = fold.entry.ban();
    if (ban_changes_nothing(state, fold.entry)) return false;
    MemberRecord& member = state.members_.at(ban.user_id());
    fold.out.audience = Audience{true, ban.user_id()};
    fold.out.presence_changed = true;
    if (ban.banned()) {
      state.banned_.insert(ban.user_id());
      const bool was_present = !member.connections.empty();
      member.connections.clear();
      state.note_presence(ban.user_id(), was_present);
      fold.out.removed_user = ban.user_id();
    } else {
      state.banned_.erase(ban.user_id());
    }
    auto* banned = fold.event.mutable_member_banned();
    *banned->mutable_person() = member.person;
    banned->set_banned(ban.banned());
    if (!ban.banned()) state.forget_if_gone(ban.user_id());  // as for a mute
    return true;
  }

  static bool apply_kick(RoomState& state, Fold& fold) {
    const std::string& user_id = fold.entry.kick().user_id();
    MemberRecord& member = state.members_.at(user_id);
    const bool was_present = !member.connections.empty();
    member.connections.clear();
    state.note_presence(user_id, was_present);
    fold.out.removed_user = user_id;
    fold.out.audience = Audience{true, user_id};
    fold.out.presence_changed = true;
    auto* left = fold.event.mutable_member_left();
    *left->mutable_person() = member.person;
    left->set_reason(v1::MemberLeft::REASON_KICKED);
    state.forget_if_gone(user_id);
    return true;
  }

  // Transcript lines (transcript_line.hpp).
  static bool line_mute(const TranscriptContext& c) {
    c.line.action = c.entry.mute().muted() ? "muted" : "unmuted";
    c.line.target = c.entry.mute().user_id();
    return true;
  }
  static bool line_ban(const TranscriptContext& c) {
    c.line.action = c.entry.ban().banned() ? "banned" : "lifted the ban on";
    c.line.target = c.entry.ban().user_id();
    return true;
  }
  static bool line_kick(const TranscriptContext& c) {
    c.line.action = "removed";
    c.line.target = c.entry.kick().user_id();
    return true;
  }

  static constexpr EntryRules entries[] = {
      {.kind = v1::LogEntry::kMute,
       .gate = Gate::member,
       .check = check,
       .apply = apply_mute,
       .changes_nothing = mute_changes_nothing,
       .transcript = line_mute},
      {.kind = v1::LogEntry::kBan,
       .gate = Gate::member,
       .check = check,
       .apply = apply_ban,
       .changes_nothing = ban_changes_nothing,
       .transcript = line_ban},
      {.kind = v1::LogEntry::kKick,
       .gate = Gate::member,
       .check = check,
       .apply = apply_kick,
       .transcript = line_kick},
  };
};

namespace {

std::optional<Failure> build_mute(const v1::ClientMessage& message, v1::LogEntry& entry) {
  entry.mutable_mute()->set_user_id(message.mute_member().user_id());
  entry.mutable_mute()->set_muted(message.mute_member().muted());
  return std::nullopt;
}

std::optional<Failure> build_kick(const v1::ClientMessage& message, v1::LogEntry& entry) {
  entry.mutable_kick()->set_user_id(message.kick_member().user_id());
  return std::nullopt;
}

std::optional<Failure> build_ban(const v1::ClientMessage& message, v1::LogEntry& entry) {
  entry.mutable_ban()->set_user_id(message.ban_member().user_id());
  entry.mutable_ban()->set_banned(message.ban_member().banned());
  return std::nullopt;
}

constexpr CommandRules kCommands[] = {
    {v1::ClientMessage::kMuteMember, build_mute},
    {v1::ClientMessage::kKickMember, build_kick},
    {v1::ClientMessage::kBanMember, build_ban},
};

}  // namespace

CommandFamily moderation_family() {
  return {RoomState::ModerationRules::entries, kCommands};
}

}  // namespace hearth
