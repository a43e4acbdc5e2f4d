#include "engine/engine.hpp"

namespace hearth {
namespace {

class EngineCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "hearth.engine"; }
  std::string message(int value) const override {
    switch (static_cast<EngineError>(value)) {
      case EngineError::unavailable: return "storage is unavailable";
      case EngineError::epoch_mismatch: return "the room's log is not the one this node knows";
      case EngineError::room_exists: return "the room exists already";
      case EngineError::corrupt: return "storage holds an entry this server cannot read";
      case EngineError::outcome_unknown: return "the storage connection broke after the command was sent";
      case EngineError::conflict: return "the room's log changed since it was read";
    }
    return "unknown engine error";
  }
};

}  // namespace

const std::error_category& engine_category() noexcept {
  static const EngineCategory category;
  return category;
}

}  // namespace hearth
