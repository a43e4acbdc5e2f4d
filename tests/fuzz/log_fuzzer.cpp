// libFuzzer target: a room's log, entry by entry, with no command layer and no
// I/O: RoomState's fold (check, apply, events, snapshots, checkpoints), "erase
// my data" on what is stored (redact_entry on the entries, RoomState::redact
// on the checkpoint, as room_erasure.cpp does), retention's trim and
// checkpoint (as retention.cpp does), and the transcripts rendered from what
// is stored. The checks are the session fuzzer's (privacy_watch.hpp): after
// every entry, each of six people is shown the event the room would send them
// and their snapshot; storage and transcripts are checked after every erasure
// and trim and at the end; and the log, rewritten, folds again to the same
// state.
//
// Several times faster than the session fuzzer, it also appends what a
// single node's commands never do: entries that raced (checked against the
// state one entry earlier, as on two nodes at once) and entries at times of
// the fuzzer's choosing (slow mode). Like Room::submit, it appends only
// entries that pass RoomState::check and change something.
//
// The input is a program (fuzz_input.hpp): an opcode and its arguments, up to
// kMaxEntries times.
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "crisis_lane.hpp"
#include "domain/command.hpp"
#include "fuzz_input.hpp"
#include "privacy_watch.hpp"
#include "room_choices.hpp"

namespace hearth::fuzz {
namespace {

using google::protobuf::util::TimeUtil;

constexpr std::size_t kMaxEntries = 96;
constexpr const char* kRoom = "log-room";

struct Person {
  const char* user_id;
  v1::Role role;
};
constexpr Person kPeople[] = {{"host-1", v1::ROLE_HOST},        {"mod-1", v1::ROLE_MODERATOR},
                              {"p-1", v1::ROLE_PARTICIPANT},    {"p-2", v1::ROLE_PARTICIPANT},
                              {"anon:a", v1::ROLE_PARTICIPANT}, {"admin-1", v1::ROLE_ADMIN}};
constexpr unsigned kPeopleCount = sizeof(kPeople) / sizeof(kPeople[0]);

// clang-format off
enum Op : unsigned {
  kCreate, kUpdate, kClose, kJoin, kLeave, kMute, kBan, kKick,
  kAsk, kVote, kApprove, kDismiss, kPin, kAnswer, kMarkAnswered, kEditQuestion, kDeleteQuestion,
  kSay, kEditMessage, kDeleteMessage, kRelease, kReport, kErase,
  kTrim, kAdvanceTime, kRace,
  kOpCount
};
// clang-format on

class Log {
 public:
  explicit Log(FuzzInput& in) : in_(in), watch_(kRoom, limits_, book_), previous_(kRoom, limits_) {
    for (unsigned i = 0; i < kPeopleCount; ++i) names_.push_back(book_.make(MarkerKind::name));
  }

  void play() {
    bool race = false;
    for (std::size_t step = 0; step < kMaxEntries && !in_.empty(); ++step) {
      const unsigned op = in_.pick(kOpCount);
      if (op == kRace) {
        race = true;
        continue;
      }
      if (op == kAdvanceTime) {
        const std::int64_t seconds[] = {1, 3, 86400, 0};
        clock_ += seconds[in_.pick(4)];
        continue;
      }
      if (op == kTrim) {
        trim();
        continue;
      }
      step_entry(static_cast<Op>(op), race);
      race = false;
    }
    watch_.check_storage(stored_, checkpoint_);
    watch_.check_refold();
  }

 private:
  // --- choices ---------------------------------------------------------------

  // ASCII: texts reach the log only through decoding, which refuses anything
  // but UTF-8.
  std::string text(MarkerKind kind) { return fuzz_text(in_, book_, kind, TextBytes::ascii); }
  std::uint64_t question() { return fuzz_item(in_, &watch_.question_ids()); }
  std::uint64_t message() { return fuzz_item(in_, &watch_.message_ids()); }
  std::string target() {
    const unsigned choice = in_.pick(kPeopleCount + 1);
    return choice < kPeopleCount ? kPeople[choice].user_id : "nobody";
  }

  // --- entries ---------------------------------------------------------------

  void step_entry(Op op, bool race) {
    const unsigned who = in_.pick(kPeopleCount);
    const Membership actor{kPeople[who].user_id, names_[who], kPeople[who].role};
    v1::LogEntry entry = new_entry(actor);
    *entry.mutable_at() = TimeUtil::SecondsToTimestamp(clock_);
    const std::string connection = "c-" + std::to_string(who) + "-" + std::to_string(in_.pick(2));
    switch (op) {
      case kCreate: {
        auto* created = entry.mutable_room_created();
        created->set_kind(fuzz_room_kind(in_));
        created->set_title(text(MarkerKind::title));
        *created->mutable_settings() = fuzz_settings(in_);
        created->set_epoch("epoch-1");
        break;
      }
      case kUpdate: {
        auto* updated = entry.mutable_room_updated();
        *updated->mutable_settings() = fuzz_settings(in_);
        const std::string title = text(MarkerKind::title);
        if (in_.flag()) updated->set_title(title);
        // The fold keeps a hash, never checks one: any bytes stand in.
        if (in_.flag()) updated->set_passcode_hash("not-a-real-hash");
        updated->set_remove_passcode(in_.flag());
        break;
      }
      case kClose:
        entry.mutable_room_closed();
        break;
      case kJoin:
        entry.mutable_joined()->set_connection_id(connection);
        break;
      case kLeave:
        entry.mutable_left()->set_connection_id(connection);
        entry.mutable_left()->set_reason(in_.flag() ? v1::MemberLeft::REASON_LEFT
                                                    : v1::MemberLeft::REASON_DISCONNECTED);
        // As Room::leave: under the name the room knows, none after an erasure.
        if (const v1::Person* known = watch_.state().known_person(actor.user_id)) {
          entry.mutable_actor()->set_display_name(known->display_name());
        }
        break;
      case kMute:
        with_member(entry.mutable_mute(), target())->set_muted(in_.flag());
        break;
      case kBan:
        with_member(entry.mutable_ban(), target())->set_banned(in_.flag());
        break;
      case kKick:
        with_member(entry.mutable_kick(), target());
        break;
      case kAsk:
        entry.mutable_ask()->set_text(text(MarkerKind::text));
        entry.mutable_ask()->set_anonymous(in_.flag());
        break;
      case kVote:
        with_question(entry.mutable_vote(), question())->set_up(in_.flag());
        break;
      case kApprove:
        with_question(entry.mutable_approve(), question());
        break;
      case kDismiss:
        with_question(entry.mutable_dismiss(), question())->set_undo(in_.flag());
        break;
      case kPin:
        entry.mutable_pin()->set_question_id(in_.flag() ? 0 : question());
        break;
      case kAnswer:
        with_question(entry.mutable_answer(), question())->set_text(text(MarkerKind::text));
        break;
      case kMarkAnswered:
        with_question(entry.mutable_mark_answered(), question());
        break;
      case kEditQuestion:
        entry.mutable_edit_question()->set_id(question());
        entry.mutable_edit_question()->set_text(text(MarkerKind::text));
        break;
      case kDeleteQuestion:
        with_question(entry.mutable_delete_question(), question());
        break;
      case kSay: {
        auto* say = entry.mutable_say();
        say->set_text(text(MarkerKind::text));
        const unsigned reply = in_.pick(4);
        if (reply == 1)
          say->set_reply_to_message_id(message());
        else if (reply == 2)
          say->set_reply_to_question_id(question());
        else if (reply == 3) {
          say->set_reply_to_message_id(message());
          say->set_reply_to_question_id(question());
        }
        break;
      }
      case kEditMessage:
        entry.mutable_edit_message()->set_id(message());
        entry.mutable_edit_message()->set_text(text(MarkerKind::text));
        break;
      case kDeleteMessage:
        with_message(entry.mutable_delete_message(), message());
        break;
      case kRelease:
        with_message(entry.mutable_release_message(), message());
        break;
      case kReport: {
        auto* report = entry.mutable_report();
        if (in_.flag())
          report->set_question_id(question());
        else
          report->set_message_id(message());
        report->set_reason(text(MarkerKind::reason));
        break;
      }
      case kErase:
        entry.mutable_erase();
        entry.mutable_actor()->clear_display_name();  // as Room::erase sends it
        break;
      default:
        return;
    }
    static const CrisisLane crisis = fuzz_crisis_lane();
    flag_crisis(entry, crisis.rules);

    // As Room::submit (a Left always goes in): checked, and dropped if it
    // changes nothing. A raced entry was checked on a state one entry older.
    const RoomState& judge = race ? previous_ : watch_.state();
    if (!entry.has_left() && (judge.check(entry) || judge.changes_nothing(entry))) return;
    if (entry.has_erase()) erase_stored(entry.actor().user_id());
    append(entry);
    if (entry.has_erase()) watch_.check_storage(stored_, checkpoint_);
  }

  void append(const v1::LogEntry& entry) {
    previous_ = watch_.state();
    const std::uint64_t seq = ++seq_;
    stored_.push_back(SequencedEntry{seq, std::make_shared<const v1::LogEntry>(entry), {}});
    const Applied applied = watch_.appended(seq, entry);
    // What each person would be sent now, and what they would see on joining.
    for (const Person& person : kPeople) {
      const Viewer viewer{person.user_id, person.role};
      if (applied.event && RoomState::may_see(applied.audience, person.user_id, person.role)) {
        v1::ServerMessage message;
        *message.mutable_event() =
            is_staff(person.role) && applied.staff_event ? *applied.staff_event : *applied.event;
        watch_.check_received(message, viewer, seq);
      }
      // Participants' snapshots after every entry; staff, who see nearly
      // everything, now and then (snapshots are most of the time spent).
      if (watch_.state().exists() && (!is_staff(person.role) || seq % 8 == 0)) {
        v1::ServerMessage message;
        *message.mutable_reply()->mutable_ok()->mutable_snapshot() =
            watch_.state().snapshot_for(person.user_id, person.role);
        watch_.check_received(message, viewer, seq);
      }
    }
  }

  // "Erase my data" on what is stored, as room_erasure.cpp's rewrite_for.
  void erase_stored(const std::string& user_id) {
    std::vector<SequencedEntry> rewritten;
    for (auto& stored : stored_) {
      auto copy = std::make_shared<v1::LogEntry>(*stored.entry);
      if (!redact_entry(*copy, user_id)) continue;
      stored.entry = copy;
      rewritten.push_back(stored);
    }
    watch_.rewritten(rewritten);
    if (checkpoint_) {
      RoomState state = RoomState::from_data(kRoom, limits_, checkpoint_->state());
      RoomState base = RoomState::from_data(kRoom, limits_, checkpoint_->base());
      state.redact(user_id);
      base.redact(user_id);
      *checkpoint_->mutable_state() = state.to_data();
      *checkpoint_->mutable_base() = base.to_data();
    }
  }

  // Retention, as retention.cpp's trim_room: a TrimEntry up to an entry of
  // the fuzzer's choosing, then a checkpoint that stands in for what it
  // removes from storage.
  void trim() {
    const unsigned choice = in_.byte();
    const std::uint64_t base_seq = checkpoint_ ? checkpoint_->base_seq() : 0;
    if (!watch_.state().exists() || seq_ <= base_seq) return;
    const std::uint64_t up_to = base_seq + 1 + choice % (seq_ - base_seq);
    if (up_to > watch_.state().trimmed_up_to()) {
      v1::LogEntry entry;
      *entry.mutable_at() = TimeUtil::SecondsToTimestamp(clock_);
      entry.mutable_trim()->set_up_to_seq(up_to);
      append(entry);
    }
    RoomState state =
        checkpoint_ ? RoomState::from_data(kRoom, limits_, checkpoint_->state()) : RoomState(kRoom, limits_);
    RoomState base =
        checkpoint_ ? RoomState::from_data(kRoom, limits_, checkpoint_->base()) : RoomState(kRoom, limits_);
    for (const auto& stored : stored_) {
      state.apply(stored.seq, *stored.entry);
      if (stored.seq <= up_to) base.apply(stored.seq, *stored.entry);
    }
    base.trim(up_to);
    for (const auto& stored : stored_) {
      if (stored.seq > up_to && stored.entry->has_erase()) base.redact(stored.entry->actor().user_id());
    }
    v1::RoomCheckpoint checkpoint;
    checkpoint.set_seq(seq_);
    *checkpoint.mutable_state() = state.to_data();
    checkpoint.set_base_seq(up_to);
    *checkpoint.mutable_base() = base.to_data();
    checkpoint_ = std::move(checkpoint);
    std::erase_if(stored_, [up_to](const SequencedEntry& stored) { return stored.seq <= up_to; });
    watch_.check_storage(stored_, checkpoint_);
  }

  FuzzInput& in_;
  Limits limits_ = small_room_limits();
  MarkerBook book_;
  RoomWatch watch_;
  RoomState previous_;  // the state before the last entry, for races
  std::vector<std::string> names_;
  std::int64_t clock_ = 1'767'225'600;  // 2026-01-01
  std::uint64_t seq_ = 0;
  std::vector<SequencedEntry> stored_;  // the log as storage holds it: after the checkpoint's base
  std::optional<v1::RoomCheckpoint> checkpoint_;
};

}  // namespace
}  // namespace hearth::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hearth::fuzz::FuzzInput in(data, size);
  hearth::fuzz::Log(in).play();
  return 0;
}

// ---------------------------------------------------------------------------
// Seeds: short logs written with the reader's own opcodes (the arguments in
// the order Log reads them: the actor, the connection, then the entry's).
// ---------------------------------------------------------------------------

namespace hearth::fuzz {
namespace {

class Script : public SeedScript<Script, Op> {
 public:
  // People: 0 host-1, 1 mod-1, 2 p-1, 3 p-2, 4 anon:a, 5 admin-1.
  Script& entry(Op op, unsigned who, unsigned connection = 0) {
    writer_.byte(op).byte(who).byte(connection);
    return *this;
  }
  Script& everyone_joins() {
    for (unsigned who = 0; who < kPeopleCount; ++who) entry(kJoin, who);
    return *this;
  }
};

}  // namespace

std::vector<Seed> fuzz_seeds() {
  // Settings bits: 1 approval, 2 side chat, 4 invite only, 8 hold, 16 slow mode.
  Script ama;
  ama.entry(kCreate, 0).arg(0).arg(0).arg(1 | 2).everyone_joins();
  ama.entry(kAsk, 2).arg(0).arg(0).entry(kAsk, 4).arg(0).arg(1).entry(kApprove, 1).arg(0);
  ama.entry(kVote, 3).arg(0).arg(1).entry(kAnswer, 0).arg(0).arg(0).entry(kPin, 0).arg(0).arg(0);
  ama.entry(kDismiss, 1).arg(1).entry(kSay, 2).arg(0).arg(2).arg(0).entry(kReport, 3).arg(0).arg(0).arg(0);
  ama.entry(kEditQuestion, 4).arg(1).arg(0).entry(kErase, 2).entry(kLeave, 2).arg(1).entry(kJoin, 2);

  Script support;
  support.entry(kCreate, 0).arg(1).arg(0).arg(8).everyone_joins();
  support.entry(kSay, 2)
      .arg(4)
      .arg(0)
      .entry(kSay, 3)
      .arg(0)
      .arg(1)
      .arg(0)
      .entry(kEditMessage, 2)
      .arg(0)
      .arg(0);
  support.entry(kRelease, 1).arg(0).entry(kReport, 4).arg(0).arg(0).arg(0).entry(kDeleteMessage, 0).arg(1);
  support.entry(kMute, 1).arg(3).arg(1).op(kRace).entry(kSay, 3).arg(0).arg(0).entry(kKick, 0).arg(2);
  support.entry(kBan, 0).arg(2).arg(1).entry(kErase, 4);

  Script retention;
  retention.entry(kCreate, 0).arg(0).arg(0).arg(2).everyone_joins().entry(kAsk, 2).arg(0).arg(0);
  retention.entry(kSay, 3).arg(0).arg(0).op(kAdvanceTime).arg(2).op(kTrim).arg(7);
  retention.entry(kSay, 3)
      .arg(0)
      .arg(0)
      .entry(kErase, 3)
      .op(kTrim)
      .arg(200)
      .entry(kUpdate, 0)
      .arg(4)
      .arg(0)
      .arg(1)
      .arg(1)
      .arg(0)
      .entry(kClose, 0)
      .entry(kErase, 2);

  Script edited;
  edited.entry(kCreate, 0).arg(0).arg(0).arg(2).everyone_joins().entry(kAsk, 2).arg(0).arg(1);
  edited.entry(kEditQuestion, 2)
      .arg(0)
      .arg(0)
      .entry(kEditQuestion, 2)
      .arg(0)
      .arg(4)
      .entry(kAnswer, 1)
      .arg(0)
      .arg(0);
  edited.entry(kErase, 2).entry(kErase, 1);

  Script slow;
  slow.entry(kCreate, 0)
      .arg(1)
      .arg(0)
      .arg(16)
      .everyone_joins()
      .entry(kSay, 2)
      .arg(0)
      .arg(0)
      .entry(kSay, 2)
      .arg(0)
      .arg(0)
      .op(kAdvanceTime)
      .arg(1)
      .entry(kSay, 2)
      .arg(0)
      .arg(0);
  return {{"seed-ama-erase", ama.str()},
          {"seed-support-hold", support.str()},
          {"seed-retention", retention.str()},
          {"seed-edit-then-erase", edited.str()},
          {"seed-slow-mode", slow.str()}};
}

}  // namespace hearth::fuzz
