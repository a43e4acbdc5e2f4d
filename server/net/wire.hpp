// The two sides of a client's connection, as the layers above see it: Wire,
// what the one served over the connection may ask of it, and WsHandler,
// what the connection tells that one. In the server the connection is a
// WebSocket (ws_connection.hpp) and the one served a ClientSession
// (session/client_session.hpp); the session fuzzer (tests/fuzz/) serves a
// ClientSession over a stand-in Wire, so that it runs the server's session.
#pragma once

#include <functional>
#include <string_view>

#include "protocol/codec.hpp"
#include "protocol/error.hpp"
#include "room/shards.hpp"

namespace hearth {

class Wire {
 public:
  virtual ~Wire() = default;

  // Any thread:
  // Queues one frame.
  virtual void send(SharedFrame frame) = 0;
  // Runs `fn` on the home shard, after what was handed to this connection
  // before.
  virtual void post_home(std::function<void()> fn) = 0;
  // The shard the connection lives on (null: none, outside a server).
  virtual Shard* home() const noexcept = 0;
  virtual bool on_home_shard() const noexcept = 0;

  // On the home shard:
  // Whether a message read now may still be answered: not once the
  // connection was given up on (a slow consumer) or our close frame is on
  // its way; while shutting down (1001), until then.
  virtual bool takes_messages() const = 0;
  // A broken rule of the peer's: close with `code` at once.
  virtual void fail(CloseCode code) = 0;
  // Closes with 1001 (unless closing already), `frame` the last before the
  // close frame, if the queue has room for it; whether it did.
  virtual bool send_last(SharedFrame frame) = 0;
  // After WsHandler::on_message() returned false: reads on, from what was
  // kept.
  virtual void resume_reading() = 0;
};

// What a connection tells the one it serves. Called on the connection's
// home shard, never after on_finished().
class WsHandler {
 public:
  virtual ~WsHandler() = default;
  // A whole text (json) or binary message. False: read nothing more until
  // Wire::resume_reading() (the handler waits for something; the messages
  // after this one keep their order).
  virtual bool on_message(std::string_view payload, Encoding encoding) = 0;
  // A message above the soft frame limit, skipped unread.
  virtual void on_too_large(Encoding encoding) = 0;
  // The peer's close frame came: nothing more will come from it, though the
  // connection may take until the close deadline to end.
  virtual void on_peer_gone() = 0;
  // The connection has ended (on_peer_gone() or not before). Once, last.
  virtual void on_finished() = 0;
};

}  // namespace hearth
