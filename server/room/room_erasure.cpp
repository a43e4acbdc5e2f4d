// "Erase my data" for one room: Room::erase and the coroutine that copies
// the stored log a page at a time with the person's entries redacted, then
// puts the copy and a redacted checkpoint in place and appends their
// EraseEntry in one storage step.

#include <google/protobuf/util/time_util.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <deque>
#include <functional>
#include <set>

#include "base/log.hpp"
#include "engine/engine_await.hpp"
#include "room/log_rewrite.hpp"
#include "room/room.hpp"

namespace hearth {
namespace {

namespace asio = boost::asio;

// Times an erasure starts again because the log was rewritten or trimmed
// under it, or kept changing (rewrite_stored_log); then it gives up with
// UNAVAILABLE (a very busy room).
constexpr int kAttempts = 5;

// The stored checkpoint as it must be after erasing `user_id`.
std::optional<v1::RoomCheckpoint> redacted_checkpoint(const std::string& room_id, const Limits& limits,
                                                      const std::string& user_id,
                                                      const std::optional<v1::RoomCheckpoint>& checkpoint) {
  if (!checkpoint) return std::nullopt;
  RoomState state = RoomState::from_data(room_id, limits, checkpoint->state());
  RoomState base = RoomState::from_data(room_id, limits, checkpoint->base());
  state.redact(user_id);
  base.redact(user_id);
  v1::RoomCheckpoint redacted = *checkpoint;
  *redacted.mutable_state() = state.to_data();
  *redacted.mutable_base() = base.to_data();
  return redacted;
}

// Stand-ins for the entries of `page` that hold something `user_id` wrote.
std::vector<SequencedEntry> stand_ins_for(const std::string& user_id,
                                          const std::vector<SequencedEntry>& page) {
  std::vector<SequencedEntry> out;
  for (const auto& stored : page) {
    auto copy = std::make_shared<v1::LogEntry>(*stored.entry);
    if (redact_entry(*copy, user_id)) out.push_back(SequencedEntry{stored.seq, std::move(copy), {}});
  }
  return out;
}

}  // namespace

void Room::erase(Caller caller, v1::LogEntry entry) {
  if (!members_.contains(caller.connection.get())) {
    return reply_error(caller, {v1::NOT_IN_ROOM, "you are not in this room"});
  }
  if (auto failure = state_.check(entry)) return reply_error(caller, *failure);
  // The erasure names nobody: the log keeps no name of theirs at all.
  entry.mutable_actor()->clear_display_name();
  // Counted as an append for its whole course: the Room must not retire
  // while it reads and rewrites the log.
  ++appends_in_flight_;
  asio::co_spawn(
      strand_,
      [self = shared_from_this(), caller = std::move(caller), entry = std::move(entry)]() mutable {
        return self->run_erasure(std::move(caller), std::move(entry));
      },
      asio::detached);
}

// Anonymous questions are not erased with the rest (issue 15.7): listed in
// the erasure's event, or shown deleted beside it in the transcript, they
// would be tied to the person. Each goes as its own plain deletion, the
// one its author could make: first those the room holds, then, once the
// log is rewritten, any asked meanwhile (another tab) or that the room no
// longer held (RoomState::forgot_question). Their text goes from storage
// with the rewrite like everything else of theirs.
asio::awaitable<void> Room::run_erasure(Caller caller, v1::LogEntry entry) {
  const std::string user_id = entry.actor().user_id();
  const auto held_now = state_.anonymous_questions_of(user_id);
  std::error_code error = co_await delete_anonymous(entry, {held_now.begin(), held_now.end()});
  std::uint64_t seq = 0;
  std::set<std::uint64_t> anonymous;
  for (int attempt = 1; !error && attempt <= kAttempts && !retired_; ++attempt) {
    anonymous.clear();
    std::tie(error, seq) = co_await rewrite_log(user_id, entry, anonymous);
    if (error != EngineError::conflict) break;
  }
  if (!error && !retired_) {
    // Of those the log holds, the room decides for the ones it holds.
    std::erase_if(anonymous, [&](std::uint64_t id) { return !state_.forgot_question(id); });
    for (const auto id : state_.anonymous_questions_of(user_id)) anonymous.insert(id);
    for (const auto id : held_now) anonymous.erase(id);  // deleted above, perhaps not yet applied
    error = co_await delete_anonymous(entry, anonymous);
  }
  --appends_in_flight_;
  if (retired_) {
    reply_error(caller, {v1::ROOM_NOT_FOUND, "the room is gone"});
  } else if (error == EngineError::conflict) {
    log::warn("erasure: the room's log kept changing; gave up after ", kAttempts, " tries");
    reply_error(caller,
                {v1::UNAVAILABLE, "the room is too busy to erase now; nothing was changed, try again"});
  } else {
    if (!error) log::info("erasure: a member's content was erased");
    on_appended(caller, accept_when_applied(caller, v1::Ok()), error, seq);
  }
  maybe_retire();
}

asio::awaitable<std::error_code> Room::delete_anonymous(const v1::LogEntry& erasure,
                                                        const std::set<std::uint64_t>& ids) {
  for (const auto id : ids) {
    if (retired_) co_return EngineError::unavailable;
    v1::LogEntry deletion;
    *deletion.mutable_actor() = erasure.actor();
    // Its own time, not the erasure's: an identical timestamp would tie
    // it to the erasure, and so to the person.
    *deletion.mutable_at() = google::protobuf::util::TimeUtil::GetCurrentTime();
    deletion.mutable_delete_question()->set_question_id(id);
    deletion.mutable_delete_question()->set_erasing(true);  // also in a closed room
    auto [error, seq] = co_await engine_call<std::uint64_t>([&](auto done) {
      engine_.append(id_, state_.epoch(), state_.seq(), std::move(deletion), std::move(done));
    });
    if (error) co_return error;
  }
  co_return std::error_code();
}

// Copies the stored log with `user_id`'s entries redacted, then swaps the
// copy in with `entry` appended (rewrite_stored_log). When the person wrote
// meanwhile (another tab), that is copied redacted, and the swap tried
// again.
asio::awaitable<std::tuple<std::error_code, std::uint64_t>> Room::rewrite_log(
    const std::string& user_id, const v1::LogEntry& entry, std::set<std::uint64_t>& anonymous) {
  auto [load_error, checkpoint] = co_await await_checkpoint(engine_, id_);
  if (load_error) co_return std::tuple(load_error, 0);
  const LogRewrite plan{id_,
                        state_.epoch(),
                        user_id,
                        checkpoint ? checkpoint->base_seq() : 0,
                        checkpoint ? checkpoint->seq() : 0,
                        redacted_checkpoint(id_, limits_, user_id, checkpoint)};
  std::deque<std::uint64_t> questions;
  std::deque<std::uint64_t> messages;
  const StandInsFor stand_ins = [&](const std::vector<SequencedEntry>& page) {
    for (const auto& stored : page) {
      const v1::LogEntry& item = *stored.entry;
      if (item.has_delete_question()) anonymous.erase(item.delete_question().question_id());
      if (item.actor().user_id() != user_id || !(item.has_ask() || item.has_say())) continue;
      // Not an anonymous question: listed beside their named items, it
      // would be tied to them (issue 15.7). It goes on its own.
      if (item.has_ask() && item.ask().anonymous()) {
        anonymous.insert(stored.seq);
        continue;
      }
      auto& ids = item.has_ask() ? questions : messages;
      ids.push_back(stored.seq);
      if (ids.size() > kErasedIdsListed) ids.pop_front();
    }
    return stand_ins_for(user_id, page);
  };
  // The erasure names their items (EraseEntry), for the nodes that forgot
  // some of them (RoomState::forgot_message).
  const auto erase = [&] {
    v1::LogEntry out = entry;
    out.mutable_erase()->set_anonymous_apart(true);
    out.mutable_erase()->mutable_question_ids()->Assign(questions.begin(), questions.end());
    out.mutable_erase()->mutable_message_ids()->Assign(messages.begin(), messages.end());
    return out;
  };
  // Named, not made in the co_await expression: GCC 12 destroys such
  // temporaries twice.
  const std::function<v1::LogEntry()> final_entry = erase;
  const std::function<bool()> gone = [this] { return retired_; };
  co_return co_await rewrite_stored_log(engine_, plan, stand_ins, final_entry, gone);
}

}  // namespace hearth
