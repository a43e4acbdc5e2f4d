// updateRoom through a real server (docs/protocol.md 2.5, 1.12): the host
// sets, changes and removes a private room's passcode, and neither the
// passcode nor its salted hash ever leaves the server: not in a snapshot,
// an event, a JSON or Markdown transcript, the server's own log, nor (the
// passcode) in Redis in readable form. An update changes only the settings
// it names, opening a room or ending the crisis hold must be confirmed, and
// only hosts may update a room.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "engine/redis/engine_redis.hpp"
#include "room/passcode.hpp"
#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

namespace http = boost::beast::http;

v1::ClientMessage update_room(const std::string& room, const v1::RoomSettings& settings,
                              const std::string& title, const std::string& passcode = "",
                              bool remove_passcode = false) {
  v1::ClientMessage message = update_settings(room, settings);
  auto* update = message.mutable_update_room();
  update->set_title(title);
  update->set_passcode(passcode);
  update->set_remove_passcode(remove_passcode);
  return message;
}

v1::ClientMessage join_with_passcode(const std::string& room, const std::string& passcode) {
  auto message = join(room);
  message.mutable_join_room()->set_passcode(passcode);
  return message;
}

std::string base64(const std::string& bytes) {
  static const char* const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += alphabet[(n >> shift) & 63];
  }
  if (i < bytes.size()) {
    unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string hex(const std::string& bytes) {
  static const char* const digits = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// The room's log as Redis holds it, read the way a node reads it.
std::vector<v1::LogEntry> stored_log(const RedisProcess& redis, const std::string& room) {
  boost::asio::io_context io;
  RedisEngine engine(io.get_executor(), *RedisAddress::parse(redis.url()), std::chrono::seconds(15));
  const auto run_until = [&io](const bool& flag) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!flag && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
    return flag;
  };
  bool ready = false;
  engine.start([&] { ready = true; });
  std::vector<v1::LogEntry> entries;
  if (run_until(ready)) {
    bool done = false;
    engine.read(room, 0, 100000, [&](std::error_code error, std::vector<SequencedEntry> page) {
      EXPECT_FALSE(error) << error.message();
      for (const auto& sequenced : page) entries.push_back(*sequenced.entry);
      done = true;
    });
    EXPECT_TRUE(run_until(done));
  }
  engine.stop();
  io.run_for(50ms);
  return entries;
}

// Everything a client was sent, in both encodings, as one text to search.
std::string both_encodings(const google::protobuf::Message& message) {
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(message, &json).ok());
  return json + "\n" + message.SerializeAsString() + "\n";
}

// docs/protocol.md 2.5 (updateRoom: passcode, removePasscode, empty title
// keeps the title; "the event shows only hasPasscode"), 1.12 ("neither it
// nor its hash is sent to anyone or shown in a transcript"; joins with the
// old, new and removed passcode), 6.2 (transcripts), docs/privacy.md
// ("never written to storage or to the server's log: ... passcodes").
TEST(UpdateRoom, TheHostSetsChangesAndRemovesThePasscodeWhichNeverLeavesTheServer) {
  RedisProcess redis;
  ServerProcess node({"--engine", "redis", "--redis", redis.url()});
  const std::string first = "first-Passcode-4417";
  const std::string second = "second-Passcode-9023";
  const std::string third = "third-Passcode-5561";
  const std::string host_token = ServerProcess::token("host", "circle", "Lee", "lee");
  std::string seen;  // every snapshot and event any client received

  WsClient host(node.port());
  host.request_ok(hello(host_token));
  auto create = create_room("circle", v1::ROOM_KIND_SUPPORT);
  create.mutable_create_room()->mutable_settings()->set_invite_only(true);
  create.mutable_create_room()->set_passcode(first);
  const auto created = host.request_ok(create).snapshot();
  EXPECT_TRUE(created.room().has_passcode());
  seen += both_encodings(created);
  WsClient member(node.port(), Encoding::binary);
  seen += both_encodings(member.request_ok(join_with_passcode("circle", first)).snapshot());
  WsClient moderator(node.port());
  seen += both_encodings(
      moderator.request_ok(join("circle", "", ServerProcess::token("moderator", "circle", "Mo", "mo")))
          .snapshot());
  // The member's next roomUpdated, read once every member has it.
  auto next_update = [&] {
    member.request_ok(ping());
    auto event = member.next_event_where([](const v1::Event& e) { return e.has_room_updated(); });
    seen += both_encodings(event);
    return event;
  };

  // A new title, and a new passcode in place of the first.
  v1::RoomSettings private_room;
  private_room.set_invite_only(true);
  host.request_ok(update_room("circle", private_room, "Tuesday circle", second));
  auto update = next_update();
  EXPECT_TRUE(update.room_updated().has_passcode());
  EXPECT_EQ(update.room_updated().title(), "Tuesday circle");
  EXPECT_TRUE(update.room_updated().settings().invite_only());
  WsClient stranger(node.port());
  EXPECT_EQ(stranger.request_error(join_with_passcode("circle", first)).code(), v1::PASSCODE_WRONG)
      << "the old passcode no longer opens the room";
  seen += both_encodings(stranger.request_ok(join_with_passcode("circle", second)).snapshot());

  // Only the host may update: not a moderator, not a participant.
  EXPECT_EQ(moderator.request_error(update_room("circle", private_room, "Mine now")).code(),
            v1::PERMISSION_DENIED);
  EXPECT_EQ(member.request_error(update_room("circle", private_room, "Mine now")).code(),
            v1::PERMISSION_DENIED);
  // With removePasscode, a passcode sent as well is still checked: a bad one
  // refuses the whole update, which changes nothing.
  EXPECT_EQ(
      host.request_error(update_room("circle", private_room, "", "abc", /*remove_passcode=*/true)).code(),
      v1::INVALID_ARGUMENT);
  WsClient second_stranger(node.port());
  seen += both_encodings(second_stranger.request_ok(join_with_passcode("circle", second)).snapshot());

  // Removed: a private room without a passcode admits by token or invite only.
  host.request_ok(update_room("circle", private_room, "", "", /*remove_passcode=*/true));
  update = next_update();
  EXPECT_FALSE(update.room_updated().has_passcode());
  EXPECT_EQ(update.room_updated().title(), "Tuesday circle") << "an empty title keeps the current one";
  WsClient third_stranger(node.port());
  EXPECT_EQ(third_stranger.request_error(join_with_passcode("circle", second)).code(), v1::INVITE_REQUIRED);
  // A passcode given with removePasscode is checked, then removed.
  host.request_ok(update_room("circle", private_room, "", third, /*remove_passcode=*/true));
  EXPECT_FALSE(next_update().room_updated().has_passcode());
  EXPECT_EQ(third_stranger.request_error(join_with_passcode("circle", third)).code(), v1::INVITE_REQUIRED);
  // Set again: it opens the room, and the connections that were refused work.
  host.request_ok(update_room("circle", private_room, "", third));
  EXPECT_TRUE(next_update().room_updated().has_passcode());
  seen += both_encodings(third_stranger.request_ok(join_with_passcode("circle", third)).snapshot());
  WsClient late_host(node.port());
  late_host.request_ok(hello(host_token));
  seen += both_encodings(late_host.request_ok(join("circle")).snapshot());
  for (auto* client :
       {&host, &member, &moderator, &stranger, &second_stranger, &third_stranger, &late_host}) {
    client->request_ok(ping());
    for (const auto& event : client->events()) seen += both_encodings(event);
  }

  // The hashes the log holds: one per passcode set (the refused update left
  // none), each a 16-byte salt and a 32-byte key, of the right passcode.
  std::vector<std::string> hashes;
  for (const auto& entry : stored_log(redis, "circle")) {
    if (entry.has_room_created() && !entry.room_created().passcode_hash().empty()) {
      hashes.push_back(entry.room_created().passcode_hash());
    }
    if (entry.has_room_updated() && !entry.room_updated().passcode_hash().empty()) {
      hashes.push_back(entry.room_updated().passcode_hash());
    }
  }
  ASSERT_EQ(hashes.size(), 4u);
  EXPECT_TRUE(passcode_matches(first, hashes[0]));
  EXPECT_TRUE(passcode_matches(second, hashes[1]));
  EXPECT_TRUE(passcode_matches(third, hashes[2]));
  EXPECT_TRUE(passcode_matches(third, hashes[3]));
  EXPECT_NE(hashes[2], hashes[3]) << "salted: the same passcode twice is two hashes";
  for (const auto& hash : hashes) EXPECT_EQ(hash.size(), 48u);

  const std::string authorization = "Bearer " + host_token;
  const auto json =
      http_request(node.port(), http::verb::get, "/rooms/circle/transcript?format=json", authorization);
  ASSERT_EQ(json.result_int(), 200);
  const auto markdown =
      http_request(node.port(), http::verb::get, "/rooms/circle/transcript?format=markdown", authorization);
  ASSERT_EQ(markdown.result_int(), 200);
  EXPECT_NE(json.body().find("Tuesday circle"), std::string::npos) << "the transcript is the room's";

  const std::vector<std::pair<std::string, std::string>> places{{"what clients received", seen},
                                                                {"the JSON transcript", json.body()},
                                                                {"the Markdown transcript", markdown.body()},
                                                                {"the server's log", node.log()}};
  for (const auto& [where, text] : places) {
    for (const auto& passcode : {first, second, third}) {
      EXPECT_EQ(text.find(passcode), std::string::npos) << where << " holds the passcode " << passcode;
    }
    for (const auto& hash : hashes) {
      EXPECT_EQ(text.find(hash), std::string::npos) << where << " holds a passcode hash";
      EXPECT_EQ(text.find(base64(hash)), std::string::npos) << where << " holds a passcode hash (base64)";
      EXPECT_EQ(text.find(hex(hash)), std::string::npos) << where << " holds a passcode hash (hex)";
    }
  }
  // Redis holds the hashes (that is how joins are checked), never a passcode.
  std::string stored = redis.cli({"XRANGE", redis_keys::log("circle"), "-", "+"});
  stored += redis.cli({"GET", redis_keys::epoch("circle")});
  stored += redis.cli({"HGETALL", redis_keys::checkpoint("circle")});
  EXPECT_NE(stored.find("Tuesday circle"), std::string::npos) << "this is the room's stored log";
  for (const auto& passcode : {first, second, third}) {
    EXPECT_EQ(stored.find(passcode), std::string::npos) << "Redis holds the passcode " << passcode;
  }
}

// docs/protocol.md 2.5: an update changes only the settings its
// settingsMask names; settings without a mask, a mask naming no setting and
// values out of range are refused and change nothing.
TEST(UpdateRoom, ChangesOnlyTheSettingsItNamesSoATitleOrOneSettingResetsNothing) {
  ServerProcess server;
  WsClient host(server.port());
  const std::string host_token = ServerProcess::token("host", "ama", "Dr. Ada", "ada");
  host.request_ok(hello(host_token));
  auto create = create_room("ama", v1::ROOM_KIND_AMA, /*approval=*/true, /*side_chat=*/true);
  auto* settings = create.mutable_create_room()->mutable_settings();
  settings->set_invite_only(true);
  settings->set_slow_mode_seconds(30);
  settings->set_retention_days(7);
  settings->set_crisis_policy(v1::CRISIS_POLICY_HOLD);
  host.request_ok(create);
  const v1::RoomSettings created = *settings;
  WsClient outsider(server.port());
  EXPECT_EQ(outsider.request_error(join("ama", "Kit")).code(), v1::INVITE_REQUIRED);

  // Refused: out of range, settings with no mask, a mask naming no setting.
  v1::RoomSettings too_slow;
  too_slow.set_slow_mode_seconds(3601);
  EXPECT_EQ(host.request_error(update_settings("ama", too_slow, {"slow_mode_seconds"})).code(),
            v1::INVALID_ARGUMENT);
  v1::RoomSettings too_long;
  too_long.set_retention_days(3651);
  EXPECT_EQ(host.request_error(update_settings("ama", too_long, {"retention_days"})).code(),
            v1::INVALID_ARGUMENT);
  auto unmasked = update_settings("ama", created);
  unmasked.mutable_update_room()->clear_settings_mask();
  const auto no_mask = host.request_error(unmasked);
  EXPECT_EQ(no_mask.code(), v1::INVALID_ARGUMENT);
  EXPECT_NE(no_mask.message().find("settings_mask"), std::string::npos) << no_mask.message();
  EXPECT_EQ(host.request_error(update_settings("ama", created, {"colour"})).code(), v1::INVALID_ARGUMENT);

  // A title alone keeps every setting.
  v1::ClientMessage rename;
  rename.set_room_id("ama");
  rename.mutable_update_room()->set_title("Ask me about sleep");
  host.request_ok(rename);
  auto updated =
      host.next_event_where([](const v1::Event& e) { return e.has_room_updated(); }).room_updated();
  EXPECT_EQ(updated.title(), "Ask me about sleep");
  EXPECT_EQ(updated.settings().SerializeAsString(), created.SerializeAsString())
      << updated.ShortDebugString();

  // One setting changes that setting only.
  v1::RoomSettings faster;
  faster.set_slow_mode_seconds(10);
  host.request_ok(update_settings("ama", faster, {"slow_mode_seconds"}));
  updated = host.next_event_where([](const v1::Event& e) { return e.has_room_updated(); }).room_updated();
  v1::RoomSettings expected = created;
  expected.set_slow_mode_seconds(10);
  EXPECT_EQ(updated.settings().SerializeAsString(), expected.SerializeAsString())
      << updated.ShortDebugString();
  EXPECT_EQ(outsider.request_error(join("ama", "Kit")).code(), v1::INVITE_REQUIRED);

  // The transcript says what each update changed, and nothing else.
  const auto transcript = http_request(server.port(), http::verb::get,
                                       "/rooms/ama/transcript?format=markdown", "Bearer " + host_token);
  ASSERT_EQ(transcript.result_int(), 200);
  EXPECT_NE(transcript.body().find("renamed the room"), std::string::npos) << transcript.body();
  EXPECT_NE(transcript.body().find("changed the settings: slow mode 10 s\n"), std::string::npos)
      << transcript.body();
}

// docs/protocol.md 2.5 and 1.12: turning inviteOnly off or crisisPolicy away
// from CRISIS_POLICY_HOLD needs allowLoosening; a client that sends stale
// settings (every field, private and hold off) gets CONFIRMATION_REQUIRED
// and the room stays private and holding.
TEST(UpdateRoom, OpeningAPrivateRoomOrStoppingTheHoldMustBeConfirmed) {
  ServerProcess server;
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "circle", "Dr. Ada", "ada")));
  auto create = create_room("circle", v1::ROOM_KIND_SUPPORT);
  create.mutable_create_room()->mutable_settings()->set_invite_only(true);
  create.mutable_create_room()->mutable_settings()->set_crisis_policy(v1::CRISIS_POLICY_HOLD);
  host.request_ok(create);
  WsClient outsider(server.port());

  v1::RoomSettings stale;  // what a client that never read the settings sends
  stale.set_slow_mode_seconds(5);
  const auto refused = host.request_error(update_settings("circle", stale));
  EXPECT_EQ(refused.code(), v1::CONFIRMATION_REQUIRED);
  EXPECT_NE(refused.message().find("private"), std::string::npos) << refused.message();
  v1::RoomSettings deliver;
  deliver.set_crisis_policy(v1::CRISIS_POLICY_DELIVER);
  const auto hold = host.request_error(update_settings("circle", deliver, {"crisis_policy"}));
  EXPECT_EQ(hold.code(), v1::CONFIRMATION_REQUIRED);
  EXPECT_NE(hold.message().find("crisis"), std::string::npos) << hold.message();
  v1::RoomSettings open;
  EXPECT_EQ(host.request_error(update_settings("circle", open, {"invite_only"})).code(),
            v1::CONFIRMATION_REQUIRED);
  EXPECT_EQ(outsider.request_error(join("circle", "Kit")).code(), v1::INVITE_REQUIRED);

  // Confirmed, one at a time: the hold goes and the room stays private...
  host.request_ok(update_settings("circle", deliver, {"crisis_policy"}, /*allow_loosening=*/true));
  auto updated =
      host.next_event_where([](const v1::Event& e) { return e.has_room_updated(); }).room_updated();
  EXPECT_EQ(updated.settings().crisis_policy(), v1::CRISIS_POLICY_DELIVER);
  EXPECT_TRUE(updated.settings().invite_only());
  EXPECT_EQ(outsider.request_error(join("circle", "Kit")).code(), v1::INVITE_REQUIRED);
  // ...then the room opens, and a stranger may join.
  host.request_ok(update_settings("circle", open, {"invite_only"}, /*allow_loosening=*/true));
  updated = host.next_event_where([](const v1::Event& e) { return e.has_room_updated(); }).room_updated();
  EXPECT_FALSE(updated.settings().invite_only());
  outsider.request_ok(join("circle", "Kit"));
  // Tightening never needs the confirmation.
  v1::RoomSettings closed_again;
  closed_again.set_invite_only(true);
  closed_again.set_crisis_policy(v1::CRISIS_POLICY_HOLD);
  host.request_ok(update_settings("circle", closed_again, {"invite_only", "crisis_policy"}));
}

}  // namespace
}  // namespace hearth::testing
