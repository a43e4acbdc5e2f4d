// "Erase my data" for one room: Room::erase and the coroutine that reads the
// stored log, rewrites the person's entries and the checkpoint, and appends
// their EraseEntry, all in one storage step.

// GCC 12 at -O2 reports Asio's awaitable frame allocation as a mismatched
// new/delete pair (a false positive: GCC bug 109224); ASan checks the real
// thing in the ci build.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "engine_await.hpp"
#include "log.hpp"
#include "room.hpp"

namespace hearth {
namespace {

namespace asio = boost::asio;

// Reads and rewrites again when the log grew meanwhile, this many times,
// then gives up with UNAVAILABLE (a very busy room).
constexpr int kAttempts = 5;

// What erasing `user_id` rewrites, given the stored checkpoint and the
// entries after its base.
Engine::Rewrite rewrite_for(const std::string& room_id, const Limits& limits, const std::string& user_id,
                            const std::optional<v1::RoomCheckpoint>& checkpoint,
                            const std::vector<SequencedEntry>& entries) {
  Engine::Rewrite rewrite;
  for (const auto& stored : entries) {
    auto copy = std::make_shared<v1::LogEntry>(*stored.entry);
    if (redact_entry(*copy, user_id)) rewrite.entries.push_back(SequencedEntry{stored.seq, std::move(copy), {}});
  }
  if (checkpoint) {
    rewrite.checkpoint_seq = checkpoint->seq();
    RoomState state = RoomState::from_data(room_id, limits, checkpoint->state());
    RoomState base = RoomState::from_data(room_id, limits, checkpoint->base());
    state.redact(user_id);
    base.redact(user_id);
    v1::RoomCheckpoint redacted = *checkpoint;
    *redacted.mutable_state() = state.to_data();
    *redacted.mutable_base() = base.to_data();
    rewrite.checkpoint = std::move(redacted);
  }
  return rewrite;
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

asio::awaitable<void> Room::run_erasure(Caller caller, v1::LogEntry entry) {
  const std::string user_id = entry.actor().user_id();
  std::error_code error;
  std::uint64_t seq = 0;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    auto [load_error, checkpoint] = co_await await_checkpoint(engine_, id_);
    std::vector<SequencedEntry> entries;
    error = load_error;
    if (!error) error = co_await read_rest(engine_, id_, checkpoint ? checkpoint->base_seq() : 0, entries);
    if (error || retired_) break;
    const std::uint64_t last_seq = entries.empty() ? 0 : entries.back().seq;
    auto rewrite = rewrite_for(id_, limits_, user_id, checkpoint, entries);
    std::tie(error, seq) = co_await engine_call<std::uint64_t>([&](auto done) {
      engine_.append_rewriting(id_, state_.epoch(), last_seq, entry, std::move(rewrite), std::move(done));
    });
    if (error != EngineError::conflict) break;
  }
  --appends_in_flight_;
  if (retired_) {
    reply_error(caller, {v1::ROOM_NOT_FOUND, "the room is gone"});
  } else if (error == EngineError::conflict) {
    log::warn("erasure: the room's log kept growing; gave up after ", kAttempts, " tries");
    reply_error(caller, {v1::UNAVAILABLE, "the room is too busy to erase now; nothing was changed, try again"});
  } else {
    if (!error) log::info("erasure: a member's content was erased");
    on_appended(caller, accept_when_applied(caller, v1::Ok()), error, seq);
  }
  maybe_retire();
}

}  // namespace hearth
