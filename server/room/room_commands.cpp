// Room: a member's command, checked, appended, and answered once the
// room has applied it.

#include <boost/asio/post.hpp>

#include "base/fault.hpp"
#include "base/log.hpp"
#include "base/metrics.hpp"
#include "room/room.hpp"
#include "room/room_registry.hpp"

namespace hearth {
namespace {

namespace asio = boost::asio;

}  // namespace

void Room::submit(Caller caller, v1::LogEntry entry) {
  fault::maybe_throw(fault::Where::room, entry.say().text());
  if (!members_.contains(caller.connection.get())) {
    return reply_error(caller, {v1::NOT_IN_ROOM, "you are not in this room"});
  }
  // The id is read before the entry is moved: arguments are evaluated in
  // no set order.
  if (const auto id = entry.delete_message().message_id();
      entry.has_delete_message() && state_.forgot_message(id)) {
    return delete_forgotten(std::move(caller), std::move(entry), id);
  }
  if (const auto id = entry.delete_question().question_id();
      entry.has_delete_question() && state_.forgot_question(id)) {
    return delete_forgotten(std::move(caller), std::move(entry), id);
  }
  if (entry.has_report() && !is_staff(entry.actor().role()))
    return meter_report(std::move(caller), std::move(entry));
  submit_checked(std::move(caller), std::move(entry));
}

void Room::meter_report(Caller caller, v1::LogEntry entry) {
  // Only a report that would count spends: not a refused one, nor the same
  // item reported again.
  if (auto failure = state_.check(entry)) return reply_error(caller, *failure);
  if (state_.changes_nothing(entry)) return submit_checked(std::move(caller), std::move(entry));
  ++appends_in_flight_;  // the Room stays while the budget answers
  const std::string user_id = entry.actor().user_id();
  registry_.reports().take(
      id_, caller.address, user_id,
      [self = shared_from_this(), caller = std::move(caller), entry = std::move(entry)](
          std::error_code error, std::optional<std::chrono::milliseconds> wait) mutable {
        asio::post(self->strand_, [self, caller = std::move(caller), entry = std::move(entry), error,
                                   wait]() mutable {
          --self->appends_in_flight_;
          if (self->retired_) {
            self->reply_error(caller, {v1::ROOM_NOT_FOUND, "the room is gone"});
          } else if (error) {
            self->reply_error(caller, {v1::UNAVAILABLE, "storage is unavailable; nothing was written"});
          } else if (!self->members_.contains(caller.connection.get())) {
            self->reply_error(caller, {v1::NOT_IN_ROOM, "you are not in this room"});
          } else if (wait) {
            Failure failure{v1::RATE_LIMITED,
                            "you have made as many reports in this room as an hour allows; the "
                            "moderators have them all"};
            failure.retry_after_ms = static_cast<std::uint32_t>(wait->count());
            self->reply_error(caller, failure);
          } else {
            self->submit_checked(std::move(caller), std::move(entry));
          }
          self->maybe_retire();
        });
      });
}

void Room::delete_forgotten(Caller caller, v1::LogEntry entry, std::uint64_t id) {
  ++appends_in_flight_;  // the Room stays while it reads
  engine_.read(id_, id - 1, 1,
               [self = shared_from_this(), caller = std::move(caller), entry = std::move(entry), id](
                   std::error_code error, std::vector<SequencedEntry> entries) mutable {
                 asio::post(self->strand_, [self, caller = std::move(caller), entry = std::move(entry), id,
                                            error, entries = std::move(entries)]() mutable {
                   --self->appends_in_flight_;
                   self->on_forgotten_read(std::move(caller), std::move(entry), id, error, entries);
                   self->maybe_retire();
                 });
               });
}

void Room::on_forgotten_read(Caller caller, v1::LogEntry entry, std::uint64_t id, std::error_code error,
                             const std::vector<SequencedEntry>& entries) {
  if (retired_) return reply_error(caller, {v1::ROOM_NOT_FOUND, "the room is gone"});
  if (error) return reply_error(caller, {v1::UNAVAILABLE, "storage is unavailable; try again soon"});
  if (!members_.contains(caller.connection.get())) {
    return reply_error(caller, {v1::NOT_IN_ROOM, "you are not in this room"});
  }
  const bool message = entry.has_delete_message();
  const v1::LogEntry* item =
      entries.empty() || entries.front().seq != id ? nullptr : entries.front().entry.get();
  if (item == nullptr || !(message ? item->has_say() : item->has_ask())) {
    return reply_error(caller, message ? Failure{v1::MESSAGE_NOT_FOUND, "no such message"}
                                       : Failure{v1::QUESTION_NOT_FOUND, "no such question"});
  }
  if (item->actor().user_id() != entry.actor().user_id() && !is_staff(entry.actor().role())) {
    return reply_error(caller, {v1::PERMISSION_DENIED, message ? "you can only delete your own messages"
                                                               : "you can only delete your own questions"});
  }
  submit_checked(std::move(caller), std::move(entry));
}

void Room::submit_checked(Caller caller, v1::LogEntry entry) {
  if (auto failure = state_.check(entry)) return reply_error(caller, *failure);
  v1::Ok ok;
  if (state_.changes_nothing(entry)) {
    // A repeated vote, say: accepted, but nothing to append (seq 0).
    ok.mutable_accepted()->set_seq(0);
    return reply_ok(caller, std::move(ok));
  }
  append(caller, std::move(entry), accept_when_applied(caller, std::move(ok)));
}

Room::OnApplied Room::accept_when_applied(Caller caller, v1::Ok ok) {
  return [this, caller = std::move(caller), ok = std::move(ok)](std::uint64_t seq,
                                                                const Outcome& outcome) mutable {
    // Something that came first (a mute, a ban, a delete) made the fold
    // refuse the entry: it changed nothing, and the sender hears why.
    if (outcome.refused) return reply_error(caller, *outcome.refused);
    // An identical entry came first: accepted as a no-op is, with seq 0
    // (docs/protocol.md 1.4), whichever node took it.
    ok.mutable_accepted()->set_seq(outcome.changed_nothing ? 0 : seq);
    ok.mutable_accepted()->set_support(caller.support);
    ok.mutable_accepted()->set_support_for_helping(caller.support_for_helping);
    reply_ok(caller, std::move(ok));
  };
}

void Room::append(Caller caller, v1::LogEntry entry, OnApplied on_applied) {
  ++appends_in_flight_;
  const std::string epoch = entry.has_room_created() ? entry.room_created().epoch() : state_.epoch();
  const std::uint64_t known = entry.has_room_created() ? 0 : state_.seq();
  engine_.append(id_, epoch, known, std::move(entry),
                 [self = shared_from_this(), caller = std::move(caller), on_applied = std::move(on_applied)](
                     std::error_code error, std::uint64_t seq) {
                   asio::post(self->strand_, [self, caller, on_applied, error, seq] {
                     --self->appends_in_flight_;
                     self->on_appended(caller, on_applied, error, seq);
                     self->maybe_retire();
                   });
                 });
}

void Room::on_appended(const Caller& caller, const OnApplied& on_applied, std::error_code error,
                       std::uint64_t seq) {
  if (!error) {
    if (on_applied) when_applied(seq, on_applied);
    return;
  }
  pending_joins_.erase(log_id(*caller.connection));
  const Failure failure = append_failure(error);
  reply_error(caller, failure);
  reset_if_lost(error, failure);
}

void Room::reset_if_lost(std::error_code error, const Failure& failure) {
  if (error != EngineError::epoch_mismatch) return;
  log::warn("room log changed under this node (lost and recreated); members must join again");
  reset(failure);
}

Failure Room::append_failure(std::error_code error) {
  if (error == EngineError::room_exists) return {v1::ROOM_EXISTS, "a room with this id exists already"};
  if (error == EngineError::epoch_mismatch)
    return {v1::ROOM_RESET, "the room's history was lost; join it again"};
  if (error == EngineError::outcome_unknown) {
    return {v1::OUTCOME_UNKNOWN,
            "the storage connection broke after the command was sent; it may have been applied: check the "
            "room before retrying"};
  }
  return {v1::UNAVAILABLE, "storage is unavailable; nothing was written"};
}

}  // namespace hearth
