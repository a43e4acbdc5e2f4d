// Engine calls as C++20 coroutines, for the multi-step jobs that read and
// rewrite a room's stored log (the retention sweep, "erase my data").
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "engine/engine.hpp"

namespace hearth {

inline constexpr std::size_t kEngineReadPage = 1000;

// Awaits an Engine call that completes with (error, values...), on whatever
// thread: the coroutine resumes on its own executor.
template <typename... Values, typename Call>
boost::asio::awaitable<std::tuple<std::error_code, Values...>> engine_call(Call call) {
  constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  return boost::asio::async_initiate<decltype(use_tuple), void(std::error_code, Values...)>(
      [call = std::move(call)](auto handler) mutable {
        // Engine handlers are std::function (copyable); the coroutine's is not.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        call([shared](std::error_code error, Values... values) {
          const auto executor = boost::asio::get_associated_executor(*shared);
          boost::asio::post(executor, [shared, error, ... values = std::move(values)]() mutable {
            std::move (*shared)(error, std::move(values)...);
          });
        });
      },
      use_tuple);
}

inline boost::asio::awaitable<std::tuple<std::error_code, std::vector<SequencedEntry>>> read_page(
    LogStore& engine, const std::string& room_id, std::uint64_t after, std::size_t limit = kEngineReadPage) {
  return engine_call<std::vector<SequencedEntry>>([&engine, room_id, after, limit](auto done) {
    engine.read(room_id, after, limit, std::move(done));
  });
}

inline boost::asio::awaitable<std::tuple<std::error_code, std::optional<v1::RoomCheckpoint>>>
await_checkpoint(LogStore& engine, const std::string& room_id) {
  return engine_call<std::optional<v1::RoomCheckpoint>>(
      [&engine, room_id](auto done) { engine.load_checkpoint(room_id, std::move(done)); });
}

// Hands `visit` each entry after `after`, oldest first, reading a page at
// a time (never the whole log), until the log's end or until `visit`
// returns false. Returns the read's error, if any.
template <typename Visit>
boost::asio::awaitable<std::error_code> visit_log(LogStore& engine, const std::string& room_id,
                                                  std::uint64_t after, Visit visit) {
  for (;;) {
    auto [error, page] = co_await read_page(engine, room_id, after);
    if (error) co_return error;
    for (const auto& entry : page) {
      if (!visit(entry)) co_return std::error_code();
    }
    if (page.size() < kEngineReadPage) co_return std::error_code();
    after = page.back().seq;
  }
}

}  // namespace hearth
