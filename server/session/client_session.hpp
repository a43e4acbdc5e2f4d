// One client, served over a connection (net/wire.hpp; a WebSocket in the
// server, net/ws_connection.hpp): its
// messages decoded and budgeted, its identity (client_identity.hpp), Hello,
// joins, invites, and each command handed to its room. Rooms talk back to
// it through Connection (connection.hpp).
//
// Threading (docs/architecture.md, "Threads"): like its connection, a
// session runs on its home shard; the Connection methods rooms call from
// their own shards post there (Wire::post_home), so that what a
// room hands a session arrives in the order the room sent it. Debug builds
// assert it.
#pragma once

#include <atomic>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/container/flat_map.hpp>
#include <memory>
#include <optional>
#include <string>

#include "base/rate_limit.hpp"
#include "domain/client_identity.hpp"
#include "net/wire.hpp"
#include "protocol/transport.hpp"
#include "room/connection.hpp"
#include "room/room.hpp"
#include "session/session_context.hpp"

namespace hearth {

class ClientSession final : public Connection,
                            public WsHandler,
                            public std::enable_shared_from_this<ClientSession> {
 public:
  // What the upgrade request settled: whether the client asked for the
  // "hearth.v1" subprotocol, and the identity of a token given in
  // Sec-WebSocket-Protocol (then the connection is identified as if by a
  // Hello with it).
  struct Handshake {
    bool v1_subprotocol = false;
    std::optional<Claims> claims;
  };

  // Serves the WebSocket upgrade `request` on `stream`, from `address`,
  // which has been counted in context.connections_per_address: the session
  // uncounts it when the connection ends. On the connection's shard.
  static void serve(Transport stream, SessionContext& context, std::string address, Handshake handshake,
                    boost::beast::http::request<boost::beast::http::string_body> request);

  ClientSession(SessionContext& context, std::string address, std::optional<Claims> claims);
  // The connection this session is served over, before anything else:
  // serve() attaches a WebSocket; the session fuzzer a stand-in.
  void attach(std::shared_ptr<Wire> wire) { wire_ = std::move(wire); }

  // Who this connection is, or asked to be, in `room_id` (null: neither).
  // On the home shard.
  const Membership* membership_in(const std::string& room_id) const {
    const auto it = rooms_.find(room_id);
    return it == rooms_.end() ? nullptr : &it->second.membership;
  }
  const ClientIdentity& identity() const { return identity_; }

  // Connection: from rooms, any thread.
  void send(SharedFrame frame) override { wire_->send(std::move(frame)); }
  void joined(const std::string& room_id, Membership membership) override;
  void join_failed(const std::string& room_id) override;
  void removed(const std::string& room_id) override;
  Encoding push_encoding() const override { return push_encoding_.load(std::memory_order_relaxed); }
  const std::string& connection_id() const override { return connection_id_; }
  Shard* home() const override { return wire_->home(); }

  // WsHandler: from the connection, on the home shard.
  bool on_message(std::string_view payload, Encoding encoding) override;
  void on_too_large(Encoding encoding) override;
  void on_peer_gone() override { leave_rooms(); }
  void on_finished() override;

 private:
  // A room this connection is in, or (`joined` false) whose join is on its way.
  struct RoomSlot {
    Membership membership;
    bool joined = false;
  };
  // Few per connection (Limits::max_rooms_per_connection): a sorted vector
  // costs one allocation, where a hash map costs a node each and a bucket
  // array.
  using Rooms = boost::container::flat_map<std::string, RoomSlot>;

  void assert_home() const noexcept { assert(wire_->home() == nullptr || wire_->on_home_shard()); }
  // Counts a message from the client as a command, unless the connection
  // takes no more; false then.
  bool take_command(Encoding encoding);
  // Spends one of the connection's undecodable frames; false (and closing
  // with 1008) when none is left.
  bool spend_malformed();
  // A decoded command within budget: handled, with failures in our code
  // kept to it (server/base/fault.hpp).
  void run_command(const v1::ClientMessage& message, Encoding encoding);
  // The identity budget's answer for the parked command (LeasedBudgets).
  void budget_answered(LeasedBudgets::Wait wait);
  void dispatch(const v1::ClientMessage& message, Encoding encoding);
  void on_hello(const v1::ClientMessage& message, Encoding encoding);
  void on_create_or_join(const v1::ClientMessage& message, Encoding encoding);
  void on_leave(const v1::ClientMessage& message, Encoding encoding);
  void on_forget_me(const v1::ClientMessage& message, Encoding encoding);
  void on_create_invite(const v1::ClientMessage& message, Encoding encoding);
  void on_list_members(const v1::ClientMessage& message, Encoding encoding);
  void on_room_command(const v1::ClientMessage& message, Encoding encoding);
  // The room `message` is for, if this connection is in it; else replies
  // NOT_IN_ROOM and returns rooms_.end().
  Rooms::iterator joined_room(const v1::ClientMessage& message, Encoding encoding);
  // Who sends `message` to the room of `slot`, for the room's reply.
  Caller caller_in(const RoomSlot& slot, const v1::ClientMessage& message, Encoding encoding);
  // Runs `op` on the room, wherever it runs (RoomRegistry::with_room).
  void in_room(const std::string& room_id, Room::Op op, Room::Refusal refusal = {});
  void reply(std::uint32_t request_id, Encoding encoding, v1::Ok ok);
  void reply(std::uint32_t request_id, Encoding encoding, const Failure& failure);
  // SHUTTING_DOWN to a frame read during shutdown before the close frame.
  void reply_shutting_down(std::uint32_t request_id, Encoding encoding);
  // Leaves every room this connection is in; once.
  void leave_rooms();

  SessionContext& context_;
  std::shared_ptr<Wire> wire_;  // attach()ed before anything else
  const std::string connection_id_;
  const std::string address_;
  ClientIdentity identity_;
  TokenBucket bucket_;                      // this connection's message budget
  std::unique_ptr<TokenBucket> malformed_;  // its budget of undecodable frames, from the first
  std::atomic<Encoding> push_encoding_{Encoding::json};
  Rooms rooms_;
  // A command waiting for its identity's budget (a lease from the shared
  // budget): reading stops meanwhile, so commands keep their order.
  struct Parked {
    v1::ClientMessage message;
    Encoding encoding;
  };
  std::optional<Parked> parked_;
  int command_ = 0;          // the command being handled, for /metrics
  bool left_rooms_ = false;  // leave_rooms() ran: a join that lands now leaves at once
  bool finished_ = false;
};

}  // namespace hearth
