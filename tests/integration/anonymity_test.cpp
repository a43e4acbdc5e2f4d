// Anonymity that erasure cannot break (issue 15.7; docs/privacy.md,
// docs/protocol.md 2.26): two nodes on Redis, and what each party can see
// after a member who asked anonymously erases everything they wrote.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

namespace http = boost::beast::http;

v1::ClientMessage erase(const std::string& room) {
  return room_command(room, [](v1::ClientMessage& m) { m.mutable_erase_my_content(); });
}

v1::ClientMessage delete_question(const std::string& room, std::uint64_t id) {
  return room_command(room, [id](v1::ClientMessage& m) { m.mutable_delete_question()->set_question_id(id); });
}

bool deletes(const v1::Event& event, std::uint64_t id) {
  return event.has_question_deleted() && event.question_deleted().id() == id;
}

// An event as it would look for any question and at any time: what is left
// is its form (which fields it has and what they say about who).
std::string form_of(v1::Event event) {
  event.clear_seq();
  event.clear_at();
  auto* question = event.mutable_question_deleted();
  question->clear_id();
  question->clear_asked_at();
  return event.ShortDebugString();
}

// The JSON transcript's lines about question `id`, and whether any of them
// or the erasure's own line names it.
std::vector<boost::json::object> lines_about(const boost::json::array& lines, std::uint64_t id) {
  std::vector<boost::json::object> out;
  for (const auto& line : lines) {
    const auto& object = line.as_object();
    const bool asked = object.at("seq").to_number<std::uint64_t>() == id;
    const bool names = object.contains("item") && object.at("item").to_number<std::uint64_t>() == id;
    if (asked || names) out.push_back(object);
  }
  return out;
}

// docs/protocol.md 2.26 and docs/privacy.md: Pat asks one question under
// her name and two anonymously (one open, one pending), then erases. Her
// anonymous questions go as two plain deletions, each exactly like the one
// Kim makes of her own anonymous question: no actor, no author, a seq of
// its own; the erasure's event lists only her named items, for a
// participant and for a moderator alike; a later snapshot shows them as
// any deleted question; and neither transcript ties them to her (no line
// about them names her, and the erasure names no item).
TEST(Anonymity, ErasingDeletesAnonymousQuestionsAsPlainDeletionsNotTiedToTheEraser) {
  RedisProcess redis;
  ServerProcess node_a(redis.node_args());
  ServerProcess node_b(redis.node_args());
  const std::string host_token = ServerProcess::token("host", "ama", "Dr. Ada", "ada");
  WsClient host(node_a.port());
  host.request_ok(hello(host_token));
  host.request_ok(create_room("ama", v1::ROOM_KIND_AMA, /*approval=*/false, /*side_chat=*/true));
  WsClient pat(node_a.port());
  pat.request_ok(hello(ServerProcess::token("participant", "ama", "Pat Secretname", "pat")));
  pat.request_ok(join("ama"));
  WsClient kim(node_b.port());
  kim.request_ok(join("ama", "Kim"));
  WsClient ben(node_b.port(), Encoding::binary);
  ben.request_ok(join("ama", "Ben"));
  WsClient mo(node_b.port());
  mo.request_ok(hello(ServerProcess::token("moderator", "ama", "Mo", "mo")));
  mo.request_ok(join("ama"));

  const auto named = pat.request_ok(ask("ama", "pat named question")).accepted().seq();
  const auto open = pat.request_ok(ask("ama", "pat anonymous worry", /*anonymous=*/true)).accepted().seq();
  const auto said = pat.request_ok(say("ama", "pat chat words")).accepted().seq();
  const auto kims = kim.request_ok(ask("ama", "kim anonymous question", /*anonymous=*/true)).accepted().seq();
  v1::ClientMessage approval_on = update_settings("ama",
                                                  [] {
                                                    v1::RoomSettings settings;
                                                    settings.set_require_approval(true);
                                                    return settings;
                                                  }(),
                                                  {"require_approval"});
  host.request_ok(approval_on);
  const auto pending =
      pat.request_ok(ask("ama", "pat anonymous pending", /*anonymous=*/true)).accepted().seq();

  // An ordinary deletion, to compare with: Kim deletes her own.
  const auto kim_deleted = kim.request_ok(delete_question("ama", kims)).accepted().seq();
  const auto ordinary_for_ben = ben.next_event_where([&](const v1::Event& e) { return deletes(e, kims); });
  const auto ordinary_for_mo = mo.next_event_where([&](const v1::Event& e) { return deletes(e, kims); });
  EXPECT_EQ(ordinary_for_ben.seq(), kim_deleted);
  EXPECT_FALSE(ordinary_for_ben.has_actor()) << "an anonymous author's own deletion names nobody";

  const auto erased = pat.request_ok(erase("ama")).accepted().seq();

  // A participant: the open anonymous question goes by a deletion of its
  // own, shaped like Kim's; the erasure lists the named items only.
  const auto for_ben = ben.next_event_where([&](const v1::Event& e) { return deletes(e, open); });
  EXPECT_EQ(form_of(for_ben), form_of(ordinary_for_ben));
  EXPECT_LT(for_ben.seq(), erased) << "a deletion of its own, before the erasure";
  const auto erasure_for_ben =
      ben.next_event_where([](const v1::Event& e) { return e.has_content_erased(); });
  EXPECT_EQ(erasure_for_ben.seq(), erased);
  ASSERT_EQ(erasure_for_ben.content_erased().questions_size(), 1);
  EXPECT_EQ(erasure_for_ben.content_erased().questions(0).id(), named);
  ASSERT_EQ(erasure_for_ben.content_erased().messages_size(), 1);
  EXPECT_EQ(erasure_for_ben.content_erased().messages(0).id(), said);

  // A moderator: both anonymous questions (the pending one too), each as
  // Kim's was; the erasure's staff copy lists no anonymous question either.
  for (const auto id : {open, pending}) {
    const auto for_mo = mo.next_event_where([&](const v1::Event& e) { return deletes(e, id); });
    EXPECT_EQ(form_of(for_mo), form_of(ordinary_for_mo)) << "question " << id;
    EXPECT_LT(for_mo.seq(), erased);
  }
  const auto erasure_for_mo = mo.next_event_where([](const v1::Event& e) { return e.has_content_erased(); });
  EXPECT_FALSE(erasure_for_mo.has_actor());
  for (const auto& question : erasure_for_mo.content_erased().questions()) {
    EXPECT_NE(question.id(), open);
    EXPECT_NE(question.id(), pending);
  }

  // Later snapshots: the anonymous questions are deleted as Kim's is.
  WsClient late_mo(node_a.port());
  late_mo.request_ok(hello(ServerProcess::token("moderator", "ama", "Mo Two", "mo2")));
  const auto snapshot = late_mo.request_ok(join("ama")).snapshot();
  std::map<std::uint64_t, v1::Question> shown;
  for (const auto& question : snapshot.questions()) shown[question.id()] = question;
  for (const auto id : {open, pending}) {
    if (!shown.contains(id)) continue;  // as Kim's, if deleted ones are left out
    v1::Question mine = shown[id];
    v1::Question hers = shown.contains(kims) ? shown[kims] : v1::Question();
    for (auto* question : {&mine, &hers}) {
      question->clear_id();
      question->clear_asked_at();
    }
    EXPECT_EQ(mine.ShortDebugString(), hers.ShortDebugString()) << "question " << id;
  }
  EXPECT_EQ(shown.contains(open), shown.contains(kims));
  EXPECT_EQ(snapshot.SerializeAsString().find("pat anonymous"), std::string::npos);

  // The transcripts: the lines about each anonymous question read as
  // Kim's do (asked, deleted, by "Anonymous", with no user id), and the
  // erasure's line names no item.
  const auto json = http_request(node_b.port(), http::verb::get, "/rooms/ama/transcript?format=json",
                                 "Bearer " + host_token);
  ASSERT_EQ(json.result_int(), 200);
  const auto transcript = boost::json::parse(json.body()).as_object();
  const auto& lines = transcript.at("entries").as_array();
  const auto strip = [](std::vector<boost::json::object> about) {
    for (auto& line : about) {
      for (const char* key : {"seq", "at", "item"}) line.erase(key);
    }
    return boost::json::serialize(boost::json::value_from(about));
  };
  EXPECT_EQ(strip(lines_about(lines, open)), strip(lines_about(lines, kims)));
  EXPECT_EQ(lines_about(lines, open).size(), 2u) << "asked, deleted";
  for (const auto& line : lines) {
    const auto& object = line.as_object();
    if (object.at("seq").to_number<std::uint64_t>() != erased) continue;
    EXPECT_FALSE(object.contains("item")) << boost::json::serialize(object);
    EXPECT_FALSE(object.contains("text")) << boost::json::serialize(object);
  }
  const auto markdown = http_request(node_b.port(), http::verb::get, "/rooms/ama/transcript?format=markdown",
                                     "Bearer " + host_token);
  ASSERT_EQ(markdown.result_int(), 200);
  for (const auto* body : {&json.body(), &markdown.body()}) {
    EXPECT_EQ(body->find("pat anonymous"), std::string::npos) << *body;
    EXPECT_EQ(body->find("Pat Secretname"), std::string::npos) << *body;
  }
}

// docs/privacy.md: a transcript never names an anonymous person's comings
// and goings, which would sit beside what they asked anonymously then;
// signed-in people's stay, and the anonymous are counted where people come
// in numbers.
TEST(Anonymity, TranscriptsDoNotNameAnonymousPeopleComingAndGoing) {
  ServerProcess server;
  const auto host_token = ServerProcess::token("host", "ama", "Dr. Ada", "ada");
  WsClient host(server.port());
  host.request_ok(hello(host_token));
  host.request_ok(create_room("ama", v1::ROOM_KIND_AMA));
  WsClient robin(server.port());
  const auto robin_id = robin.request_ok(join("ama", "Robin Secretname")).snapshot().you().user_id();
  robin.request_ok(ask("ama", "robin anonymous question", /*anonymous=*/true));
  robin.request_ok(leave_room("ama"));
  WsClient nia(server.port());
  nia.request_ok(join("ama", "", ServerProcess::token("participant", "ama", "Nia", "nia")));
  for (const char* format : {"json", "markdown"}) {
    const auto response =
        http_request(server.port(), http::verb::get, std::string("/rooms/ama/transcript?format=") + format,
                     "Bearer " + host_token);
    ASSERT_EQ(response.result_int(), 200);
    EXPECT_NE(response.body().find("robin anonymous question"), std::string::npos) << "the question is there";
    EXPECT_EQ(response.body().find("Robin Secretname"), std::string::npos) << response.body();
    EXPECT_EQ(response.body().find(robin_id), std::string::npos) << response.body();
    EXPECT_NE(response.body().find("Nia"), std::string::npos) << "a signed-in person's join stays";
  }
}

// The erasure's own deletions go through in a closed room too (erasing is a
// right there, docs/protocol.md 2.26), where a plain deletion is refused.
TEST(Anonymity, AnAnonymousQuestionGoesWithItsAuthorsErasureInAClosedRoom) {
  ServerProcess server;
  WsClient host(server.port());
  const std::string host_token = ServerProcess::token("host", "ama", "Dr. Ada", "ada");
  host.request_ok(hello(host_token));
  host.request_ok(create_room("ama", v1::ROOM_KIND_AMA));
  WsClient ash(server.port());
  ash.request_ok(join("ama", "Ash"));
  const auto asked = ash.request_ok(ask("ama", "ash anonymous", /*anonymous=*/true)).accepted().seq();
  host.request_ok(room_command("ama", [](v1::ClientMessage& m) { m.mutable_close_room(); }));
  EXPECT_EQ(ash.request_error(delete_question("ama", asked)).code(), v1::ROOM_CLOSED);

  ash.request_ok(erase("ama"));
  const auto gone = host.next_event_where([&](const v1::Event& e) { return deletes(e, asked); });
  EXPECT_FALSE(gone.has_actor());
  EXPECT_EQ(gone.question_deleted().state(), v1::QUESTION_STATE_DELETED);
  const auto transcript = http_request(server.port(), http::verb::get,
                                       "/rooms/ama/transcript?format=markdown", "Bearer " + host_token);
  ASSERT_EQ(transcript.result_int(), 200);
  EXPECT_EQ(transcript.body().find("ash anonymous"), std::string::npos) << transcript.body();
  EXPECT_NE(transcript.body().find("deleted question " + std::to_string(asked)), std::string::npos)
      << transcript.body();
}

}  // namespace
}  // namespace hearth::testing
