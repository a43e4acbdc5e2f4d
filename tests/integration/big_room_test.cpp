// Big rooms (docs/protocol.md 1.15): thousands join one AMA at once. A
// participant never learns who the other participants are, and hears of a
// whole storm of arrivals in a few coalesced Presence pushes; staff hear of
// it in a few membersChanged events and can page through everyone; on two
// nodes the counts agree, also after one of them dies.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <memory>
#include <optional>
#include <set>

#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Every crowd member is one connection (and a test client holds a few
// descriptors for each): take all the descriptors this process may have.
void raise_descriptor_limit() {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  limit.rlim_cur = limit.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);
}

// `count` anonymous people named "Joiner-<i>", connected to `ports` in turn,
// all sending their join before any waits for its answer; returns once every
// one is in, with their user ids.
struct Crowd {
  std::vector<std::unique_ptr<WsClient>> clients;
  std::set<std::string> user_ids;

  Crowd(const std::vector<std::uint16_t>& ports, const std::string& room_id, int count) {
    std::vector<std::uint32_t> requests;
    for (int i = 0; i < count; ++i) {
      clients.push_back(std::make_unique<WsClient>(ports[static_cast<std::size_t>(i) % ports.size()]));
      requests.push_back(clients.back()->send(join(room_id, "Joiner-" + std::to_string(i))));
    }
    for (int i = 0; i < count; ++i) {
      const auto reply = clients[static_cast<std::size_t>(i)]->reply_to(requests[static_cast<std::size_t>(i)], 60s);
      if (!reply.has_ok() || !reply.ok().has_snapshot()) throw std::runtime_error("a join failed: " + reply.DebugString());
      const auto& snapshot = reply.ok().snapshot();
      user_ids.insert(snapshot.you().user_id());
      // A participant's snapshot lists the staff only: nobody of the crowd.
      for (const auto& member : snapshot.members()) {
        if (member.person().role() == v1::ROLE_PARTICIPANT) {
          throw std::runtime_error("a participant's snapshot lists a participant: " + member.ShortDebugString());
        }
      }
    }
  }
};

// Everything `client` receives until a Presence push matches `until`.
std::vector<v1::ServerMessage> read_until_presence(WsClient& client, const std::function<bool(const v1::Presence&)>& until,
                                                   std::chrono::seconds timeout) {
  std::vector<v1::ServerMessage> seen;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) throw std::runtime_error("no such presence push in time");
    auto message = client.next(left);
    if (!message) {
      throw std::runtime_error(Clock::now() < deadline ? "the connection closed while waiting for a presence push"
                                                       : "no such presence push in time");
    }
    seen.push_back(*message);
    if (message->has_presence() && until(message->presence())) return seen;
  }
}

std::function<bool(const v1::Presence&)> counts(std::uint32_t present) {
  return [present](const v1::Presence& p) { return p.present() == present; };
}

TEST(BigRoom, ParticipantsNeverSeeOneAnotherAndAStormIsAFewFramesToEveryone) {
  raise_descriptor_limit();
  constexpr int kCrowd = 2000;
  ServerProcess server({"--max-connections-per-ip", "0"});
  WsClient host(server.port());
  host.request_ok(hello(ServerProcess::token("host", "ama", "Dr. Ada", "ada")));
  host.request_ok(create_room("ama", v1::ROOM_KIND_AMA));
  WsClient watcher(server.port());
  const auto mine = watcher.request_ok(join("ama", "", ServerProcess::token("participant", "ama", "Wendy", "wendy")));
  ASSERT_EQ(mine.snapshot().present(), 2u);
  host.next_event_where([](const v1::Event& e) { return says_joined(e, "wendy"); });
  read_until_presence(watcher, counts(2), 15s);

  const auto storm = Clock::now();
  Crowd crowd({server.port()}, "ama", kCrowd);
  const std::uint32_t everyone = kCrowd + 2;
  const auto watched = read_until_presence(watcher, counts(everyone), 30s);
  const auto took = Clock::now() - storm;

  // What Wendy got meanwhile: Presence pushes, at most one every
  // --presence-push-ms (250) and the first at once, naming nobody of the
  // crowd, and no events at all.
  const auto allowed = static_cast<std::size_t>(took / 250ms) + 2;
  EXPECT_LE(watched.size(), allowed) << "over " << std::chrono::duration<double>(took).count() << " s";
  // However slow the machine (a storm of a minute would be 240 pushes): far
  // from one frame per joiner.
  EXPECT_LT(watched.size(), static_cast<std::size_t>(kCrowd / 4)) << "not one frame per joiner";
  for (const auto& message : watched) {
    ASSERT_TRUE(message.has_presence()) << message.ShortDebugString();
    const auto text = message.ShortDebugString();
    EXPECT_EQ(text.find("Joiner-"), std::string::npos) << text;
    EXPECT_EQ(text.find("anon:"), std::string::npos) << text;
    EXPECT_FALSE(message.presence().listed());
    ASSERT_EQ(message.presence().staff_size(), 1);
    EXPECT_EQ(message.presence().staff(0).person().user_id(), "ada");
  }

  // The host heard of every arrival exactly once, in a few membersChanged
  // events: at most one per --presence-batch-ms (20) and the first at once.
  std::multiset<std::string> arrivals;
  std::size_t events = 0;
  const auto deadline = Clock::now() + 30s;
  while (arrivals.size() < crowd.user_ids.size() && Clock::now() < deadline) {
    const auto event = host.next_event_where([](const v1::Event& e) { return e.has_members_changed(); }, 30s);
    ++events;
    for (const auto& member : event.members_changed().joined()) arrivals.insert(member.person().user_id());
  }
  EXPECT_EQ(std::set<std::string>(arrivals.begin(), arrivals.end()), crowd.user_ids);
  EXPECT_EQ(arrivals.size(), crowd.user_ids.size()) << "each arrival once";
  EXPECT_LE(events, static_cast<std::size_t>(took / 20ms) + 4) << "one per --presence-batch-ms, or per 1000 joins";

  // Staff page through everyone; a search finds one person among them.
  std::set<std::string> paged;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    const auto ok = host.request_ok(list_members("ama", "", after, 500)).members();
    EXPECT_EQ(ok.present(), everyone);
    for (const auto& member : ok.members()) {
      EXPECT_GT(member.person().user_id(), after) << "sorted by user id, after `after`";
      paged.insert(member.person().user_id());
    }
    after = ok.next();
    if (after.empty()) break;
  }
  EXPECT_EQ(paged.size(), everyone);
  const auto found = host.request_ok(list_members("ama", "joiner-1999")).members();
  ASSERT_EQ(found.members_size(), 1);
  EXPECT_EQ(found.members(0).person().display_name(), "Joiner-1999");
  EXPECT_TRUE(found.next().empty());
  EXPECT_EQ(watcher.request_error(list_members("ama")).code(), v1::PERMISSION_DENIED);
  EXPECT_EQ(host.request_error(list_members("ama", "", "", 501)).code(), v1::INVALID_ARGUMENT) << "500 a page at most";

  // A late participant sees how many, and the host, and nobody else.
  WsClient late(server.port());
  const auto snapshot = late.request_ok(join("ama", "Late")).snapshot();
  EXPECT_EQ(snapshot.present(), everyone + 1);
  EXPECT_FALSE(snapshot.listed());
  ASSERT_EQ(snapshot.members_size(), 1);
  EXPECT_EQ(snapshot.members(0).person().user_id(), "ada");
  // The host's snapshot lists the first 200 by user id, and says it is not
  // everyone.
  WsClient host_again(server.port());
  host_again.request_ok(hello(ServerProcess::token("host", "ama", "Dr. Ada", "ada")));
  const auto staff_view = host_again.request_ok(join("ama")).snapshot();
  EXPECT_EQ(staff_view.members_size(), 200);
  EXPECT_FALSE(staff_view.listed());
  EXPECT_EQ(staff_view.present(), everyone + 1);

  // And the whole crowd drops at once: Wendy hears so in a few pushes.
  const auto drop = Clock::now();
  crowd.clients.clear();
  const auto after_drop = read_until_presence(watcher, counts(3), 30s);
  EXPECT_LE(after_drop.size(), static_cast<std::size_t>((Clock::now() - drop) / 250ms) + 3);
  for (const auto& message : after_drop) {
    EXPECT_EQ(message.ShortDebugString().find("Joiner-"), std::string::npos) << message.ShortDebugString();
  }
}

// A join's answer comes before every later event, also when the room and
// the joiner are on different shards (--threads 2) and the joiner's session
// is busy (a ping sent right behind the join) while a flood of messages goes
// out: docs/protocol.md 1.4. The snapshot, then events above its seq.
// With Redis, a node applies what it reads from the log several entries to
// a handler: a batch of joins and the posts after it go out together.
class JoinsRacingPosts : public ::testing::TestWithParam<bool> {};

TEST_P(JoinsRacingPosts, AJoinsSnapshotComesBeforeEveryLaterEvent) {
  constexpr int kJoiners = 120, kPosts = 400;
  std::optional<RedisProcess> redis;
  std::vector<std::string> args{"--max-connections-per-ip", "0", "--message-rate", "100000", "--message-burst",
                                "100000", "--identity-message-rate", "100000", "--identity-message-burst", "100000"};
  if (GetParam()) {
    redis.emplace();
    for (const auto& arg : redis->node_args()) args.push_back(arg);
  }
  ServerProcess server(args);
  WsClient host(server.port(), Encoding::binary);
  host.request_ok(hello(ServerProcess::token("host", "talk", "Sam", "sam")));
  host.request_ok(create_room("talk", v1::ROOM_KIND_SUPPORT));
  std::vector<std::unique_ptr<WsClient>> joiners;
  for (int i = 0; i < kJoiners; ++i) joiners.push_back(std::make_unique<WsClient>(server.port()));

  // The flood, sent without waiting; the joins and their pings meanwhile.
  std::vector<std::uint32_t> posts;
  for (int i = 0; i < kPosts / 2; ++i) posts.push_back(host.send(say("talk", "flood " + std::to_string(i))));
  std::vector<std::uint32_t> joins;
  for (auto& joiner : joiners) {
    joins.push_back(joiner->send(join("talk")));
    joiner->send(ping());
  }
  for (int i = kPosts / 2; i < kPosts; ++i) posts.push_back(host.send(say("talk", "flood " + std::to_string(i))));
  for (const auto id : posts) ASSERT_TRUE(host.reply_to(id, 30s).has_ok());
  host.request_ok(say("talk", "the end"));

  for (std::size_t i = 0; i < joiners.size(); ++i) {
    WsClient& joiner = *joiners[i];
    const auto reply = joiner.reply_to(joins[i], 30s);
    ASSERT_TRUE(reply.has_ok() && reply.ok().has_snapshot()) << reply.ShortDebugString();
    EXPECT_TRUE(joiner.events().empty()) << "joiner " << i << " got an event before its snapshot: "
                                         << joiner.events().front().ShortDebugString();
    joiner.events().clear();
    // Then every message posted after the snapshot, in order, none twice.
    const std::uint64_t from = reply.ok().snapshot().seq();
    std::uint64_t last = from;
    for (;;) {
      const auto event = joiner.next_event(30s);
      EXPECT_GT(event.seq(), last) << "joiner " << i;
      last = event.seq();
      if (event.has_message_posted() && event.message_posted().text() == "the end") break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BigRoom, JoinsRacingPosts, ::testing::Values(false, true),
                         [](const auto& param) { return param.param ? "Redis" : "Memory"; });

TEST(BigRoom, TwoNodesAgreeOnHowManyAreHereAfterAStormAndAfterOneDies) {
  raise_descriptor_limit();
  constexpr int kCrowd = 600;
  RedisProcess redis;
  auto args = redis.node_args();
  args.insert(args.end(), {"--presence-ttl", "3s", "--max-connections-per-ip", "0"});
  ServerProcess node_a(args);
  auto node_b = std::make_unique<ServerProcess>(args);

  WsClient host(node_a.port());
  host.request_ok(hello(ServerProcess::token("host", "ama", "Dr. Ada", "ada")));
  host.request_ok(create_room("ama", v1::ROOM_KIND_AMA));
  WsClient on_a(node_a.port()), on_b(node_b->port());
  on_a.request_ok(join("ama", "Ann"));
  on_b.request_ok(join("ama", "Ben"));

  Crowd crowd({node_a.port(), node_b->port()}, "ama", kCrowd);
  const std::uint32_t everyone = kCrowd + 3;
  read_until_presence(on_a, counts(everyone), 30s);
  read_until_presence(on_b, counts(everyone), 30s);
  EXPECT_EQ(host.request_ok(list_members("ama")).members().present(), everyone);

  // Node B dies with half the crowd and Ben: node A's sweep writes them
  // out, and its members count only those still here.
  node_b->crash();
  const std::uint32_t left_on_a = kCrowd / 2 + 2;
  read_until_presence(on_a, counts(left_on_a), 20s);
  EXPECT_EQ(host.request_ok(list_members("ama")).members().present(), left_on_a);
  // A node that joins the room afresh rebuilds the same count from the log.
  ServerProcess node_c(args);
  WsClient on_c(node_c.port());
  EXPECT_EQ(on_c.request_ok(join("ama", "Cy")).snapshot().present(), left_on_a + 1);
  crowd.clients.clear();
}

}  // namespace
}  // namespace hearth::testing
