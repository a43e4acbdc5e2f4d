#include "room/log_rewrite.hpp"

#include "base/identity.hpp"
#include "engine/engine_await.hpp"

namespace hearth {
namespace {

// Entries read, given their stand-ins and copied in one step: each step
// keeps Redis busy for about a millisecond (bench/big-room).
constexpr std::size_t kRewritePage = 250;
// Times one attempt copies what was appended meanwhile and tries to swap
// again, before it gives up with conflict (a very busy room).
constexpr int kCatchUps = 20;

}  // namespace

boost::asio::awaitable<std::tuple<std::error_code, std::uint64_t>> rewrite_stored_log(
    LogStore& engine, const LogRewrite& plan, const StandInsFor& stand_ins_for,
    const std::function<v1::LogEntry()>& final_entry, const std::function<bool()>& gone) {
  LogStore::Rewrite rewrite{random_hex(8), plan.user_id, std::nullopt, 0};
  std::uint64_t after = plan.base_seq;
  // The log's generation before the first read (a page that copies
  // nothing): another rewrite that goes in after it makes every page of
  // this one refused, so no page read before that rewrite is ever copied
  // over what it wrote.
  {
    auto [error, generation] = co_await engine_call<std::uint64_t>(
        [&](auto done) { engine.rewrite_page(plan.room_id, rewrite, after, after, {}, std::move(done)); });
    if (error) co_return std::tuple(error, 0);
    rewrite.generation = generation;
  }
  for (int catch_up = 0; catch_up <= kCatchUps; ++catch_up) {
    std::uint64_t copied_now = 0;
    for (;;) {
      auto [read_error, page] = co_await read_page(engine, plan.room_id, after, kRewritePage);
      if (read_error || gone()) co_return std::tuple(read_error ? read_error : EngineError::unavailable, 0);
      const std::uint64_t up_to = page.empty() ? after : page.back().seq;
      // Named, not made in the capture: GCC 12 destroys such a capture
      // twice inside a co_await expression (ASan saw it), and Clang cannot
      // capture the structured binding.
      auto stand_ins = stand_ins_for(page);
      auto [page_error, generation] = co_await engine_call<std::uint64_t>([&](auto done) {
        engine.rewrite_page(plan.room_id, rewrite, after, up_to, std::move(stand_ins), std::move(done));
      });
      if (page_error) co_return std::tuple(page_error, 0);
      rewrite.generation = generation;
      rewrite.copied += page.size();
      copied_now += page.size();
      after = up_to;
      if (page.size() < kRewritePage) break;
    }
    // Refused with nothing new to copy: the copy itself is off (its
    // scratch lapsed): start again.
    if (catch_up > 0 && copied_now == 0) break;
    auto entry = final_entry();
    auto [finish_error, seq] = co_await engine_call<std::uint64_t>([&](auto done) {
      engine.finish_rewrite(plan.room_id, plan.epoch, rewrite, rewrite.copied ? after : 0,
                            plan.checkpoint_seq, plan.checkpoint, std::move(entry), std::move(done));
    });
    if (finish_error != EngineError::conflict) co_return std::tuple(finish_error, seq);
  }
  co_return std::tuple(std::error_code(EngineError::conflict), 0);
}

}  // namespace hearth
