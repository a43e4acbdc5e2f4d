// Guessing a private room's passcode (docs/protocol.md 1.12): wrong guesses
// spend from budgets every node shares, per room, per client address and per
// identity, so that reconnecting (a new anonymous identity each time) or
// going through another node buys no more of them; and the slow key
// derivation runs on worker threads, so that guessing slows no other room.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "support/redis_process.hpp"
#include "support/server_process.hpp"
#include "support/ws_client.hpp"

namespace hearth::testing {
namespace {

using Clock = std::chrono::steady_clock;

// passcode.hpp: five guesses at once per address, then one every 12 s.
constexpr double kBurst = 5;
constexpr double kSecondsPerGuess = 12;

v1::ClientMessage join_with_passcode(const std::string& room, const std::string& passcode) {
  auto message = join(room);
  message.mutable_join_room()->set_passcode(passcode);
  return message;
}

void create_private_room(WsClient& host, const std::string& room) {
  host.request_ok(hello(ServerProcess::token("host", room, "Lee", "lee")));
  auto create = create_room(room, v1::ROOM_KIND_SUPPORT);
  create.mutable_create_room()->mutable_settings()->set_invite_only(true);
  create.mutable_create_room()->set_passcode("4711");
  host.request_ok(create);
}

struct Tally {
  std::atomic<int> checked{0};  // answered PASSCODE_WRONG: a guess that was tried
  std::atomic<int> limited{0};  // answered RATE_LIMITED
  std::atomic<int> other{0};
};

// One guesser: `connections` times, connect (to the nodes in turn), make five
// guesses, close.
void guess_in_loops(const std::vector<std::uint16_t>& ports, int connections, int first, Tally& tally,
                    std::chrono::milliseconds pause = {}) {
  for (int c = 0; c < connections; ++c) {
    WsClient guesser(ports[static_cast<std::size_t>(c) % ports.size()]);
    for (int g = 0; g < 5; ++g) {
      const auto reply = guesser.request(join_with_passcode("circle", std::to_string(1000 + first + c * 5 + g)), 10s);
      const auto code = reply.has_error() ? reply.error().code() : v1::ERROR_CODE_UNSPECIFIED;
      if (code == v1::PASSCODE_WRONG) ++tally.checked;
      else if (code == v1::RATE_LIMITED) ++tally.limited;
      else ++tally.other;
      if (pause.count() > 0) std::this_thread::sleep_for(pause);  // pacing the load, not waiting for anything
    }
  }
}

// Eight guessers at once, each reconnecting (a new anonymous identity each
// time) and going through either of two nodes: together they get the
// address's budget, not eight or sixteen of them.
TEST(PasscodeGuessing, OneAddressGetsItsBudgetHoweverItReconnectsAndWhicheverNode) {
  RedisProcess redis;
  ServerProcess a(redis.node_args()), b(redis.node_args());
  WsClient host(a.port());
  create_private_room(host, "circle");

  Tally tally;
  const auto start = Clock::now();
  std::vector<std::thread> guessers;
  for (int i = 0; i < 8; ++i) {
    guessers.emplace_back([&, i] { guess_in_loops({a.port(), b.port()}, 2, i * 100, tally); });
  }
  for (auto& guesser : guessers) guesser.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  EXPECT_EQ(tally.other.load(), 0);
  EXPECT_EQ(tally.checked + tally.limited, 80);
  // The burst, and one more for every 12 seconds the test took.
  EXPECT_LE(tally.checked.load(), kBurst + 1 + seconds / kSecondsPerGuess) << "over " << seconds << " s";
  EXPECT_GE(tally.checked.load(), 1);

  // A fresh connection from the same address waits too, right passcode
  // or not, and is told for how long.
  WsClient late(b.port());
  const auto refused = late.request_error(join_with_passcode("circle", "4711"));
  EXPECT_EQ(refused.code(), v1::RATE_LIMITED);
  EXPECT_GT(refused.retry_after_ms(), 0u);
}

// The right passcode does not count as a guess: a group behind one address
// (a clinic's Wi-Fi) can all join at once.
TEST(PasscodeGuessing, RightPasscodesDoNotSpendTheBudget) {
  ServerProcess server;
  WsClient host(server.port());
  create_private_room(host, "circle");
  std::vector<std::unique_ptr<WsClient>> members;
  for (int i = 0; i < 12; ++i) {
    members.push_back(std::make_unique<WsClient>(server.port()));
    members.back()->request_ok(join_with_passcode("circle", "4711"));
  }
  WsClient guesser(server.port());
  for (int g = 0; g < 5; ++g) {
    EXPECT_EQ(guesser.request_error(join_with_passcode("circle", "000" + std::to_string(g))).code(), v1::PASSCODE_WRONG);
  }
  EXPECT_EQ(guesser.request_error(join_with_passcode("circle", "0009")).code(), v1::RATE_LIMITED);
}

// Joins to an open room on the same node while guessers hammer a private
// one: the slow derivation runs off the shards, and the budgets end most
// guesses before it, so the joins take about as long as in quiet.
TEST(PasscodeGuessing, GuessingDoesNotSlowJoinsToOtherRooms) {
  ServerProcess server;
  WsClient host(server.port());
  create_private_room(host, "circle");
  WsClient open_host(server.port());
  open_host.request_ok(hello(ServerProcess::token("host", "open", "Kim", "kim")));
  open_host.request_ok(create_room("open", v1::ROOM_KIND_AMA));

  // Quiet and guessing in turns, so that drift in the machine's load falls
  // on both alike.
  std::vector<double> quiet, busy;
  auto time_joins = [&](std::vector<double>& out, int count) {
    for (int i = 0; i < count; ++i) {
      WsClient joiner(server.port());
      const auto start = Clock::now();
      joiner.request_ok(join("open"));
      out.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
  };
  auto p99 = [](std::vector<double> ms) {
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() * 99 / 100];
  };

  Tally tally;
  for (int turn = 0; turn < 3; ++turn) {
    time_joins(quiet, 40);
    std::atomic<bool> done{false};
    std::vector<std::thread> guessers;
    for (int i = 0; i < 8; ++i) {
      guessers.emplace_back([&, i] {
        // Up to 160 guesses a second in all: more than the eight scripted
        // loops that found this made (about 70).
        for (int round = 0; !done; ++round) {
          guess_in_loops({server.port()}, 1, turn * 1000000 + i * 10000 + round * 5, tally, 50ms);
        }
      });
    }
    time_joins(busy, 40);
    done = true;
    for (auto& guesser : guessers) guesser.join();
  }
  const double quiet_p99 = p99(quiet), busy_p99 = p99(busy);

  EXPECT_GT(tally.checked + tally.limited, 100) << "the guessers were running";
  EXPECT_LE(busy_p99, quiet_p99 + 50) << "quiet p99 " << quiet_p99 << " ms";
}

}  // namespace
}  // namespace hearth::testing
