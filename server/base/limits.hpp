// Bounds that keep one user or one room from taking more than its share.
// Defaults are documented in README.md; every one is a flag (see config.cpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace hearth {

// The longest retention a room may ask for (RoomSettings.retention_days)
// and --retention-days may set.
inline constexpr std::uint32_t kMaxRetentionDays = 3650;
// The longest slow mode a room may set (RoomSettings.slow_mode_seconds).
inline constexpr std::uint32_t kMaxSlowModeSeconds = 3600;
// The longest reason a report may give, in characters.
inline constexpr std::size_t kMaxReportReasonChars = 500;
// A member who left is remembered this long (for a late mute or ban, and
// their name), then forgotten unless muted or banned.
inline constexpr std::int64_t kForgetDepartedSeconds = 24 * 3600;

struct Limits {
  // Text lengths, in Unicode code points.
  std::size_t max_question_chars = 1000;
  std::size_t max_answer_chars = 4000;
  std::size_t max_message_chars = 2000;
  std::size_t max_title_chars = 200;
  std::size_t max_name_chars = 40;
  // A frame above this is drained and answered MESSAGE_TOO_LARGE; one above
  // hard_frame_factor times this closes the connection with 1009.
  std::size_t max_frame_bytes = 64 * 1024;
  std::size_t hard_frame_factor = 16;
  // Frames queued for one client; past it the client is closed with 4001.
  std::size_t send_queue_frames = 1024;
  std::size_t max_rooms_per_connection = 16;
  // Frames a connection may send: `message_rate` a second on average, up to
  // `message_burst` at once; past it, RATE_LIMITED. The same again for one
  // identity over all its connections, on every node (budgets.hpp).
  double message_rate = 10;
  double message_burst = 30;
  double identity_message_rate = 20;
  double identity_message_burst = 60;
  // WebSocket connections open at once from one client address (0: any).
  std::size_t max_connections_per_ip = 50;
  // How long a ban of an anonymous member also holds against the client
  // addresses they were connected from (AddressBans); 0: not at all.
  std::uint32_t address_ban_hours = 24;
  // Reports one identity may make in a room in an hour (three times that
  // from one client address), over every node (ReportMeter); 0: no cap.
  std::uint32_t reports_per_hour = 20;
  // Questions of one identity awaiting approval in a room.
  std::size_t max_pending_questions = 5;
  // Chat messages included in a snapshot (the most recent).
  std::size_t snapshot_messages = 200;
  // What a room holds in memory, so that a node's memory does not grow with
  // a room's history (RoomState): the latest `messages_in_memory` chat
  // messages and `closed_questions_in_memory` answered, dismissed or deleted
  // questions; older ones stay in the log (transcript, erasure) but can no
  // longer be edited, voted on or reported, only deleted (Room checks the
  // author against the log). At most `max_open_questions` questions may be
  // open or awaiting approval at once; one more gets TOO_MANY_QUESTIONS.
  // Every node of a deployment must run with the same three, as with every
  // limit the fold checks.
  std::size_t messages_in_memory = 1000;
  std::size_t closed_questions_in_memory = 1000;
  std::size_t max_open_questions = 1000;
  // Events a room keeps for clients that reconnect and resume; an older
  // resume point gets a fresh snapshot instead.
  std::size_t resume_window = 5000;
  // Presence, however many arrive at once: a node appends the joins and
  // leaves it takes for a room as one entry at most every `presence_batch`
  // (one at a time; the first after a quiet while goes at once), and pushes
  // a room's members a Presence at most every `presence_push`, or in a big
  // room every kPresencePushPerPerson for each person present, whichever is
  // longer: a push costs a frame per member, so a room sends at most about
  // 10,000 push frames a second however big it is (10,000 people: one push
  // a second).
  std::chrono::milliseconds presence_batch{20};
  std::chrono::milliseconds presence_push{250};
  // Commands (joins, creates) waiting for a room this node is still loading
  // from storage; one more gets UNAVAILABLE at once (Room::run). Not in
  // --help: tests lower it.
  std::size_t max_waiting_ops = 10000;
};

// How long a command waits for a room that cannot be loaded (storage down,
// or holding an entry this server cannot read) before it gets UNAVAILABLE.
inline constexpr auto kLoadPatience = std::chrono::seconds(10);

// TCP connections from one address whose first request has not come whole:
// at most 16, or max_connections_per_ip if that is lower; no limit when that
// is 0. Past it, a new connection is closed at once, unread.
inline std::size_t unfinished_cap(const Limits& limits) {
  return limits.max_connections_per_ip < 16 ? limits.max_connections_per_ip : 16;
}

// Frames that cannot be decoded (MALFORMED, INVALID_UTF8, MESSAGE_TOO_LARGE):
// 10 at once, then one every 10 seconds, per connection; one more closes it
// with 1008.
inline constexpr double kMalformedRate = 0.1;
inline constexpr double kMalformedBurst = 10;

}  // namespace hearth
