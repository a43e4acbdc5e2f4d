// One room as seen by this node: its state (a fold of the log), the local
// connections that are its members, and the fan-out of each new event to
// them. Everything a Room owns is touched only on its strand; the outside
// reaches it through run().
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "domain/log_follower.hpp"
#include "domain/room_state.hpp"
#include "engine/engine.hpp"
#include "room/connection.hpp"
#include "room/passcode.hpp"

namespace hearth {

class RoomRegistry;

// Who sent a command, and where the reply goes.
struct Caller {
  Caller(std::shared_ptr<Connection> connection_, Membership membership_, std::uint32_t request_id_,
         Encoding encoding_)
      : connection(std::move(connection_)),
        membership(std::move(membership_)),
        request_id(request_id_),
        encoding(encoding_) {}

  std::shared_ptr<Connection> connection;
  Membership membership;
  std::uint32_t request_id = 0;
  Encoding encoding = Encoding::json;
  int command = 0;       // the ClientMessage field, for /metrics; 0 for the server's own
  bool joining = false;  // a failure must tell the connection the join failed
  bool wants_reply = true;  // false for leaves the server makes (disconnects)
  std::optional<v1::ResumeFrom> resume;  // a join that asks to resume
  std::string passcode;                  // a join to a private room
  std::string address;                   // the client's, for its passcode and report budgets, and bans
  bool address_checked = false;          // a join's address is not banned (AddressBans)
  bool identity_checked = false;         // a resumed identity was not forgotten
  std::string resume_token;              // an anonymous join's, for its reply
  std::string support;                   // words of support for Accepted (crisis)
  bool support_for_helping = false;      // they are resources for helping someone else (ABOUT)
};

class Room final : public EngineSubscriber, public std::enable_shared_from_this<Room> {
 public:
  using Op = std::function<void(Room&)>;
  // Says no to a command that never ran (the room could not be loaded).
  using Refusal = std::function<void(Room&, const Failure&)>;

  Room(std::string room_id, boost::asio::any_io_executor executor, Engine& engine, RoomRegistry& registry,
       Limits limits);

  // Subscribes and folds the log; ops wait until that is done. Call once.
  void start();

  // Runs `op` on the room's strand once the room is ready. If this Room has
  // retired meanwhile, `op` goes to the registry's current Room for the id.
  // While the room is being loaded, at most limits.max_waiting_ops ops with a
  // `refusal` wait, each for at most kLoadPatience: one more, or one that has
  // waited that long, gets `refusal` instead, with UNAVAILABLE. Ops without
  // one (leaves: one a connection) always wait.
  void run(Op op, Refusal refusal = {});

  // `op` for `caller`'s command: should it throw, the command fails with
  // INTERNAL (counted in /metrics; server/base/fault.hpp) and the room goes on.
  static Op guarded(Caller caller, Op op);
  // The refusal for `caller`'s command (run()): its error reply, and for a
  // join, the connection told that it is not in the room.
  static Refusal refusal(Caller caller);
  // `caller`'s command fails with `failure` (and a join or create leaves
  // the connection out of the room).
  void refuse(Caller caller, const Failure& failure);

  // The following must be called on the strand, i.e. from inside an Op.

  void create(Caller caller, const v1::CreateRoom& command);
  void join(Caller caller);
  // Stops deliveries at once; replies to the request unless it is 0.
  void leave(Caller caller, v1::MemberLeft::Reason reason);
  // ForgetMe: voids the caller's anonymous identity here on every node for
  // `ttl` (what is left of its resume tokens' lifetime), then leaves. If
  // storage cannot say so, the caller stays and gets UNAVAILABLE.
  void forget(Caller caller, std::chrono::seconds ttl);
  // Appends a command's entry (actor and time set by the caller) and replies
  // Accepted once the entry is applied, so that its event reaches the caller
  // before the reply.
  void submit(Caller caller, v1::LogEntry entry);
  // "Erase my data": `entry` is the caller's EraseEntry. Their earlier
  // entries and the checkpoint are rewritten in storage (redact_entry) in
  // the same step as the entry is appended, then Accepted as by submit().
  void erase(Caller caller, v1::LogEntry entry);
  // ListMembers: a page of the people here, for staff (and for anyone where
  // the room lists its members to all).
  void list_members(Caller caller, const v1::ListMembers& command);

  void on_entry(const std::string& room_id, SequencedEntry entry) override;
  void on_resync(const std::string& room_id) override;
  void on_deleted(const std::string& room_id) override;

  const std::string& id() const { return id_; }

  // For a forced stop, once no thread runs anything of the server: drops
  // every connection this Room holds and every op and handler waiting here,
  // which hold connections too. A session holds its Rooms and a Room its
  // members' sessions; a client that never answered the close frame leaves
  // that cycle standing, and this breaks it.
  void abandon();

 private:
  struct LocalMember {
    std::shared_ptr<Connection> connection;
    Membership membership;
    std::string address;  // the client's, for a ban by address (AddressBans)
    std::string log_id;   // log_id(*connection), hashed once
  };

  // An event as members saw it, kept for clients that resume: serialized,
  // which takes a fifth of the memory of the message object (a batch of
  // joins is a Person per joiner, and a string object per field).
  struct HistoryItem {
    std::uint64_t seq;
    std::string event;
    Audience audience;
    std::string staff_event;  // what staff got instead; empty if the same
    std::string author;       // Applied::author, who got author_event instead
    std::string author_event;  // empty if none
  };

  // Does what the log follower says, in order, until the Room retires:
  // the I/O it asks for answers back into it. `checkpoint` is the one just
  // loaded, for AdoptCheckpoint.
  void follow(LogFollower::Actions actions, const v1::RoomCheckpoint* checkpoint = nullptr);
  void read_log(std::uint64_t after);
  void load_checkpoint();
  // The log was trimmed past what members saw here: they join again.
  void fell_behind();
  void become_ready();
  void handle_entry(const SequencedEntry& entry);
  void remember(const Applied& applied);
  // Sends the events after `from` that `caller` may see; false if some are
  // no longer kept.
  bool replay(const Caller& caller, std::uint64_t from, std::uint32_t& replayed) const;
  // Drops every local member (each gets `failure` pushed with request id 0)
  // and retires: the log this Room followed is gone.
  void reset(const Failure& failure);
  // Presence: every Engine::presence_interval(), connections that the log
  // says are present but whose node is dead (or, on this node, that are
  // gone) get their Left entries appended, by whichever node notices first.
  void schedule_sweep();
  void sweep();
  void append_left(const RoomState::PresentConnection& connection);

  // Presence batching: joins and leaves wait in presence_queue_ and go to
  // the log together, as one PresenceEntry, one append at a time and at
  // most one every limits_.presence_batch: a storm of arrivals is a handful
  // of appends (and of events to staff), not one each. `caller` is the
  // joiner or leaver to tell if the append fails (none for repairs).
  void queue_presence(v1::PresenceEntry::Change change, std::optional<Caller> caller);
  void schedule_presence_flush();
  void flush_presence();
  void on_presence_appended(const std::vector<Caller>& callers, std::error_code error, std::uint64_t seq);
  // Presence pushes: once something about presence changed, every member
  // gets a Presence at most every limits_.presence_push.
  void schedule_presence_push();
  void push_presence();
  v1::ServerMessage presence_message(bool staff) const;
  // Sends applied.event, or the variant that is theirs (staff's, an
  // anonymous author's), to every member here who may see it.
  void fan_out(const Applied& applied);
  void remove_user(const std::string& user_id);
  void note_ban(const v1::LogEntry& entry);
  // members_ and staff_here_ together.
  void add_member(const Caller& caller);
  bool remove_member(const Connection* connection);
  void finish_join(const std::string& connection_id);
  // A join to a private room with a passcode: spends a guess and checks it
  // off the strand (PasscodeChecker), then joins or answers why not.
  void check_passcode_then_join(Caller caller);
  // `connection` as this room's log names it (see room.cpp).
  std::string log_id(const Connection& connection) const;
  // A join waiting for one storage lookup.
  enum class JoinLookup { banned_address, forgotten_identity };
  void look_up_then_join(Caller caller, JoinLookup what);
  void on_looked_up(const std::string& connection_id, JoinLookup what, std::error_code error, bool found);
  void on_passcode_checked(const std::string& connection_id, PasscodeChecker::Verdict verdict,
                           std::chrono::milliseconds retry_after);
  // What became of an appended entry once applied: refused by the fold (it
  // raced something that came first: a mute, a ban, a delete), or applied
  // but changing nothing (it raced an identical entry: the same person's
  // vote from another node).
  struct Outcome {
    std::optional<Failure> refused;
    bool changed_nothing = false;
  };
  // Called once the appended entry is applied, with its outcome.
  using OnApplied = std::function<void(std::uint64_t seq, const Outcome& outcome)>;
  void append(Caller caller, v1::LogEntry entry, OnApplied on_applied);
  // What an append's outcome means for the caller: an error reply, or
  // `on_applied` once the entry is applied.
  void on_appended(const Caller& caller, const OnApplied& on_applied, std::error_code error, std::uint64_t seq);
  // What a failed append tells its sender.
  static Failure append_failure(std::error_code error);
  // After a failed append: if the log was lost and recreated under this
  // node, members must join again (reset with `failure`).
  void reset_if_lost(std::error_code error, const Failure& failure);
  // Replies Accepted (or the fold's refusal) once applied: submit() and
  // erase().
  OnApplied accept_when_applied(Caller caller, v1::Ok ok);
  // submit() once the caller is known to be a member.
  void submit_checked(Caller caller, v1::LogEntry entry);
  // A delete of item `id` that the state forgot (RoomState::forgot_message,
  // forgot_question): the log says whether it is one, and whether the
  // caller wrote it; then as submit_checked().
  void delete_forgotten(Caller caller, v1::LogEntry entry, std::uint64_t id);
  // A report by a participant: spends from ReportMeter first (RATE_LIMITED
  // past it), then as submit_checked().
  void meter_report(Caller caller, v1::LogEntry entry);
  void on_forgotten_read(Caller caller, v1::LogEntry entry, std::uint64_t id, std::error_code error,
                         const std::vector<SequencedEntry>& entries);
  // erase(), once checked: in room_erasure.cpp.
  boost::asio::awaitable<void> run_erasure(Caller caller, v1::LogEntry entry);
  // One attempt of it (room_erasure.cpp): conflict means start again. Adds
  // to `anonymous` the ids of the person's anonymous questions that the log
  // holds and nobody deleted.
  boost::asio::awaitable<std::tuple<std::error_code, std::uint64_t>> rewrite_log(
      const std::string& user_id, const v1::LogEntry& entry, std::set<std::uint64_t>& anonymous);
  // Deletes each of `ids`, anonymous questions of the erasure's actor, as
  // they would delete it themselves: one plain deletion each.
  boost::asio::awaitable<std::error_code> delete_anonymous(const v1::LogEntry& erasure,
                                                           const std::set<std::uint64_t>& ids);
  void when_applied(std::uint64_t seq, OnApplied fn);
  Outcome take_outcome(std::uint64_t seq);
  void maybe_retire();

  void reply_error(const Caller& caller, const Failure& failure) const;
  void reply_ok(const Caller& caller, v1::Ok ok) const;

  const std::string id_;
  boost::asio::strand<boost::asio::any_io_executor> strand_;
  Engine& engine_;
  RoomRegistry& registry_;
  RoomState state_;

  const Limits limits_;
  bool ready_ = false;
  bool retired_ = false;
  LogFollower follower_;
  struct Waiting {
    Op op;
    Refusal refusal;  // none: waits however long
    std::chrono::steady_clock::time_point since;
  };
  std::deque<Waiting> waiting_;                   // ops that came before ready, oldest first
  std::size_t refusable_waiting_ = 0;             // of them, those with a refusal
  boost::asio::steady_timer patience_timer_;      // for the oldest refusable op
  // Refuses the waiting ops that have waited kLoadPatience; then the timer
  // for the next.
  void refuse_waiting();
  void arm_patience();
  std::size_t appends_in_flight_ = 0;
  boost::asio::steady_timer sweep_timer_;
  boost::asio::steady_timer retry_timer_;
  std::deque<HistoryItem> history_;               // the last resume_window events
  std::uint64_t history_floor_ = 0;               // events after this seq are all in history_

  std::unordered_map<const Connection*, LocalMember> members_;
  std::unordered_set<const Connection*> staff_here_;  // members_ with a staff role
  std::unordered_map<std::string, Caller> pending_joins_;   // by connection id
  // Joins waiting for their passcode or their address to be checked.
  std::unordered_map<std::string, Caller> join_checks_;
  std::multimap<std::uint64_t, OnApplied> after_applied_;
  // Entries the fold refused or found changing nothing, by seq, until their
  // appender hears of it. Bounded (kMaxOutcomes, oldest dropped): those of
  // other nodes' entries are never asked for.
  std::map<std::uint64_t, Outcome> outcomes_;

  struct QueuedChange {
    v1::PresenceEntry::Change change;
    std::optional<Caller> caller;
  };
  std::vector<QueuedChange> presence_queue_;
  bool presence_in_flight_ = false;  // a PresenceEntry is being appended
  bool flush_armed_ = false;
  std::chrono::steady_clock::time_point last_flush_{};
  boost::asio::steady_timer flush_timer_;
  bool push_armed_ = false;
  std::chrono::steady_clock::time_point last_push_{};
  boost::asio::steady_timer push_timer_;
  // The last Presence pushed to participants [0] and to staff [1], encoded.
  std::string last_presence_[2];
  std::unordered_set<const Connection*> fresh_;  // joined since the last push
};

}  // namespace hearth
