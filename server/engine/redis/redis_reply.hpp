// A Redis reply, copied out of hiredis' memory, and a typed reader for it:
// the engine says what shape it expects (reply_as<std::tuple<long long,
// long long, long long>>) and gets the values, or nullopt for any other
// shape, instead of walking a tree of elements by hand.
#pragma once

#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

struct redisReply;

namespace hearth {

struct RedisReply {
  enum class Type { string, array, integer, nil, status, error };
  Type type = Type::nil;
  std::string str;  // string, status and error
  long long integer = 0;
  std::vector<RedisReply> elements;

  static RedisReply from(const redisReply& reply);
  bool is_error() const { return type == Type::error; }
};

namespace redis_detail {

template <typename T>
struct Reader;

template <>
struct Reader<long long> {
  static bool read(const RedisReply& reply, long long& out) {
    if (reply.type != RedisReply::Type::integer) return false;
    out = reply.integer;
    return true;
  }
};

// A bulk string or a status ("OK"); never an error's text.
template <>
struct Reader<std::string> {
  static bool read(const RedisReply& reply, std::string& out) {
    if (reply.type != RedisReply::Type::string && reply.type != RedisReply::Type::status) return false;
    out = reply.str;
    return true;
  }
};

// Nil, or a T.
template <typename T>
struct Reader<std::optional<T>> {
  static bool read(const RedisReply& reply, std::optional<T>& out) {
    if (reply.type == RedisReply::Type::nil) {
      out.reset();
      return true;
    }
    return Reader<T>::read(reply, out.emplace());
  }
};

// An array of any length, each element a T.
template <typename T>
struct Reader<std::vector<T>> {
  static bool read(const RedisReply& reply, std::vector<T>& out) {
    if (reply.type != RedisReply::Type::array) return false;
    out.clear();
    out.reserve(reply.elements.size());
    for (const auto& element : reply.elements) {
      if (!Reader<T>::read(element, out.emplace_back())) return false;
    }
    return true;
  }
};

// An array of exactly sizeof...(T) elements, of those types in order.
template <typename... T>
struct Reader<std::tuple<T...>> {
  static bool read(const RedisReply& reply, std::tuple<T...>& out) {
    if (reply.type != RedisReply::Type::array || reply.elements.size() != sizeof...(T)) return false;
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return (Reader<T>::read(reply.elements[I], std::get<I>(out)) && ...);
    }
    (std::index_sequence_for<T...>{});
  }
};

}  // namespace redis_detail

// `reply` as a T (long long, std::string, std::optional, std::vector and
// std::tuple of these, nested), or nullopt if it has another shape. An
// error reply is none of them.
template <typename T>
std::optional<T> reply_as(const RedisReply& reply) {
  T out{};
  if (!redis_detail::Reader<T>::read(reply, out)) return std::nullopt;
  return out;
}

}  // namespace hearth
