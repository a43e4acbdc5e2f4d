// Resume and races across two nodes on one real redis-server, where real
// bugs hide: a member who resumes on the other node gets exactly what a
// member who stayed got live; a mute or ban racing a flood from two nodes
// leaves one stream that everyone agrees on; a join on a cold node while
// others post misses nothing and sees nothing twice; a kick or ban reaches
// every connection of its target. The contract is docs/protocol.md 1.4
// (ordering), 1.10 (resuming) and 1.11 (several nodes).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

using Match = std::function<bool(const v1::Event&)>;

// Presence news, which only staff get (membersChanged).
Match joined_by(const std::string& user_id) {
  return [user_id](const v1::Event& e) { return says_joined(e, user_id); };
}
Match left_by(const std::string& user_id) {
  return [user_id](const v1::Event& e) { return says_left(e, user_id) != nullptr; };
}
Match posted(const std::string& text) {
  return [text](const v1::Event& e) { return e.has_message_posted() && e.message_posted().text() == text; };
}

// Every event `client` has kept or reads, up to and including the first that
// matches `last`.
std::vector<v1::Event> events_until(WsClient& client, const Match& last,
                                    std::chrono::milliseconds timeout = 10s) {
  std::vector<v1::Event> events;
  for (;;) {
    events.push_back(client.next_event(timeout));
    if (last(events.back())) return events;
  }
}

std::vector<std::string> described(const std::vector<v1::Event>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) out.push_back(event.DebugString());
  return out;
}

class TwoNodes : public ::testing::Test {
 protected:
  static std::string token(const std::string& role, const std::string& sub, const std::string& name) {
    return ServerProcess::token(role, "r", name, sub);
  }

  // Pat joins room "r" on node A, then Tam (node A) and Zed (node B); Pat's
  // connection drops, and `staff` hears so before the room goes on (else
  // Pat's old connection might still be present when Pat comes back, and
  // neither its leaving nor the new join would be an event). Tam is Pat's
  // twin: a participant with nothing of their own in the room, who sees
  // what Pat would have seen, and stays. Participants hear nothing of
  // arrivals and departures but Presence pushes, so the last seq Pat saw is
  // that of Pat's snapshot.
  struct PatAway {
    std::string pat_token;
    v1::RoomSnapshot snapshot;       // Pat's, from the join
    std::uint64_t pat_last = 0;      // the last seq Pat saw
  };
  PatAway pat_joins_and_drops(WsClient& staff, WsClient& tam, WsClient& zed) {
    PatAway away;
    away.pat_token = token("participant", "pat", "Pat");
    auto pat = std::make_unique<WsClient>(node_a_.port());
    away.snapshot = pat->request_ok(join("r", "", away.pat_token)).snapshot();
    tam.request_ok(join("r", "", token("participant", "tam", "Tam")));
    zed.request_ok(join("r", "", token("participant", "zed", "Zed")));
    events_until(staff, joined_by("zed"));
    away.pat_last = away.snapshot.seq();
    pat.reset();
    events_until(staff, left_by("pat"));
    return away;
  }

  RedisProcess redis_;
  ServerProcess node_a_{redis_.node_args()};
  ServerProcess node_b_{redis_.node_args()};
};

// ---------------------------------------------------------------------------
// Resuming on the other node
// ---------------------------------------------------------------------------

TEST_F(TwoNodes, ResumeOnTheOtherNodeReplaysExactlyWhatAMemberWhoStayedGotLive) {
  WsClient host(node_a_.port());
  host.request_ok(hello(token("host", "ada", "Dr. Ada")));
  auto create = create_room("r", v1::ROOM_KIND_AMA, /*approval=*/true, /*side_chat=*/true);
  create.mutable_create_room()->mutable_settings()->set_crisis_policy(v1::CRISIS_POLICY_HOLD);
  host.request_ok(create);
  WsClient moderator(node_a_.port());
  moderator.request_ok(join("r", "", token("moderator", "mo", "Mo")));
  WsClient tam(node_a_.port()), zed(node_b_.port());
  const auto [pat_token, snapshot, pat_last] = pat_joins_and_drops(host, tam, zed);

  // Meanwhile, on both nodes: a question approved, one dismissed, one still
  // pending, a held message read as CRISIS, a report, a vote,
  // an answer, chat.
  const auto approved = zed.request_ok(ask("r", "approved later")).accepted().seq();
  host.request_ok(
      room_command("r", [&](auto& m) { m.mutable_approve_question()->set_question_id(approved); }));
  const auto dismissed = zed.request_ok(ask("r", "dismissed soon")).accepted().seq();
  host.request_ok(
      room_command("r", [&](auto& m) { m.mutable_dismiss_question()->set_question_id(dismissed); }));
  zed.request_ok(ask("r", "still pending"));
  const auto held = zed.request_ok(say("r", "Some nights I want to end my life.")).accepted();
  EXPECT_FALSE(held.support().empty()) << "the shipped phrases catch it, and the room holds it";
  const auto hello_all = moderator.request_ok(say("r", "hello all")).accepted().seq();
  zed.request_ok(room_command("r", [&](auto& m) {
    m.mutable_report_item()->set_message_id(hello_all);
    m.mutable_report_item()->set_reason("testing");
  }));
  zed.request_ok(vote("r", approved));
  host.request_ok(room_command("r", [&](auto& m) {
    m.mutable_answer_question()->set_question_id(approved);
    m.mutable_answer_question()->set_text("an answer");
  }));

  // Pat comes back through node B, from the last seq Pat saw.
  WsClient back(node_b_.port());
  const auto reply = back.request(join_resuming("r", snapshot.epoch(), pat_last, pat_token), 10s);
  ASSERT_TRUE(reply.has_ok() && reply.ok().has_resumed()) << reply.DebugString();
  const auto& resumed = reply.ok().resumed();
  // What Tam got live up to the room's position at Pat's return (Pat's own
  // join, which staff hear of): the host's marker ends the wait.
  const auto pat_back = events_until(host, joined_by("pat")).back().seq();
  host.request_ok(say("r", "marker"));
  std::vector<v1::Event> live;
  for (auto& event : events_until(tam, posted("marker"))) {
    if (event.seq() <= resumed.seq()) live.push_back(std::move(event));
  }
  ASSERT_FALSE(live.empty());

  const std::vector<v1::Event> replayed(back.events().begin(), back.events().end());
  EXPECT_EQ(described(replayed), described(live)) << "the replay is what Tam got live, as Tam got it";
  EXPECT_EQ(resumed.epoch(), snapshot.epoch());
  EXPECT_EQ(resumed.from_seq(), pat_last);
  EXPECT_EQ(resumed.seq(), pat_back) << "the room's position: Pat's own join";
  EXPECT_EQ(resumed.replayed(), replayed.size());
  for (const auto& event : replayed) {
    EXPECT_FALSE(event.has_item_reported() || event.has_alert()) << "staff only: " << event.DebugString();
    const auto text = event.DebugString();
    for (const char* hidden : {"dismissed soon", "still pending", "end my life"}) {
      EXPECT_EQ(text.find(hidden), std::string::npos) << "never Pat's to see: " << text;
    }
  }

  // Then live events, every one above resumed.seq: the marker first.
  back.events().clear();
  EXPECT_GT(back.next_event_where(posted("marker")).seq(), resumed.seq());
  const auto after = host.request_ok(say("r", "after the return")).accepted().seq();
  const auto next = back.next_event();
  EXPECT_EQ(next.seq(), after);
  EXPECT_GT(next.seq(), resumed.seq());
}

TEST_F(TwoNodes, AnErasureInTheGapMeansAFreshSnapshotButJustBeforeItAReplay) {
  WsClient host(node_a_.port());
  host.request_ok(hello(token("host", "ada", "Dr. Ada")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient tam(node_a_.port()), zed(node_b_.port());
  const auto [pat_token, snapshot, pat_last] = pat_joins_and_drops(host, tam, zed);

  zed.request_ok(say("r", "zed's first words"));
  zed.request_ok(say("r", "zed's second words"));
  const auto erased =
      zed.request_ok(room_command("r", [](auto& m) { m.mutable_erase_my_content(); })).accepted().seq();
  const auto erasure = events_until(tam, [](const v1::Event& e) { return e.has_content_erased(); }).back();
  EXPECT_EQ(erasure.seq(), erased);
  ASSERT_GT(erased - 1, pat_last) << "the gap holds Zed's words";

  // From before Zed's words: nothing erased may be replayed, so a snapshot.
  WsClient back(node_b_.port());
  const auto reply = back.request(join_resuming("r", snapshot.epoch(), pat_last, pat_token), 10s);
  ASSERT_TRUE(reply.has_ok() && reply.ok().has_snapshot()) << reply.DebugString();
  EXPECT_EQ(reply.ok().snapshot().resume_failed(), v1::RESUME_FAILURE_TRIMMED);
  EXPECT_TRUE(back.events().empty()) << "no partial replay";
  EXPECT_EQ(reply.ok().snapshot().DebugString().find("zed's"), std::string::npos);
  EXPECT_EQ(reply.ok().snapshot().messages_size(), 2) << "two tombstones";

  // From the seq just before the erasure: replayed, starting with it.
  WsClient just_before(node_a_.port());
  const auto again = just_before.request(join_resuming("r", snapshot.epoch(), erased - 1, pat_token), 10s);
  ASSERT_TRUE(again.has_ok() && again.ok().has_resumed()) << again.DebugString();
  ASSERT_FALSE(just_before.events().empty());
  EXPECT_TRUE(just_before.events().front().has_content_erased());
  EXPECT_EQ(just_before.events().front().seq(), erased);
  for (const auto& event : just_before.events())
    EXPECT_EQ(event.DebugString().find("zed's"), std::string::npos);
}

TEST_F(TwoNodes, AJoinWithResumeIsCheckedAsAnyJoin) {
  WsClient host(node_a_.port());
  host.request_ok(hello(token("host", "ada", "Dr. Ada")));
  auto create = create_room("r", v1::ROOM_KIND_SUPPORT);
  create.mutable_create_room()->mutable_settings()->set_invite_only(true);
  const auto epoch = host.request_ok(create).snapshot().epoch();
  const auto invite =
      host.request_ok(room_command("r", [](auto& m) { m.mutable_create_invite()->set_ttl_seconds(600); }))
          .invite()
          .token();
  auto with_invite = [&](v1::ClientMessage message) {
    message.mutable_join_room()->set_invite(invite);
    return message;
  };
  const std::string pat_token = ServerProcess::token("participant", "*", "Pat", "pat");
  const std::string lou_token = ServerProcess::token("participant", "*", "Lou", "lou");
  std::uint64_t pat_last = 0;
  {
    WsClient pat(node_a_.port());
    pat_last = pat.request_ok(with_invite(join("r", "", pat_token))).snapshot().seq();
    WsClient lou(node_a_.port());
    lou.request_ok(with_invite(join("r", "", lou_token)));
  }

  // A private room: the invite again with every join, resumes included
  // (docs/protocol.md 1.12).
  WsClient pat(node_b_.port());
  EXPECT_EQ(pat.request_error(join_resuming("r", epoch, pat_last, pat_token)).code(), v1::INVITE_REQUIRED);
  const auto back = pat.request(with_invite(join_resuming("r", epoch, pat_last, pat_token)));
  EXPECT_TRUE(back.has_ok() && back.ok().has_resumed()) << back.DebugString();

  // Banned while away: no resume lets them in, invite or not.
  host.request_ok(room_command("r", [](auto& m) {
    m.mutable_ban_member()->set_user_id("lou");
    m.mutable_ban_member()->set_banned(true);
  }));
  WsClient lou(node_b_.port());
  EXPECT_EQ(lou.request_error(with_invite(join_resuming("r", epoch, pat_last, lou_token))).code(),
            v1::BANNED);

  // Closed: nobody comes back in.
  host.request_ok(room_command("r", [](auto& m) { m.mutable_close_room(); }));
  WsClient again(node_a_.port());
  EXPECT_EQ(again.request_error(with_invite(join_resuming("r", epoch, pat_last, pat_token))).code(),
            v1::ROOM_CLOSED);
}

// docs/protocol.md 1.10: a replay longer than half of --send-queue-frames is
// not sent; a fresh snapshot flagged TRIMMED comes instead.
TEST(ResumeWindow, AReplayLongerThanHalfTheSendQueueBecomesASnapshot) {
  RedisProcess redis;
  auto args = redis.node_args();
  args.insert(args.end(), {"--send-queue-frames", "20"});
  ServerProcess node_a(args);
  ServerProcess node_b(args);
  WsClient host(node_a.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Dr. Ada", "ada")));
  const auto snapshot = host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT)).snapshot();
  std::vector<std::uint64_t> said;
  for (int i = 0; i < 30; ++i)
    said.push_back(host.request_ok(say("r", "m" + std::to_string(i))).accepted().seq());

  WsClient near(node_b.port());
  const auto short_gap = near.request(join_resuming("r", snapshot.epoch(), said[24]));
  ASSERT_TRUE(short_gap.has_ok() && short_gap.ok().has_resumed()) << short_gap.DebugString();
  std::vector<std::uint64_t> replayed_messages;
  for (const auto& event : near.events()) {
    if (event.has_message_posted()) replayed_messages.push_back(event.seq());
  }
  EXPECT_EQ(replayed_messages, std::vector<std::uint64_t>(said.begin() + 25, said.end()));

  WsClient far(node_b.port());
  const auto long_gap = far.request(join_resuming("r", snapshot.epoch(), said[4]));
  ASSERT_TRUE(long_gap.has_ok() && long_gap.ok().has_snapshot()) << long_gap.DebugString();
  EXPECT_EQ(long_gap.ok().snapshot().resume_failed(), v1::RESUME_FAILURE_TRIMMED);
  EXPECT_EQ(long_gap.ok().snapshot().messages_size(), 30);
  EXPECT_TRUE(far.events().empty()) << "no partial replay";
}

// ---------------------------------------------------------------------------
// Moderation racing a flood from two nodes
// ---------------------------------------------------------------------------

// Flo floods from a connection on each node while a moderator on node B
// acts (`moderate`). Every post is either accepted, its event having reached
// Flo's connection before the reply (docs/protocol.md 1.4), and seen by
// every member at the same seq, or refused with one of `refusals` and seen
// by nobody; and every member sees the same stream.
void flood_while_moderating(std::uint16_t port_a, std::uint16_t port_b,
                            const std::function<void(v1::ClientMessage&)>& moderate,
                            const std::set<v1::ErrorCode>& refusals) {
  WsClient host(port_a);
  host.request_ok(hello(ServerProcess::token("host", "r", "Dr. Ada", "ada")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient moderator(port_b);
  moderator.request_ok(join("r", "", ServerProcess::token("moderator", "r", "Mo", "mo")));
  WsClient watcher_a(port_a), watcher_b(port_b, Encoding::binary);
  watcher_a.request_ok(join("r", "Wan"));
  watcher_b.request_ok(join("r", "Wes"));
  const std::string flo_token = ServerProcess::token("participant", "r", "Flo", "flo");
  WsClient flo_a(port_a), flo_b(port_b);
  flo_a.request_ok(join("r", "", flo_token));
  flo_b.request_ok(join("r", "", flo_token));

  constexpr int kPosts = 100;
  std::map<std::uint32_t, std::string> sent_a, sent_b;  // request id -> text
  for (int i = 0; i < kPosts; ++i) {
    const std::string a = "from a " + std::to_string(i), b = "from b " + std::to_string(i);
    sent_a[flo_a.send(say("r", a))] = a;
    sent_b[flo_b.send(say("r", b))] = b;
  }
  moderator.request_ok(room_command("r", moderate));

  // Each of Flo's connections: the replies, and the events read before each.
  std::map<std::string, std::uint64_t> accepted;  // text -> seq
  std::set<std::string> refused;
  for (auto [flo, sent] : {std::pair{&flo_a, &sent_a}, std::pair{&flo_b, &sent_b}}) {
    std::set<std::uint64_t> seen;
    std::size_t answered = 0;
    while (answered < sent->size()) {
      const auto message = flo->next(10s);
      ASSERT_TRUE(message) << "a reply is missing";
      if (message->has_presence()) continue;
      if (message->has_event()) {
        seen.insert(message->event().seq());
        continue;
      }
      const auto& reply = message->reply();
      ASSERT_TRUE(sent->contains(reply.request_id())) << reply.DebugString();
      ++answered;
      const std::string& text = sent->at(reply.request_id());
      if (reply.has_ok()) {
        accepted[text] = reply.ok().accepted().seq();
        EXPECT_TRUE(seen.contains(reply.ok().accepted().seq()))
            << "the event comes before the reply: " << text;
      } else {
        EXPECT_TRUE(refusals.contains(reply.error().code())) << reply.DebugString();
        refused.insert(text);
      }
    }
  }
  EXPECT_EQ(accepted.size() + refused.size(), 2u * kPosts);

  // Every member's stream, up to the host's closing word.
  host.request_ok(say("r", "that's all"));
  std::vector<std::vector<std::pair<std::uint64_t, std::string>>> streams;
  for (auto* member : {&watcher_a, &watcher_b, &host, &moderator}) {
    auto& stream = streams.emplace_back();
    for (const auto& event : events_until(*member, posted("that's all"))) {
      if (event.has_message_posted()) stream.emplace_back(event.seq(), event.message_posted().text());
    }
  }
  for (std::size_t i = 1; i < streams.size(); ++i) EXPECT_EQ(streams[i], streams[0]) << "member " << i;
  std::map<std::string, std::uint64_t> in_stream;
  for (const auto& [seq, text] : streams[0]) in_stream[text] = seq;
  for (const auto& [text, seq] : accepted) EXPECT_EQ(in_stream[text], seq) << text;
  for (const auto& text : refused) EXPECT_FALSE(in_stream.contains(text)) << "refused, yet seen: " << text;
  // And once the moderation is in, Flo can post no more, on either node.
  for (auto* flo : {&flo_a, &flo_b}) {
    const auto after = flo->request(say("r", "after"));
    ASSERT_TRUE(after.has_error());
    EXPECT_TRUE(refusals.contains(after.error().code())) << after.DebugString();
  }
}

TEST_F(TwoNodes, AMuteRacingAFloodFromTwoNodesLeavesOneStreamEveryoneAgreesOn) {
  flood_while_moderating(node_a_.port(), node_b_.port(),
                         [](v1::ClientMessage& m) {
                           m.mutable_mute_member()->set_user_id("flo");
                           m.mutable_mute_member()->set_muted(true);
                         },
                         {v1::MUTED});
}

TEST_F(TwoNodes, ABanRacingAFloodFromTwoNodesLeavesOneStreamEveryoneAgreesOn) {
  flood_while_moderating(node_a_.port(), node_b_.port(),
                         [](v1::ClientMessage& m) {
                           m.mutable_ban_member()->set_user_id("flo");
                           m.mutable_ban_member()->set_banned(true);
                         },
                         {v1::BANNED, v1::NOT_IN_ROOM});
}

// ---------------------------------------------------------------------------
// One person's double vote from two nodes
// ---------------------------------------------------------------------------

// Pat votes for each of 20 questions from both nodes at once. Each pair is
// two appended entries, but one vote: one reply carries its seq, the other
// seq 0 as any repeated vote does (docs/protocol.md 1.4, 2.9), and members
// hear one questionVotes per question.
TEST_F(TwoNodes, OnePersonsVoteFromTwoNodesAtOnceCountsOnceAndTheOtherIsANoOp) {
  WsClient host(node_a_.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Dr. Ada", "ada")));
  host.request_ok(create_room("r", v1::ROOM_KIND_AMA));
  WsClient watcher(node_b_.port());
  watcher.request_ok(join("r", "Wes"));
  std::vector<std::uint64_t> questions;
  for (int i = 0; i < 20; ++i)
    questions.push_back(host.request_ok(ask("r", "q" + std::to_string(i))).accepted().seq());
  const std::string pat_token = ServerProcess::token("participant", "r", "Pat", "pat");
  WsClient pat_a(node_a_.port()), pat_b(node_b_.port());
  pat_a.request_ok(join("r", "", pat_token));
  pat_b.request_ok(join("r", "", pat_token));
  std::vector<std::pair<std::uint32_t, std::uint32_t>> sent;
  for (const auto q : questions) sent.emplace_back(pat_a.send(vote("r", q)), pat_b.send(vote("r", q)));
  std::map<std::uint64_t, std::uint64_t> accepted_seq;  // question -> the seq its vote was accepted with
  for (std::size_t i = 0; i < questions.size(); ++i) {
    const auto a = pat_a.reply_to(sent[i].first, 10s), b = pat_b.reply_to(sent[i].second, 10s);
    ASSERT_TRUE(a.has_ok() && b.has_ok()) << a.DebugString() << b.DebugString();
    std::vector<std::uint64_t> seqs{a.ok().accepted().seq(), b.ok().accepted().seq()};
    std::sort(seqs.begin(), seqs.end());
    EXPECT_EQ(seqs[0], 0u) << "question " << questions[i] << ": the second vote changed nothing";
    EXPECT_GT(seqs[1], 0u) << "question " << questions[i] << ": the first vote counted";
    accepted_seq[questions[i]] = seqs[1];
  }
  host.request_ok(ask("r", "the end"));
  const auto the_end = [](const v1::Event& e) {
    return e.has_question_asked() && e.question_asked().text() == "the end";
  };
  // Every member, the voter's own two connections included, hears each vote
  // once, under the seq its sender was told (protocol 1.4): no seq goes to
  // a sender that nobody will ever see.
  for (WsClient* member : {&watcher, &pat_a, &pat_b}) {
    std::map<std::uint64_t, int> votes_events;
    for (const auto& event : events_until(*member, the_end)) {
      if (!event.has_question_votes()) continue;
      const auto q = event.question_votes().question_id();
      ++votes_events[q];
      EXPECT_EQ(event.question_votes().votes(), 1u);
      EXPECT_EQ(event.seq(), accepted_seq[q]) << "question " << q << ": the event is not the accepted vote";
    }
    for (const auto q : questions) EXPECT_EQ(votes_events[q], 1) << "question " << q;
  }
}

// ---------------------------------------------------------------------------
// A join on a cold node while others post
// ---------------------------------------------------------------------------

TEST_F(TwoNodes, AJoinOnAColdNodeDuringPostsSeesEveryLaterEventExactlyOnce) {
  WsClient host(node_a_.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Dr. Ada", "ada")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient poster(node_a_.port());
  poster.request_ok(join("r", "Poe"));
  constexpr int kPosts = 300;
  std::vector<std::uint32_t> requests;
  for (int i = 0; i < kPosts; ++i) requests.push_back(poster.send(say("r", "post " + std::to_string(i))));

  // Node B has no member of the room yet: it opens it from the log while
  // the posts go on.
  WsClient joiner(node_b_.port());
  const auto snapshot = joiner.request_ok(join("r", "Jo"), 10s).snapshot();

  std::set<std::uint64_t> accepted;
  for (const auto id : requests) {
    const auto reply = poster.reply_to(id, 10s);
    ASSERT_TRUE(reply.has_ok()) << reply.DebugString();
    accepted.insert(reply.ok().accepted().seq());
  }
  const auto last = host.request_ok(say("r", "the end")).accepted().seq();
  std::vector<std::uint64_t> heard;
  for (const auto& event : events_until(joiner, posted("the end"))) {
    EXPECT_GT(event.seq(), snapshot.seq()) << "an event the snapshot already held";
    if (!heard.empty()) {
      EXPECT_GT(event.seq(), heard.back()) << "out of order, or twice";
    }
    heard.push_back(event.seq());
  }
  std::set<std::uint64_t> expected{last};
  for (const auto seq : accepted) {
    if (seq > snapshot.seq()) expected.insert(seq);
  }
  EXPECT_EQ(std::set<std::uint64_t>(heard.begin(), heard.end()), expected) << "every later post exactly once";
  // What the snapshot held: the posts up to its seq (the newest 200 of them,
  // docs/protocol.md 4).
  std::set<std::uint64_t> in_snapshot;
  for (const auto& message : snapshot.messages()) in_snapshot.insert(message.id());
  std::vector<std::uint64_t> before;
  for (const auto seq : accepted) {
    if (seq <= snapshot.seq()) before.push_back(seq);
  }
  if (before.size() > 200) before.erase(before.begin(), before.end() - 200);
  EXPECT_EQ(in_snapshot, std::set<std::uint64_t>(before.begin(), before.end()));
}

// ---------------------------------------------------------------------------
// One person on two nodes
// ---------------------------------------------------------------------------

TEST_F(TwoNodes, AKickOrBanReachesEveryConnectionOfItsTarget) {
  WsClient host(node_a_.port());
  host.request_ok(hello(ServerProcess::token("host", "r", "Dr. Ada", "ada")));
  host.request_ok(create_room("r", v1::ROOM_KIND_SUPPORT));
  WsClient watcher(node_b_.port());
  watcher.request_ok(join("r", "Wes"));
  const std::string tee_token = ServerProcess::token("participant", "r", "Tee", "tee");
  WsClient tee_a(node_a_.port()), tee_b(node_b_.port());
  tee_a.request_ok(join("r", "", tee_token));
  tee_b.request_ok(join("r", "", tee_token));

  host.request_ok(room_command("r", [](auto& m) { m.mutable_kick_member()->set_user_id("tee"); }));
  for (auto* tee : {&tee_a, &tee_b}) {
    const auto kicked = tee->next_event_where(
        [](const v1::Event& e) { return e.has_member_left() && e.member_left().person().user_id() == "tee"; });
    EXPECT_EQ(kicked.member_left().reason(), v1::MemberLeft::REASON_KICKED);
    EXPECT_EQ(tee->request_error(say("r", "still here?")).code(), v1::NOT_IN_ROOM);
  }
  // They may come back (on both nodes); the others heard one kick.
  tee_a.request_ok(join("r", "", tee_token));
  tee_b.request_ok(join("r", "", tee_token));
  host.request_ok(room_command("r", [](auto& m) {
    m.mutable_ban_member()->set_user_id("tee");
    m.mutable_ban_member()->set_banned(true);
  }));
  for (auto* tee : {&tee_a, &tee_b}) {
    EXPECT_TRUE(tee->next_event_where([](const v1::Event& e) { return e.has_member_banned(); })
                    .member_banned()
                    .banned());
    EXPECT_EQ(tee->request_error(say("r", "still here?")).code(), v1::NOT_IN_ROOM);
    EXPECT_EQ(tee->request_error(join("r", "", tee_token)).code(), v1::BANNED);
  }
  host.request_ok(say("r", "moving on"));
  int kicks = 0, joins = 0, bans = 0;
  for (const auto& event : events_until(host, posted("moving on"))) {
    if (event.has_member_left()) {
      ++kicks;
      EXPECT_EQ(event.member_left().reason(), v1::MemberLeft::REASON_KICKED);
    }
    joins += says_joined(event, "tee");
    bans += event.has_member_banned();
  }
  EXPECT_EQ(kicks, 1) << "one person was kicked, whatever their connections";
  EXPECT_EQ(joins, 2) << "Tee's first join and the one after the kick";
  EXPECT_EQ(bans, 1);
  // Moderation is between staff and the one it is done to: another
  // participant hears none of it.
  for (const auto& event : events_until(watcher, posted("moving on"))) {
    EXPECT_FALSE(event.has_member_left() || event.has_member_banned() || event.has_members_changed())
        << event.ShortDebugString();
  }
}

}  // namespace
}  // namespace hearth::testing
