// libFuzzer target: one client frame, as the server would receive it, through
// decoding (either encoding) and command handling, against a room with a
// little of everything in it. The first input byte picks the encoding (bit
// 0: JSON) and the sender (bits 1-2: 0 the host, 2 a moderator, 4 a
// participant, 6 a participant who is muted); the rest is the frame.
//
// Built by the `fuzz` preset (clang, -fsanitize=fuzzer,address,undefined);
// scripts/fuzz runs it from its seeds (tests/fuzz/corpus/command_fuzzer: the
// json-* ones written by hand, the binary-* ones by
// `command_fuzzer_replay --write-seeds`) for a bounded time. A crash found
// is fixed and its input kept in tests/fuzz/regressions/command_fuzzer,
// which scripts/fuzz replays first and ctest replays on every run
// (tests/fuzz/replay).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crisis_lane.hpp"
#include "domain/command.hpp"
#include "domain/room_state.hpp"
#include "fuzz_input.hpp"
#include "protocol/codec.hpp"

namespace {

using namespace hearth;

const Membership kHost{"host-1", "Dr. Ada", v1::ROLE_HOST};
const Membership kAlice{"anon:a", "Guest-1111", v1::ROLE_PARTICIPANT};
const Membership kModerator{"mod-1", "Mo", v1::ROLE_MODERATOR};
const Membership kBob{"anon:b", "Guest-2222", v1::ROLE_PARTICIPANT};

// A room with members, questions in several states (in the AMA room: the
// support room refuses questions), messages and a mute.
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
  apply(kAlice, [](v1::LogEntry& e) {  // 8: flagged; held in the support room (its policy is HOLD)
    e.mutable_say()->set_text("I want to end my life");
    e.mutable_say()->set_flagged(true);
  });
  apply(kHost, [](v1::LogEntry& e) { e.mutable_pin()->set_question_id(6); });
  apply(kModerator, [](v1::LogEntry& e) { e.mutable_delete_message()->set_message_id(7); });
  apply(kBob, [](v1::LogEntry& e) { e.mutable_joined()->set_connection_id("c-b"); });  // 11
  apply(kModerator, [](v1::LogEntry& e) {                                                 // 12
    e.mutable_mute()->set_user_id("anon:b");
    e.mutable_mute()->set_muted(true);
  });
  return state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = (quiet_protobuf_logging(), true);
  (void)quiet;
  if (size < 1) return 0;
  const Encoding encoding = (data[0] & 1) ? Encoding::json : Encoding::binary;
  const Membership* const senders[] = {&kHost, &kModerator, &kAlice, &kBob};
  const Membership& sender = *senders[(data[0] >> 1) & 3];
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
  static const CrisisLane crisis = fuzz::fuzz_crisis_lane();
  flag_crisis(entry, crisis.rules);
  for (const auto kind : {v1::ROOM_KIND_AMA, v1::ROOM_KIND_SUPPORT}) {
    RoomState state = make_room(kind);
    if (state.check(entry)) continue;
    const Applied applied = state.apply(state.seq() + 1, entry);
    if (applied.event) {
      v1::ServerMessage out;
      *out.mutable_event() = *applied.event;
      (void)encode(out, encoding);
    }
    for (const auto* viewer : {&kHost, &kAlice, &kModerator, &kBob}) {
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

namespace hearth::fuzz {

// The binary seeds: protobuf frames, each after its selector byte.
std::vector<Seed> fuzz_seeds() {
  std::vector<Seed> seeds;
  auto add = [&seeds](std::string name, unsigned selector, const v1::ClientMessage& message) {
    const std::string selector_byte(1, static_cast<char>(selector));
    seeds.push_back({std::move(name), selector_byte + message.SerializeAsString()});
  };
  auto in_room = [](std::uint32_t request_id) {
    v1::ClientMessage message;
    message.set_request_id(request_id);
    message.set_room_id("fuzz-room");
    return message;
  };
  const std::pair<const char*, unsigned> senders[] = {{"", 0}, {"-moderator", 2}, {"-participant", 4}};
  auto ask = in_room(1);
  ask.mutable_ask_question()->set_text("binary question");
  for (const auto& [suffix, selector] : senders) add(std::string("binary-1") + suffix, selector, ask);
  auto vote = in_room(2);
  vote.mutable_vote_question()->set_question_id(6);
  vote.mutable_vote_question()->set_up(true);
  add("binary-2", 0, vote);
  auto say = in_room(3);
  say.mutable_send_message()->set_text("binary hi");
  say.mutable_send_message()->set_reply_to_message_id(7);
  add("binary-3", 0, say);
  auto ban = in_room(4);
  ban.mutable_ban_member()->set_user_id("anon:a");
  ban.mutable_ban_member()->set_banned(true);
  add("binary-4", 0, ban);
  auto answer = in_room(5);
  answer.mutable_answer_question()->set_question_id(6);
  answer.mutable_answer_question()->set_text("an answer");
  for (const auto& [suffix, selector] : senders) add(std::string("binary-5") + suffix, selector, answer);
  v1::ClientMessage hello;
  hello.set_request_id(6);
  hello.mutable_hello()->set_display_name("Bin");
  add("binary-6", 0, hello);
  auto unmute = in_room(7);
  unmute.mutable_mute_member()->set_user_id("anon:b");
  unmute.mutable_mute_member()->set_muted(false);
  add("binary-7-moderator", 2, unmute);
  auto muted_says = in_room(8);
  muted_says.mutable_send_message()->set_text("am I heard?");
  add("binary-8-muted", 6, muted_says);
  return seeds;
}

}  // namespace hearth::fuzz
