// libFuzzer target: one client frame, as the server would receive it, through
// decoding (either encoding) and command handling, against a room with a
// little of everything in it. The first input byte picks the encoding and
// the sender's role; the rest is the frame.
//
// Built by the `fuzz` preset (clang, -fsanitize=fuzzer,address,undefined);
// scripts/fuzz runs it over tests/fuzz/corpus for a bounded time. A crash
// found is fixed and its input kept in tests/fuzz/regressions, which the
// same binary replays (and ctest runs) every time.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "codec.hpp"
#include "command.hpp"
#include "room_state.hpp"

namespace {

using namespace hearth;

const Membership kHost{"host-1", "Dr. Ada", v1::ROLE_HOST};
const Membership kAlice{"anon:a", "Guest-1111", v1::ROLE_PARTICIPANT};
const Membership kModerator{"mod-1", "Mo", v1::ROLE_MODERATOR};

// A room with members, questions in several states, messages and a mute.
RoomState make_room(v1::RoomKind kind) {
  RoomState state("fuzz-room", Limits{});
  std::uint64_t seq = 0;
  auto apply = [&](const Membership& who, auto&& fill) {
    v1::LogEntry entry = new_entry(who);
    fill(entry);
    state.apply(++seq, entry);
  };
  apply(kHost, [&](v1::LogEntry& e) {
    e.mutable_room_created()->set_kind(kind);
    e.mutable_room_created()->set_title("Fuzz");
    e.mutable_room_created()->mutable_settings()->set_require_approval(true);
    e.mutable_room_created()->mutable_settings()->set_side_chat(true);
    if (kind == v1::ROOM_KIND_SUPPORT) {
      e.mutable_room_created()->mutable_settings()->set_crisis_policy(v1::CRISIS_POLICY_HOLD);
    }
  });
  for (const auto* who : {&kHost, &kAlice, &kModerator}) {
    apply(*who, [&](v1::LogEntry& e) { e.mutable_joined()->set_connection_id("c-" + who->user_id); });
  }
  apply(kAlice, [](v1::LogEntry& e) { e.mutable_ask()->set_text("pending?"); });           // 5
  apply(kHost, [](v1::LogEntry& e) { e.mutable_ask()->set_text("open question"); });       // 6
  apply(kAlice, [](v1::LogEntry& e) { e.mutable_say()->set_text("hello"); });              // 7
  apply(kAlice, [](v1::LogEntry& e) {                                                       // 8: held
    e.mutable_say()->set_text("I want to end my life");
    e.mutable_say()->set_flagged(true);
  });
  apply(kHost, [](v1::LogEntry& e) { e.mutable_pin()->set_question_id(6); });
  apply(kModerator, [](v1::LogEntry& e) { e.mutable_delete_message()->set_message_id(7); });
  return state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = (quiet_protobuf_logging(), true);
  (void)quiet;
  if (size < 1) return 0;
  const Encoding encoding = (data[0] & 1) ? Encoding::json : Encoding::binary;
  const Membership& sender = (data[0] & 6) == 0 ? kHost : (data[0] & 6) == 2 ? kModerator : kAlice;
  const std::string_view frame(reinterpret_cast<const char*>(data + 1), size - 1);

  v1::ClientMessage message;
  if (decode_client_message(frame, encoding, message)) return 0;
  // What the server writes back must always encode.
  (void)encode(error_reply(message.request_id(), Failure{v1::MALFORMED, "x"}), encoding);

  std::string name;
  (void)clean_display_name(message.join_room().display_name(), 40, name);
  (void)valid_room_id(message.room_id());

  v1::LogEntry entry = new_entry(sender);
  if (entry_for_command(message, entry)) return 0;
  static const CrisisPhrases phrases = CrisisPhrases::of({"end my life", "suicide", "hurt myself"});
  flag_crisis(entry, phrases);
  for (const auto kind : {v1::ROOM_KIND_AMA, v1::ROOM_KIND_SUPPORT}) {
    RoomState state = make_room(kind);
    if (state.check(entry)) continue;
    const Applied applied = state.apply(state.seq() + 1, entry);
    if (applied.event) {
      v1::ServerMessage out;
      *out.mutable_event() = *applied.event;
      (void)encode(out, encoding);
    }
    for (const auto* viewer : {&kHost, &kAlice, &kModerator}) {
      const auto snapshot = state.snapshot_for(viewer->user_id, viewer->role);
      (void)encode(snapshot, encoding);
    }
    // A checkpoint of the result folds on exactly as the original.
    const RoomState copy = RoomState::from_data("fuzz-room", Limits{}, state.to_data());
    if (copy.snapshot_for(kHost.user_id, kHost.role).SerializeAsString() !=
        state.snapshot_for(kHost.user_id, kHost.role).SerializeAsString()) {
      __builtin_trap();
    }
  }
  return 0;
}
