// Reports cannot be used to flood a room's staff (issue 15.6; docs/protocol.md
// 2.25): a cap per reporter per room per hour over every node, which an
// anonymous person does not escape by coming back as someone new, and the
// reporter's count shown to staff with each report.
#include <gtest/gtest.h>

#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

v1::ClientMessage report(const std::string& room, std::uint64_t message_id) {
  return room_command(room, [message_id](v1::ClientMessage& m) {
    m.mutable_report_item()->set_message_id(message_id);
    m.mutable_report_item()->set_reason("unkind");
  });
}

std::vector<std::string> node_args(const RedisProcess& redis) {
  auto args = redis.node_args();
  for (const char* arg : {"--reports-per-hour", "3"}) args.emplace_back(arg);
  return args;
}

// docs/protocol.md 2.25 and 1.4 (limits): three reports an hour per
// person per room (--reports-per-hour 3), nine per client address.
TEST(Reports, ArePerPersonPerRoomOverEveryNodeAndComingBackAnonymousDoesNotResetThem) {
  RedisProcess redis;
  ServerProcess node_a(node_args(redis));
  ServerProcess node_b(node_args(redis));
  WsClient host(node_a.port());
  host.request_ok(hello(ServerProcess::token("host", "*", "Lee", "lee")));
  std::vector<std::uint64_t> said;
  for (const char* room : {"group", "other"}) {
    host.request_ok(create_room(room, v1::ROOM_KIND_SUPPORT));
    for (int i = 0; i < 12; ++i)
      said.push_back(host.request_ok(say(room, "words " + std::to_string(i))).accepted().seq());
  }
  const auto in_group = [&said](int i) { return said[i]; };
  WsClient mo(node_b.port());
  mo.request_ok(hello(ServerProcess::token("moderator", "group", "Mo", "mo")));
  mo.request_ok(join("group"));

  // Pat, signed in, on two nodes: three reports, the fourth refused on
  // either node; the same item again changes nothing and is not refused.
  const std::string pat_token = ServerProcess::token("participant", "*", "Pat", "pat");
  WsClient pat_a(node_a.port());
  pat_a.request_ok(hello(pat_token));
  pat_a.request_ok(join("group"));
  WsClient pat_b(node_b.port());
  pat_b.request_ok(hello(pat_token));
  pat_b.request_ok(join("group"));
  pat_a.request_ok(report("group", in_group(0)));
  pat_b.request_ok(report("group", in_group(1)));
  const auto reported = mo.next_event_where([&](const v1::Event& e) {
    return e.has_item_reported() && e.item_reported().message_id() == in_group(1);
  });
  EXPECT_EQ(reported.item_reported().reporter_reports(), 2u) << "staff see the reporter's count";
  EXPECT_EQ(reported.actor().user_id(), "pat");
  pat_a.request_ok(report("group", in_group(2)));
  for (auto* pat : {&pat_a, &pat_b}) {
    const auto refused = pat->request_error(report("group", in_group(3)));
    EXPECT_EQ(refused.code(), v1::RATE_LIMITED);
    EXPECT_GT(refused.retry_after_ms(), 60'000u) << "about 20 minutes until the next one";
    EXPECT_LE(refused.retry_after_ms(), 1'200'000u);
  }
  EXPECT_EQ(pat_b.request_ok(report("group", in_group(0))).accepted().seq(), 0u) << "a repeat counts nothing";
  // Another room is another count.
  pat_b.request_ok(join("other"));
  pat_b.request_ok(report("other", said[12]));

  // Anonymous people behind the same address as Pat: each new person may
  // make three, but the address nine in all, three of them Pat's; so the
  // third new person has none left.
  int accepted = 0;
  for (int person = 0; person < 3; ++person) {
    WsClient anonymous(person % 2 ? node_a.port() : node_b.port());
    anonymous.request_ok(join("group", "Guest"));
    for (int i = 0; i < 3; ++i) {
      const auto reply = anonymous.request(report("group", in_group(3 + i + 3 * person)));
      if (reply.has_ok()) {
        ++accepted;
        continue;
      }
      EXPECT_EQ(reply.error().code(), v1::RATE_LIMITED) << "person " << person << " report " << i;
      EXPECT_EQ(person, 2) << "only the third person, by the address's cap";
    }
  }
  EXPECT_EQ(accepted, 6);
  // Staff are not capped.
  for (int i = 0; i < 5; ++i) mo.request_ok(report("group", in_group(i)));
}

}  // namespace
}  // namespace hearth::testing
