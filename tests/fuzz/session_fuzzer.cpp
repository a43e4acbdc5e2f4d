// libFuzzer target: sequences of commands from several connections, through
// the code the server really runs: Room, RoomRegistry, the memory engine,
// erasure's rewrite of the stored log, the retention sweep, and transcripts.
// No sockets: each connection is the server's ClientSession over a stand-in
// for its WebSocket (StandInWire below), the rooms' shard is polled on this thread
// until it is idle after each step, and every frame a connection receives is
// decoded and checked by a RoomWatch (privacy_watch.hpp), which folds each
// room's log beside the server: nobody is shown what they may not see.
//
// The input is a program (fuzz_input.hpp): an opcode, then its arguments, up
// to kMaxSteps times. Texts and names are made by the harness, each with a
// unique marker, so that they can be traced; the fuzzer chooses which kind
// (blank, too long, a crisis phrase, with its own bytes). "Together" runs
// the next two steps before the rooms catch up, so that commands race as
// they do on a busy server. Differences from the server, on purpose: rate
// budgets too large to refuse within kMaxSteps (they refuse on time, not on
// content) and at most kPasscodeBudget passcodes per input (each costs a
// deliberately slow key derivation). As on the server, a connection whose
// frames fail to decode too often (text the fuzzer made invalid UTF-8, in
// binary) is closed with 1008 (ClientSession::spend_malformed).
//
// HEARTH_FUZZ_TRACE=1 in the environment prints every command sent and every
// message received, for reading what a failing input does.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/identity.hpp"
#include "base/log.hpp"
#include "crisis_lane.hpp"
#include "domain/command.hpp"
#include "domain/token.hpp"
#include "engine/memory/engine_memory.hpp"
#include "fuzz_input.hpp"
#include "privacy_watch.hpp"
#include "room/retention.hpp"
#include "room/room.hpp"
#include "room/room_registry.hpp"
#include "room/shards.hpp"
#include "room_choices.hpp"
#include "session/client_session.hpp"

namespace hearth::fuzz {
namespace {

namespace asio = boost::asio;
using google::protobuf::util::TimeUtil;

constexpr std::string_view kSecret = "session-fuzzer-secret-0123456789abcdef";
constexpr const char* kRooms[] = {"r1", "r2"};
constexpr std::size_t kMaxSessions = 6;
constexpr std::size_t kMaxSteps = 64;
constexpr int kPasscodeBudget = 3;
// Entries are stamped this long ago at first (AdvanceClock brings the clock
// forward), so that a retention sweep has something to remove.
constexpr std::int64_t kStartDaysAgo = 40;
const bool kTrace = std::getenv("HEARTH_FUZZ_TRACE") != nullptr;

// The room fuzzers' small limits, and those of what only connections reach.
Limits fuzz_limits() {
  Limits limits = small_room_limits();
  limits.max_name_chars = 20;
  limits.max_rooms_per_connection = 2;
  limits.resume_window = 8;
  limits.send_queue_frames = 24;  // a resume past 12 events gets a snapshot
  // Budgets refuse by time, not by content: never within kMaxSteps here.
  limits.message_burst = limits.identity_message_burst = 1000;
  // Presence batches and pushes go as soon as the shard is polled.
  limits.presence_batch = std::chrono::milliseconds(0);
  limits.presence_push = std::chrono::milliseconds(0);
  return limits;
}

// clang-format off
enum Op : unsigned {
  kConnect, kHello, kCreate, kJoin, kLeave, kDisconnect, kInvite,
  kAsk, kVote, kApprove, kDismiss, kPin, kAnswer, kMarkAnswered, kEditQuestion, kDeleteQuestion,
  kSay, kEditMessage, kDeleteMessage, kRelease, kReport, kErase,
  kMute, kKick, kBan, kUpdate, kClose, kPing,
  kSweep, kAdvanceClock, kTogether,
  kHandled, kPrivateReply,
  kOpCount
};
// clang-format on

// ---------------------------------------------------------------------------
// The engine, watched: the memory engine, with entries stamped by the run's
// clock, and every append and rewrite shown to the room's RoomWatch.
// ---------------------------------------------------------------------------

class WatchedEngine final : public Engine {
 public:
  WatchedEngine(Limits limits, MarkerBook& book) : limits_(limits), book_(book) {}

  void set_days_ago(std::int64_t days) { days_ago_ = days; }
  std::int64_t days_ago() const { return days_ago_; }
  RoomWatch* watch(const std::string& room_id) {
    const auto it = watches_.find(room_id);
    return it == watches_.end() ? nullptr : &it->second;
  }
  std::map<std::string, RoomWatch>& watches() { return watches_; }

  void append(const std::string& room_id, const std::string& epoch, std::uint64_t known_seq,
              v1::LogEntry entry, AppendHandler handler) override {
    stamp(entry);
    inner_.append(
        room_id, epoch, known_seq, entry,
        [this, room_id, entry, handler = std::move(handler)](std::error_code error, std::uint64_t seq) {
          if (!error) watch_for(room_id).appended(seq, entry);
          handler(error, seq);
        });
  }
  void rewrite_page(const std::string& room_id, const Rewrite& rewrite, std::uint64_t after_seq,
                    std::uint64_t up_to_seq, std::vector<SequencedEntry> stand_ins,
                    RewritePageHandler handler) override {
    inner_.rewrite_page(room_id, rewrite, after_seq, up_to_seq, stand_ins,
                        [this, id = rewrite.id, stand_ins, handler = std::move(handler)](
                            std::error_code error, std::uint64_t generation) {
                          if (!error) {
                            auto& kept = stand_ins_[id];
                            kept.insert(kept.end(), stand_ins.begin(), stand_ins.end());
                          }
                          handler(error, generation);
                        });
  }
  void finish_rewrite(const std::string& room_id, const std::string& epoch, const Rewrite& rewrite,
                      std::uint64_t last_seq, std::uint64_t checkpoint_seq,
                      std::optional<v1::RoomCheckpoint> checkpoint, v1::LogEntry entry,
                      AppendHandler handler) override {
    stamp(entry);
    inner_.finish_rewrite(room_id, epoch, rewrite, last_seq, checkpoint_seq, std::move(checkpoint), entry,
                          [this, room_id, id = rewrite.id, entry, handler = std::move(handler)](
                              std::error_code error, std::uint64_t seq) {
                            if (!error) {
                              watch_for(room_id).rewritten(stand_ins_[id]);
                              watch_for(room_id).appended(seq, entry);
                            }
                            stand_ins_.erase(id);
                            handler(error, seq);
                          });
  }
  void read(const std::string& room_id, std::uint64_t after_seq, std::size_t limit,
            ReadHandler handler) override {
    inner_.read(room_id, after_seq, limit, std::move(handler));
  }
  void subscribe(const std::string& room_id, std::weak_ptr<EngineSubscriber> subscriber) override {
    inner_.subscribe(room_id, std::move(subscriber));
  }
  void unsubscribe(const std::string& room_id, const EngineSubscriber* subscriber) override {
    inner_.unsubscribe(room_id, subscriber);
  }
  void delete_room(const std::string& room_id, std::function<void(std::error_code)> handler) override {
    inner_.delete_room(room_id, std::move(handler));
  }
  void load_checkpoint(const std::string& room_id, CheckpointHandler handler) override {
    inner_.load_checkpoint(room_id, std::move(handler));
  }
  void store_checkpoint(const std::string& room_id, const std::string& epoch, v1::RoomCheckpoint checkpoint,
                        std::function<void(std::error_code)> handler) override {
    inner_.store_checkpoint(room_id, epoch, std::move(checkpoint), std::move(handler));
  }
  void list_rooms(RoomsHandler handler) override { inner_.list_rooms(std::move(handler)); }
  void mark_address(const std::string& room_id, const std::string& user_id, const std::string& address_key,
                    std::chrono::seconds ttl, ErrorHandler handler) override {
    inner_.mark_address(room_id, user_id, address_key, ttl, std::move(handler));
  }
  void lift_addresses(const std::string& room_id, const std::string& user_id, ErrorHandler handler) override {
    inner_.lift_addresses(room_id, user_id, std::move(handler));
  }
  void address_marked(const std::string& room_id, const std::string& address_key,
                      MarkedHandler handler) override {
    inner_.address_marked(room_id, address_key, std::move(handler));
  }
  void forget_identity(const std::string& room_id, const std::string& user_id, std::chrono::seconds ttl,
                       ErrorHandler handler) override {
    inner_.forget_identity(room_id, user_id, ttl, std::move(handler));
  }
  void identity_forgotten(const std::string& room_id, const std::string& user_id,
                          MarkedHandler handler) override {
    inner_.identity_forgotten(room_id, user_id, std::move(handler));
  }
  void start(std::function<void()> on_first_ready) override { inner_.start(std::move(on_first_ready)); }
  bool ready() const override { return inner_.ready(); }
  void say_goodbye(std::function<void()> done) override { inner_.say_goodbye(std::move(done)); }
  void stop() override { inner_.stop(); }
  const std::string& node_id() const override { return inner_.node_id(); }
  void dead_nodes(std::vector<std::string> node_ids, DeadNodesHandler handler) override {
    inner_.dead_nodes(std::move(node_ids), std::move(handler));
  }
  std::chrono::milliseconds presence_interval() const override { return inner_.presence_interval(); }

 private:
  void stamp(v1::LogEntry& entry) const {
    *entry.mutable_at() = entry.at() - TimeUtil::SecondsToDuration(days_ago_ * 86400);
  }
  RoomWatch& watch_for(const std::string& room_id) {
    return watches_.try_emplace(room_id, room_id, limits_, book_).first->second;
  }

  Limits limits_;
  MarkerBook& book_;
  MemoryEngine inner_;
  std::int64_t days_ago_ = kStartDaysAgo;
  std::map<std::string, RoomWatch> watches_;
  // A rewrite's stand-ins over its pages, by its id, until it finishes.
  std::map<std::string, std::vector<SequencedEntry>> stand_ins_;
};

// Everything one run has: one node, its rooms and its connections.
struct World {
  World() : engine(limits, book), registry(shards, engine, passcodes, reports, address_bans, limits) {
    retention = std::make_shared<Retention>(shards.main().io().get_executor(), engine, budgets, limits, 1,
                                            std::chrono::seconds(0));
  }

  asio::io_context& io() { return shards.main().io(); }
  // Runs what is ready until nothing is: every reply and event of the step
  // has then been sent. `after_each` runs after each handler.
  void settle(const std::function<void()>& after_each = {}) {
    while (io().poll_one() > 0) {
      if (after_each) after_each();
    }
  }

  Limits limits = fuzz_limits();
  MarkerBook book;
  Shards shards{1, std::chrono::microseconds(0)};
  WatchedEngine engine;
  // Budgets in this process and derivations on this thread: one thread, so
  // that an input replays the same way every time.
  LocalBudgets budgets;
  PasscodeChecker passcodes{budgets, 0, "fuzz-secret-0123456789abcdef0123"};
  ReportMeter reports{budgets, "fuzz-secret-0123456789abcdef0123", limits.reports_per_hour};
  AddressBans address_bans{engine, "fuzz-secret-0123456789abcdef0123", std::chrono::hours(24)};
  RoomRegistry registry;
  std::shared_ptr<Retention> retention;
  // What the sessions share, as server.cpp makes it: no shared counts (one
  // node), the fuzzers' crisis lane.
  SessionContext context{
      SessionSettings{std::string(kSecret), limits},         engine, registry, budgets, nullptr,
      std::make_shared<const CrisisLane>(fuzz_crisis_lane())};
  int passcodes_left = kPasscodeBudget;
};

// ---------------------------------------------------------------------------
// A connection: the server's ClientSession, over a stand-in for its
// WebSocket that keeps the frames sent instead of writing them, and reads
// (hands the session) what the harness sends, waiting as a WebSocket
// connection does while the session asks it to.
// ---------------------------------------------------------------------------

class StandInWire final : public Wire, public std::enable_shared_from_this<StandInWire> {
 public:
  StandInWire(asio::io_context& io, WsHandler& handler) : io_(io), handler_(handler) {}

  void send(SharedFrame frame) override {
    if (!closing_) frames_.push_back(std::move(frame));
  }
  void post_home(std::function<void()> fn) override { asio::post(io_, std::move(fn)); }
  Shard* home() const noexcept override { return nullptr; }
  bool on_home_shard() const noexcept override { return true; }
  bool takes_messages() const override { return !closing_; }
  // As a WebSocket: nothing more is read or sent from now, and the session
  // hears of the end after the handler that failed returns.
  void fail(CloseCode) override {
    if (closing_) return;
    closing_ = true;
    asio::post(io_, [self = shared_from_this()] { self->close(); });
  }
  bool send_last(SharedFrame frame) override {
    send(std::move(frame));
    fail(CloseCode::going_away);
    return true;
  }
  void resume_reading() override {
    waiting_ = false;
    read_on();
  }

  // A message from the client, as it sent it.
  void deliver(std::string payload, Encoding encoding) {
    if (closing_) return;
    unread_.push_back({std::move(payload), encoding});
    read_on();
  }
  // The connection ends: the session is told, once.
  void close() {
    if (finished_) return;
    closing_ = finished_ = true;
    unread_.clear();
    handler_.on_finished();
  }
  std::vector<SharedFrame> take_frames() { return std::exchange(frames_, {}); }

 private:
  struct Unread {
    std::string payload;
    Encoding encoding;
  };

  void read_on() {
    while (!waiting_ && !closing_ && !unread_.empty()) {
      const Unread message = std::move(unread_.front());
      unread_.erase(unread_.begin());
      waiting_ = !handler_.on_message(message.payload, message.encoding);
    }
  }

  asio::io_context& io_;
  WsHandler& handler_;  // the session, which holds this wire
  std::vector<SharedFrame> frames_;
  std::vector<Unread> unread_;
  bool waiting_ = false;
  bool closing_ = false;   // failed or ended: nothing more read or sent
  bool finished_ = false;  // the session was told
};

class Client {
 public:
  Client(World& world, std::string address)
      : session_(std::make_shared<ClientSession>(world.context, address, std::nullopt)),
        wire_(std::make_shared<StandInWire>(world.io(), *session_)) {
    world.context.connections_per_address.try_add(address, [](bool) {});
    session_->attach(wire_);
  }

  // A frame from the client, encoded as it would send it.
  void receive(const v1::ClientMessage& sent, Encoding encoding) {
    wire_->deliver(encode(sent, encoding), encoding);
    note_memberships();
  }
  void disconnect() { wire_->close(); }

  // Who this connection asked to be in each room, as the session says (the
  // last it asked): how the room sees it. Noted after each step the rooms'
  // shard takes, since a join may wait for the identity's budget.
  void note_memberships() {
    for (const char* room_id : kRooms) {
      if (const Membership* membership = session_->membership_in(room_id)) seen_as_[room_id] = *membership;
    }
  }

  std::vector<SharedFrame> take_frames() { return wire_->take_frames(); }
  const std::string& connection_id() const { return session_->connection_id(); }
  const std::string& user_id() const { return session_->identity().user_id(); }
  const Membership* seen_as(const std::string& room_id) const {
    const auto it = seen_as_.find(room_id);
    return it == seen_as_.end() ? nullptr : &it->second;
  }
  std::map<std::string, std::uint64_t>& joined_at() { return joined_at_; }

 private:
  std::shared_ptr<ClientSession> session_;
  std::shared_ptr<StandInWire> wire_;
  std::map<std::string, Membership> seen_as_;
  std::map<std::string, std::uint64_t> joined_at_;
};

// A frame as the server framed it: the header of encode_frame, then the
// message in its encoding.
v1::ServerMessage decode_frame(const std::string& frame) {
  expect(frame.size() >= 2, "a frame without a header");
  const auto byte = [&frame](std::size_t at) { return static_cast<unsigned char>(frame[at]); };
  const bool binary = byte(0) == 0x82;
  expect(binary || byte(0) == 0x81, "a frame that is neither binary nor text");
  std::size_t length = byte(1);
  std::size_t at = 2;
  if (length >= 126) {
    const std::size_t bytes = length == 126 ? 2 : 8;
    expect(frame.size() >= 2 + bytes, "a frame cut short");
    length = 0;
    for (std::size_t i = 0; i < bytes; ++i) length = (length << 8) | byte(2 + i);
    at = 2 + bytes;
  }
  expect(frame.size() == at + length, "a frame whose length is wrong");
  v1::ServerMessage message;
  const std::string payload = frame.substr(at);
  if (binary) {
    expect(message.ParseFromString(payload), "a binary frame that does not decode");
  } else {
    expect(google::protobuf::util::JsonStringToMessage(payload, &message).ok(),
           "a text frame that does not decode");
  }
  return message;
}

// ---------------------------------------------------------------------------
// The program
// ---------------------------------------------------------------------------

class Run {
 public:
  explicit Run(FuzzInput& in) : in_(in) {
    const auto exp = seconds_since_epoch(std::chrono::system_clock::now() + std::chrono::hours(1));
    auto mint = [&](const char* sub, v1::Role role, const char* room, bool named, std::int64_t expires) {
      return mint_token(Claims{sub, named ? world_.book.make(MarkerKind::name) : "", role, room, expires},
                        kSecret);
    };
    tokens_ = {"",
               mint("host-1", v1::ROLE_HOST, "*", true, exp),
               mint("mod-1", v1::ROLE_MODERATOR, "*", true, exp),
               mint("p-1", v1::ROLE_PARTICIPANT, "*", true, exp),
               mint("p-2", v1::ROLE_PARTICIPANT, "r1", false, exp),  // admits to r1, private or not
               mint("admin-1", v1::ROLE_ADMIN, "*", true, exp),
               mint("host-2", v1::ROLE_HOST, "r2", true, exp),
               mint("p-3", v1::ROLE_PARTICIPANT, "*", true, exp - 7200),  // expired
               "not.a.token"};
  }

  ~Run() {
    // Everyone goes, so that the rooms retire and nothing holds anything.
    for (auto& session : sessions_) session->disconnect();
    world_.settle();
  }

  void play() {
    for (std::size_t step = 0; step < kMaxSteps && !in_.empty(); ++step) {
      const unsigned op = in_.pick(kOpCount);
      if (op == kTogether) {
        holds_ = std::min(holds_ + 1, 4);
        continue;
      }
      run(static_cast<Op>(op));
      if (holds_ > 0) {
        --holds_;
        continue;
      }
      settle_and_check();
    }
    settle_and_check();
    for (const char* room : kRooms) check_storage(room);
    for (const auto& [room, watch] : world_.engine.watches()) watch.check_refold();
  }

 private:
  // --- choices ---------------------------------------------------------------

  Client* session() {
    const unsigned index = in_.byte();
    return sessions_.empty() ? nullptr : sessions_[index % sessions_.size()].get();
  }
  Encoding encoding() { return in_.flag() ? Encoding::json : Encoding::binary; }
  const char* room() { return kRooms[in_.pick(2)]; }

  // Any bytes: what is not UTF-8 the decoder refuses, and that is fuzzed too.
  std::string text(MarkerKind kind) { return fuzz_text(in_, world_.book, kind, TextBytes::any); }
  std::string name() {
    switch (in_.pick(6)) {
      case 0:
        return "";
      case 4:
        return "bad\x01name";
      case 5:
        return world_.book.make(MarkerKind::name) + std::string(30, 'y');
      default:
        return world_.book.make(MarkerKind::name);
    }
  }
  std::string token() {
    const unsigned index = in_.pick(10);
    if (index < tokens_.size()) return tokens_[index];
    return anonymous_tokens_.empty() ? "" : anonymous_tokens_.back();
  }
  std::string invite(const std::string& room_id) {
    switch (in_.pick(5)) {
      case 1:
        return invites_.empty() ? "" : invites_.back();
      case 2:
        return invites_.empty() ? "" : invites_.front();
      case 3:
        return mint_invite(room_id, seconds_since_epoch(std::chrono::system_clock::now()) - 60, kSecret);
      case 4:
        return "x.y.z";
      default:
        return "";
    }
  }
  std::string passcode() {
    const unsigned choice = in_.pick(4);
    if (choice == 3) return "abc";  // too short: refused before any hashing
    if (choice == 0 || world_.passcodes_left <= 0) return "";
    --world_.passcodes_left;
    return choice == 1 ? "open-sesame" : "wrong-guess";
  }
  std::uint64_t question(const char* room_id) {
    const RoomWatch* watch = world_.engine.watch(room_id);
    return fuzz_item(in_, watch ? &watch->question_ids() : nullptr);
  }
  std::uint64_t message(const char* room_id) {
    const RoomWatch* watch = world_.engine.watch(room_id);
    return fuzz_item(in_, watch ? &watch->message_ids() : nullptr);
  }
  // A question or a message, as the input chooses (commands that take one
  // of the two ids).
  template <typename Command>
  Command* with_item(Command* command, const char* room_id) {
    if (in_.flag()) return with_question(command, question(room_id));
    return with_message(command, message(room_id));
  }
  std::string target() {
    std::vector<std::string> users = {"host-1", "mod-1", "p-1", "p-2", "admin-1", "host-2"};
    for (const auto& session : sessions_) users.push_back(session->user_id());
    users.push_back("");
    users.push_back("nobody");
    return users[in_.byte() % users.size()];
  }

  // --- steps -----------------------------------------------------------------

  void run(Op op) {
    switch (op) {
      case kConnect:
        if (sessions_.size() < kMaxSessions) {
          sessions_.push_back(
              std::make_unique<Client>(world_, "10.0.0." + std::to_string(sessions_.size() + 1)));
        }
        return;
      case kDisconnect:
        if (Client* s = session()) s->disconnect();
        return;
      case kSweep:
        if (kTrace) std::fprintf(stderr, "> retention sweep\n");
        world_.retention->sweep_now([] {});
        storage_changed_ = true;
        return;
      case kAdvanceClock:
        world_.engine.set_days_ago(std::max<std::int64_t>(0, world_.engine.days_ago() - 1 - in_.pick(16)));
        return;
      default:
        break;
    }
    Client* s = session();
    const Encoding how = encoding();
    const char* room_id = room();
    v1::ClientMessage message;
    message.set_request_id(++request_id_);
    message.set_room_id(room_id);
    switch (op) {
      case kHello:
        message.clear_room_id();
        message.mutable_hello()->set_token(token());
        message.mutable_hello()->set_display_name(name());
        break;
      case kCreate: {
        auto* create = message.mutable_create_room();
        create->set_kind(fuzz_room_kind(in_));
        create->set_title(text(MarkerKind::title));
        *create->mutable_settings() = fuzz_settings(in_);
        create->set_passcode(passcode());
        // The join's membership decides how its frames are checked: the
        // frames of any earlier one are checked first.
        settle_and_check();
        break;
      }
      case kJoin: {
        auto* join = message.mutable_join_room();
        join->set_token(token());
        join->set_display_name(name());
        join->set_invite(invite(room_id));
        join->set_passcode(passcode());
        const unsigned resume = in_.pick(3);
        const unsigned point = in_.byte();
        const auto& points = resume_points_[room_id];
        if (resume == 1 && !points.empty()) *join->mutable_resume() = points[point % points.size()];
        if (resume == 2) {
          join->mutable_resume()->set_epoch("0000");
          join->mutable_resume()->set_seq(1);
        }
        settle_and_check();
        break;
      }
      case kLeave:
        message.mutable_leave_room();
        break;
      case kInvite: {
        const std::uint32_t ttls[] = {0, 60, 30 * 24 * 3600, 31 * 24 * 3600};
        message.mutable_create_invite()->set_ttl_seconds(ttls[in_.pick(4)]);
        break;
      }
      case kAsk:
        message.mutable_ask_question()->set_text(text(MarkerKind::text));
        message.mutable_ask_question()->set_anonymous(in_.flag());
        break;
      case kVote:
        with_question(message.mutable_vote_question(), question(room_id))->set_up(in_.flag());
        break;
      case kApprove:
        with_question(message.mutable_approve_question(), question(room_id));
        break;
      case kDismiss:
        with_question(message.mutable_dismiss_question(), question(room_id))->set_undo(in_.flag());
        break;
      case kPin:
        with_question(message.mutable_pin_question(), question(room_id));
        break;
      case kAnswer:
        with_question(message.mutable_answer_question(), question(room_id))->set_text(text(MarkerKind::text));
        break;
      case kMarkAnswered:
        with_question(message.mutable_mark_answered(), question(room_id));
        break;
      case kEditQuestion:
        with_question(message.mutable_edit_question(), question(room_id))->set_text(text(MarkerKind::text));
        break;
      case kDeleteQuestion:
        with_question(message.mutable_delete_question(), question(room_id));
        break;
      case kSay: {
        auto* say = message.mutable_send_message();
        say->set_text(text(MarkerKind::text));
        const unsigned reply = in_.pick(3);
        if (reply == 1)
          say->set_reply_to_message_id(this->message(room_id));
        else if (reply == 2)
          say->set_reply_to_question_id(question(room_id));
        else
          in_.byte();
        break;
      }
      case kEditMessage:
        with_message(message.mutable_edit_message(), this->message(room_id))
            ->set_text(text(MarkerKind::text));
        break;
      case kDeleteMessage:
        with_message(message.mutable_delete_message(), this->message(room_id));
        break;
      case kRelease:
        with_message(message.mutable_release_message(), this->message(room_id));
        break;
      case kReport:
        with_item(message.mutable_report_item(), room_id)->set_reason(text(MarkerKind::reason));
        break;
      case kErase:
        message.mutable_erase_my_content();
        storage_changed_ = true;
        break;
      case kHandled:
        with_item(message.mutable_mark_handled(), room_id);
        break;
      case kPrivateReply:
        with_item(message.mutable_reply_privately(), room_id)->set_text(text(MarkerKind::text));
        break;
      case kMute:
        with_member(message.mutable_mute_member(), target())->set_muted(in_.flag());
        break;
      case kKick:
        with_member(message.mutable_kick_member(), target());
        break;
      case kBan:
        with_member(message.mutable_ban_member(), target())->set_banned(in_.flag());
        break;
      case kUpdate: {
        auto* update = message.mutable_update_room();
        *update->mutable_settings() = fuzz_settings(in_);
        const auto* fields = v1::RoomSettings::descriptor();
        for (int i = 0; i < fields->field_count(); ++i) {
          if (in_.flag()) update->mutable_settings_mask()->add_paths(fields->field(i)->name());
        }
        update->set_allow_loosening(in_.flag());
        const bool retitle = in_.flag();
        const std::string title = text(MarkerKind::title);
        if (retitle) update->set_title(title);
        update->set_passcode(passcode());
        update->set_remove_passcode(in_.flag());
        break;
      }
      case kClose:
        message.mutable_close_room();
        break;
      case kPing:
        message.mutable_ping();
        break;
      default:
        return;
    }
    if (kTrace) {
      std::fprintf(stderr, "> %s %s\n", s ? s->connection_id().c_str() : "(none)",
                   message.ShortDebugString().c_str());
    }
    if (s != nullptr) s->receive(message, how);
  }

  // --- checks ----------------------------------------------------------------

  void settle_and_check() {
    world_.settle([this] {
      for (const auto& session : sessions_) session->note_memberships();
    });
    for (const auto& session : sessions_) check_frames(*session);
    if (storage_changed_) {
      storage_changed_ = false;
      for (const char* room : kRooms) check_storage(room);
    }
  }

  void check_frames(Client& session) {
    std::vector<v1::ServerMessage> messages;
    for (const auto& frame : session.take_frames()) messages.push_back(decode_frame(*frame));
    if (kTrace) {
      for (const auto& message : messages) {
        std::fprintf(stderr, "  < %s %s\n", session.connection_id().c_str(),
                     message.ShortDebugString().c_str());
      }
    }
    // Where this connection joined in this step: replayed events come
    // before the reply that says so, and are as new to it as the reply.
    for (const auto& message : messages) {
      const v1::Ok& ok = message.reply().ok();
      if (ok.has_snapshot()) {
        if (!ok.snapshot().resume_token().empty()) anonymous_tokens_.push_back(ok.snapshot().resume_token());
        session.joined_at()[ok.snapshot().room().room_id()] = ok.snapshot().seq();
        remember_resume_point(ok.snapshot().room().room_id(), ok.snapshot().epoch(), ok.snapshot().seq());
      } else if (ok.has_resumed()) {
        session.joined_at()[ok.resumed().room_id()] = ok.resumed().seq();
        remember_resume_point(ok.resumed().room_id(), ok.resumed().epoch(), ok.resumed().seq());
      } else if (ok.has_invite()) {
        invites_.push_back(ok.invite().token());
      }
    }
    for (const auto& message : messages) {
      std::string room_id;
      if (message.has_event())
        room_id = message.event().room_id();
      else if (message.reply().ok().has_snapshot())
        room_id = message.reply().ok().snapshot().room().room_id();
      else if (message.reply().ok().has_resumed())
        room_id = message.reply().ok().resumed().room_id();
      else if (message.has_presence())
        room_id = message.presence().room_id();
      if (room_id.empty()) {
        // Replies with no room's content: errors never quote what anyone
        // wrote; a welcome has the connection's own name.
        for (const auto& marker : markers_in(message.DebugString())) {
          expect(marker[1] == 'n' && message.reply().ok().has_welcome(), "a reply quoted what someone wrote");
        }
        continue;
      }
      RoomWatch* watch = world_.engine.watch(room_id);
      expect(watch != nullptr, "a message about a room with no log");
      const Membership* membership = session.seen_as(room_id);
      expect(membership != nullptr, "a message about a room this connection never asked for");
      const std::uint64_t joined = session.joined_at()[room_id];
      const std::uint64_t seen_at = message.has_event() ? std::max(message.event().seq(), joined) : joined;
      const Viewer viewer{membership->user_id, membership->role};
      watch->check_received(message, viewer, seen_at);
      if (message.reply().ok().has_snapshot())
        watch->check_snapshot_matches(message.reply().ok().snapshot(), viewer);
      if (message.has_event()) remember_resume_point(room_id, watch->state().epoch(), message.event().seq());
    }
  }

  void remember_resume_point(const std::string& room_id, const std::string& epoch, std::uint64_t seq) {
    auto& points = resume_points_[room_id];
    if (points.size() >= 16) return;
    v1::ResumeFrom point;
    point.set_epoch(epoch);
    point.set_seq(seq);
    points.push_back(point);
  }

  void check_storage(const std::string& room_id) {
    RoomWatch* watch = world_.engine.watch(room_id);
    if (watch == nullptr) return;
    // The memory engine answers at once.
    std::vector<SequencedEntry> stored;
    world_.engine.read(room_id, 0, 1 << 20, [&stored](std::error_code, std::vector<SequencedEntry> entries) {
      stored = std::move(entries);
    });
    std::optional<v1::RoomCheckpoint> checkpoint;
    world_.engine.load_checkpoint(room_id,
                                  [&checkpoint](std::error_code, std::optional<v1::RoomCheckpoint> loaded) {
                                    checkpoint = std::move(loaded);
                                  });
    watch->check_storage(stored, checkpoint);
  }

  FuzzInput& in_;
  World world_;
  std::vector<std::unique_ptr<Client>> sessions_;
  std::vector<std::string> tokens_;
  std::vector<std::string> anonymous_tokens_;
  std::vector<std::string> invites_;
  std::map<std::string, std::vector<v1::ResumeFrom>> resume_points_;
  std::uint32_t request_id_ = 0;
  int holds_ = 0;
  bool storage_changed_ = false;
};

}  // namespace
}  // namespace hearth::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    hearth::quiet_protobuf_logging();
    hearth::log::set_level(hearth::log::Level::error);
    return true;
  }();
  (void)quiet;
  hearth::fuzz::FuzzInput in(data, size);
  hearth::fuzz::Run(in).play();
  return 0;
}

// ---------------------------------------------------------------------------
// Seeds: short scenarios written with the reader's own opcodes (the
// arguments in the order Run::run reads them).
// ---------------------------------------------------------------------------

namespace hearth::fuzz {
namespace {

class Script : public SeedScript<Script, Op> {
 public:
  Script& connect(unsigned count = 1) {
    for (unsigned i = 0; i < count; ++i) op(kConnect);
    return *this;
  }
  // A command: the connection, binary or JSON, the room (0: r1, 1: r2).
  Script& command(Op op, unsigned session, unsigned room = 0, bool json = false) {
    writer_.byte(op).byte(session).byte(json ? 1 : 0).byte(room);
    return *this;
  }
  // Text styles: 0 marked, 4 with a crisis phrase, 5 blank, 6 too long.
  Script& text(unsigned style = 0) { return arg(style); }
  // Tokens: 0 none, 1 host-1, 2 mod-1, 3 p-1, 4 p-2 (r1), 5 admin-1, 6 host-2 (r2), 7 expired,
  // 8 garbage, 9 the last anonymous resume token.
  Script& hello(unsigned session, unsigned token, unsigned name = 1) {
    return command(kHello, session).arg(token).arg(name);
  }
  // Settings bits: 1 approval, 2 side chat, 4 invite only, 8 hold, 16 slow mode, 32/64 retention.
  Script& create(unsigned session, unsigned room, unsigned kind, unsigned settings, unsigned passcode = 0) {
    return command(kCreate, session, room).arg(kind).text().arg(settings).arg(passcode);
  }
  Script& join(unsigned session, unsigned room, unsigned token, unsigned name = 1, unsigned invite = 0,
               unsigned passcode = 0, unsigned resume = 0) {
    return command(kJoin, session, room).arg(token).arg(name).arg(invite).arg(passcode).arg(resume).arg(0);
  }
  Script& ask(unsigned session, bool anonymous = false, unsigned style = 0) {
    return command(kAsk, session).text(style).arg(anonymous ? 1 : 0);
  }
  Script& on_question(Op op, unsigned session, unsigned nth) { return command(op, session).arg(nth); }
  Script& say(unsigned session, unsigned room = 0, unsigned style = 0) {
    return command(kSay, session, room).text(style).arg(0).arg(0);
  }
  Script& on_message(Op op, unsigned session, unsigned nth) { return command(op, session).arg(nth); }
  Script& report_message(unsigned session, unsigned nth) {
    return command(kReport, session).arg(0).arg(nth).text();
  }
  // Targets: 0 host-1, 1 mod-1, 2 p-1, 3 p-2, 4 admin-1, 5 host-2, then each connection's user.
  Script& on_member(Op op, unsigned session, unsigned target, bool yes = true) {
    command(op, session).arg(target);
    return op == kKick ? *this : arg(yes ? 1 : 0);
  }
};

}  // namespace

std::vector<Seed> fuzz_seeds() {
  Script ama;
  ama.connect(4).hello(0, 1).create(0, 0, 0, 1 | 2);
  ama.join(1, 0, 3).join(2, 0, 0, 2).ask(1).ask(2, true).join(3, 0, 2);
  ama.on_question(kApprove, 3, 0).command(kVote, 2).arg(0).arg(1);
  ama.command(kAnswer, 0).arg(0).text().on_question(kPin, 0, 0).on_question(kDismiss, 3, 1);
  ama.command(kSay, 1).text().arg(2).arg(0).report_message(2, 0).on_question(kMarkAnswered, 0, 0);
  ama.command(kEditQuestion, 2).arg(1).text().on_question(kDeleteQuestion, 2, 1).command(kLeave, 1);

  Script support;
  support.connect(3).hello(0, 1).create(0, 0, 1, 8).join(1, 0, 3).join(2, 0, 0, 2);
  support.say(1, 0, 4).say(2).command(kEditMessage, 1).arg(0).text().report_message(2, 0);
  support.on_message(kRelease, 0, 0).report_message(2, 0).say(1).command(kErase, 1);
  support.command(kLeave, 2).join(2, 0, 9, 0, 0, 0, 1);

  Script retention;
  retention.connect(2).hello(0, 1).create(0, 0, 0, 2).join(1, 0, 3).ask(1).say(1).say(0);
  retention.op(kSweep).op(kAdvanceClock).arg(15).ask(1).say(1).command(kLeave, 1).command(kLeave, 0);
  retention.join(1, 0, 3).command(kErase, 1).op(kSweep).join(0, 0, 1);

  Script private_room;
  private_room.connect(4).hello(0, 1).create(0, 0, 0, 2 | 4, 1).command(kInvite, 0).arg(0);
  private_room.join(1, 0, 0, 1, 1).join(2, 0, 0, 1, 0, 2).join(2, 0, 0, 1, 0, 1).join(3, 0, 4);
  private_room.on_member(kMute, 0, 7).say(1).on_member(kKick, 0, 7).on_member(kBan, 0, 7).join(1, 0, 0);
  private_room.command(kUpdate, 0).arg(1).arg(1).text().arg(0).arg(1).command(kClose, 0).say(3);

  Script race;
  race.connect(3).hello(0, 1).create(0, 0, 1, 0).join(1, 0, 3).join(2, 0, 0).say(1);
  race.op(kTogether).on_member(kMute, 0, 2).say(1);
  race.op(kTogether).on_message(kDeleteMessage, 0, 0).command(kEditMessage, 1).arg(0).text();
  race.op(kTogether).command(kErase, 2).say(2);

  Script edited;
  edited.connect(3).hello(0, 1).create(0, 0, 0, 2).join(1, 0, 3).join(2, 0, 2).ask(1, true);
  edited.command(kEditQuestion, 1).arg(0).text().command(kAnswer, 2).arg(0).text();
  edited.command(kEditQuestion, 1).arg(0).text(4).command(kErase, 1).op(kSweep).command(kErase, 2);

  Script two_rooms;
  two_rooms.connect(3).hello(0, 1).create(0, 0, 0, 1 | 2).hello(1, 6).create(1, 1, 1, 8);
  two_rooms.join(2, 0, 0).join(2, 1, 0).ask(2).say(2, 1, 4).command(kErase, 2, 1).command(kPing, 2);
  return {{"seed-ama-approval", ama.str()},
          {"seed-support-hold-erase", support.str()},
          {"seed-retention-erase", retention.str()},
          {"seed-private-room", private_room.str()},
          {"seed-race", race.str()},
          {"seed-edit-then-erase", edited.str()},
          {"seed-two-rooms", two_rooms.str()}};
}

}  // namespace hearth::fuzz
