// The room's life: opened (RoomCreated), changed (RoomUpdated), closed
// (RoomClosed), and the server's retention entries, a trim (TrimEntry) and
// the stand-in for an entry retention removed (ExpiredEntry).
#include <google/protobuf/util/field_mask_util.h>

#include <algorithm>
#include <vector>

#include "domain/command.hpp"
#include "domain/commands/entry_rules.hpp"
#include "domain/passcode_hash.hpp"
#include "domain/room_state.hpp"
#include "domain/transcript_line.hpp"

namespace hearth {

v1::RoomSettings settings_after(const v1::RoomSettings& current, const v1::RoomUpdatedEntry& update) {
  if (!update.has_settings()) return current;
  if (update.settings_mask().paths().empty()) return update.settings();  // an entry from before masks
  v1::RoomSettings next = current;
  google::protobuf::util::FieldMaskUtil::MergeMessageTo(update.settings(), update.settings_mask(), {}, &next);
  return next;
}

namespace {

// "changed the settings: approval on, slow mode 30 s": the settings the
// update named (all of them for an entry from before settings masks).
std::string settings_changed(const v1::RoomUpdatedEntry& update) {
  const auto& s = update.settings();
  const auto on_off = [](bool on) { return on ? "on" : "off"; };
  const std::pair<const char*, std::string> settings[] = {
      {"require_approval", std::string("approval ") + on_off(s.require_approval())},
      {"side_chat", std::string("side chat ") + on_off(s.side_chat())},
      {"retention_days",
       "retention " + (s.retention_days() ? std::to_string(s.retention_days()) + " days" : "default")},
      {"slow_mode_seconds",
       "slow mode " +
           (s.slow_mode_seconds() ? std::to_string(s.slow_mode_seconds()) + " s" : std::string("off"))},
      {"invite_only", std::string("private ") + on_off(s.invite_only())},
      {"require_sign_in", std::string("sign-in required ") + on_off(s.require_sign_in())},
      {"crisis_policy",
       std::string("flagged posts ") + (s.crisis_policy() == v1::CRISIS_POLICY_HOLD ? "held" : "shown")},
      {"member_list_limit",
       "member list " + (s.member_list_limit() ? "up to " + std::to_string(s.member_list_limit())
                                               : std::string("default"))},
      {"care_notice", s.care_notice().empty() ? "the default notice" : "a new notice"},
  };
  const auto& paths = update.settings_mask().paths();
  std::vector<std::string> parts;
  for (const auto& [field, text] : settings) {
    // Entries from before masks replaced the settings whole, and before
    // care_notice: their lines stay as they were.
    const bool named = paths.empty() ? update.has_settings() && std::string_view(field) != "care_notice"
                                     : std::find(paths.begin(), paths.end(), field) != paths.end();
    if (named) parts.push_back(text);
  }
  if (!update.passcode_hash().empty())
    parts.emplace_back("a new passcode");
  else if (update.remove_passcode())
    parts.emplace_back("no passcode");
  if (parts.empty()) return update.title().empty() ? "changed nothing" : "renamed the room";
  std::string out = "changed the settings: ";
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out;
}

// What later entries did to earlier items, learnt in a first pass.

}  // namespace

struct RoomState::LifecycleRules {
  static std::optional<Failure> check_settings(const v1::RoomSettings& settings) {
    if (settings.retention_days() > kMaxRetentionDays) {
      return fail(v1::INVALID_ARGUMENT, "retention_days is at most " + std::to_string(kMaxRetentionDays));
    }
    if (settings.slow_mode_seconds() > kMaxSlowModeSeconds) {
      return fail(v1::INVALID_ARGUMENT,
                  "slow_mode_seconds is at most " + std::to_string(kMaxSlowModeSeconds));
    }
    if (settings.member_list_limit() > kMaxMemberListLimit) {
      return fail(v1::INVALID_ARGUMENT,
                  "member_list_limit is at most " + std::to_string(kMaxMemberListLimit));
    }
    if (count_code_points(settings.care_notice()) > kMaxCareNoticeChars) {
      return fail(v1::TEXT_TOO_LONG,
                  "care_notice is at most " + std::to_string(kMaxCareNoticeChars) + " characters");
    }
    return std::nullopt;
  }

  static std::optional<Failure> check_created(const RoomState& state, const v1::LogEntry& entry) {
    if (state.created_) return fail(v1::ROOM_EXISTS, "a room with this id exists already");
    const v1::Role role = entry.actor().role();
    if (role != v1::ROLE_HOST && role != v1::ROLE_ADMIN) {
      return fail(v1::PERMISSION_DENIED, "creating a room needs a host or admin token");
    }
    const auto kind = entry.room_created().kind();
    if (kind != v1::ROOM_KIND_AMA && kind != v1::ROOM_KIND_SUPPORT) {
      return fail(v1::INVALID_ARGUMENT, "kind must be ROOM_KIND_AMA or ROOM_KIND_SUPPORT");
    }
    if (count_code_points(entry.room_created().title()) > state.limits_.max_title_chars) {
      return fail(v1::TEXT_TOO_LONG, "title is too long");
    }
    return check_settings(entry.room_created().settings());
  }

  static std::optional<Failure> check_host(const v1::LogEntry& entry) {
    const v1::Role role = entry.actor().role();
    if (role != v1::ROLE_HOST && role != v1::ROLE_ADMIN) {
      return fail(v1::PERMISSION_DENIED, "only the host may change or close the room");
    }
    return std::nullopt;
  }

  static std::optional<Failure> check_updated(const RoomState& state, const v1::LogEntry& entry) {
    if (auto failure = check_host(entry)) return failure;
    const auto& update = entry.room_updated();
    if (count_code_points(update.title()) > state.limits_.max_title_chars) {
      return fail(v1::TEXT_TOO_LONG, "title is too long");
    }
    const auto& mask = update.settings_mask();
    if (!google::protobuf::util::FieldMaskUtil::IsValidFieldMask<v1::RoomSettings>(mask)) {
      return fail(v1::INVALID_ARGUMENT, "settings_mask names a field that RoomSettings does not have");
    }
    const v1::RoomSettings& settings = state.settings_;
    const v1::RoomSettings next = settings_after(settings, update);
    if (auto failure = check_settings(next)) return failure;
    // Opening a private room or letting flagged posts through must be meant:
    // a client that sends stale settings gets an error, not an open room.
    // (Entries from before masks replaced the settings whole, unasked.)
    if (mask.paths().empty() || update.allow_loosening()) return std::nullopt;
    if (settings.invite_only() && !next.invite_only()) {
      return fail(
          v1::CONFIRMATION_REQUIRED,
          "this makes the private room open to anyone with its id: send it with allow_loosening to confirm");
    }
    if (settings.require_sign_in() && !next.require_sign_in()) {
      return fail(
          v1::CONFIRMATION_REQUIRED,
          "this lets anonymous people join without an invite: send it with allow_loosening to confirm");
    }
    if (settings.crisis_policy() == v1::CRISIS_POLICY_HOLD &&
        next.crisis_policy() != v1::CRISIS_POLICY_HOLD) {
      return fail(v1::CONFIRMATION_REQUIRED,
                  "this stops holding posts the crisis rules flag: send it with allow_loosening to confirm");
    }
    return std::nullopt;
  }

  static std::optional<Failure> check_closed(const RoomState&, const v1::LogEntry& entry) {
    return check_host(entry);
  }

  static bool apply_created(RoomState& state, Fold& fold) {
    const auto& created = fold.entry.room_created();
    state.created_ = true;
    state.created_seq_ = fold.seq;
    state.epoch_ = created.epoch();
    state.kind_ = created.kind();
    state.title_ = created.title();
    state.settings_ = created.settings();
    state.passcode_hash_ = created.passcode_hash();
    state.created_at_ = fold.entry.at();
    state.created_by_ = person_of(fold.entry.actor());
    *fold.event.mutable_room_opened() = state.room_info();
    return true;
  }

  static bool apply_updated(RoomState& state, Fold& fold) {
    const auto& update = fold.entry.room_updated();
    state.settings_ = settings_after(state.settings_, update);
    if (update.remove_passcode())
      state.passcode_hash_.clear();
    else if (!update.passcode_hash().empty())
      state.passcode_hash_ = update.passcode_hash();
    if (!update.title().empty()) state.title_ = update.title();
    *fold.event.mutable_room_updated() = state.room_info();
    fold.out.presence_changed = true;  // member_list_limit may list or unlist everyone
    return true;
  }

  static bool apply_closed(RoomState& state, Fold& fold) {
    state.closed_ = true;
    *fold.event.mutable_room_closed() = state.room_info();
    return true;
  }

  static bool apply_trim(RoomState& state, Fold& fold) {
    // Only what came before this entry can be trimmed by it.
    const std::uint64_t up_to = std::min(fold.entry.trim().up_to_seq(), fold.seq - 1);
    if (!state.trim(up_to)) return false;
    fold.event.mutable_items_expired()->set_up_to_seq(up_to);
    fold.event.clear_actor();
    return true;
  }

  // What it stands for acted on an item retention removed: nothing to do.
  static bool apply_expired(RoomState&, Fold&) { return false; }

  // Transcript lines (transcript_line.hpp).
  static bool line_created(const TranscriptContext& c) {
    c.line.action = "opened the room";
    c.line.text = c.entry.room_created().title();
    return true;
  }
  static bool line_updated(const TranscriptContext& c) {
    c.line.action = settings_changed(c.entry.room_updated());
    if (!c.entry.room_updated().title().empty()) c.line.text = c.entry.room_updated().title();
    return true;
  }
  static bool line_closed(const TranscriptContext& c) {
    c.line.action = "closed the room";
    return true;
  }
  static bool line_trim(const TranscriptContext& c) {
    c.by_hearth();
    c.line.action = "removed, as the room's retention asks, everything up to";
    c.line.item = c.entry.trim().up_to_seq();
    return true;
  }

  static constexpr EntryRules entries[] = {
      {.kind = v1::LogEntry::kRoomCreated,
       .gate = Gate::creation,
       .check = check_created,
       .apply = apply_created,
       .transcript = line_created},
      {.kind = v1::LogEntry::kRoomUpdated,
       .gate = Gate::member,
       .check = check_updated,
       .apply = apply_updated,
       .transcript = line_updated},
      {.kind = v1::LogEntry::kRoomClosed,
       .gate = Gate::member,
       .check = check_closed,
       .apply = apply_closed,
       .transcript = line_closed},
      {.kind = v1::LogEntry::kTrim, .gate = Gate::server, .apply = apply_trim, .transcript = line_trim},
      {.kind = v1::LogEntry::kExpired,
       .gate = Gate::server,
       .apply = apply_expired,
       .transcript = no_transcript_line},
  };
};

namespace {

std::optional<Failure> build_update(const v1::ClientMessage& message, v1::LogEntry& entry) {
  const auto& update = message.update_room();
  auto* out = entry.mutable_room_updated();
  // Only the settings the mask names change (settings_after), so a client
  // that sends one setting cannot reset the others.
  if (update.has_settings() && update.settings_mask().paths().empty()) {
    return fail(v1::INVALID_ARGUMENT, "name the settings to change in settings_mask; the others are kept");
  }
  if (!update.settings_mask().paths().empty()) {
    *out->mutable_settings() = update.settings();
    *out->mutable_settings_mask() = update.settings_mask();
  }
  out->set_allow_loosening(update.allow_loosening());
  out->set_title(update.title());
  if (!update.passcode().empty()) {
    if (auto failure = check_passcode(update.passcode())) return failure;
    out->set_passcode_hash(hash_passcode(update.passcode()));
  }
  out->set_remove_passcode(update.remove_passcode());
  return std::nullopt;
}

std::optional<Failure> build_close(const v1::ClientMessage&, v1::LogEntry& entry) {
  entry.mutable_room_closed();
  return std::nullopt;
}

constexpr CommandRules kCommands[] = {
    {v1::ClientMessage::kUpdateRoom, build_update},
    {v1::ClientMessage::kCloseRoom, build_close},
};

}  // namespace

CommandFamily lifecycle_family() {
  return {RoomState::LifecycleRules::entries, kCommands};
}

}  // namespace hearth
