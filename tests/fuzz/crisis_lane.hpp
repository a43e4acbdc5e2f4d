// The crisis rules the fuzz targets run with: a few of each kind, so that
// flagged, ABOUT and excepted texts all occur (room_choices.cpp writes "I
// want to end my life" into some texts).
#pragma once

#include <cstdlib>

#include "domain/crisis.hpp"

namespace hearth::fuzz {

inline CrisisLane fuzz_crisis_lane() {
  std::string error;
  auto rules = CrisisRules::parse("fuzz.rules",
                                  "@self = i me my myself\n"
                                  "@other = she he friend\n"
                                  "crisis: end|ending my life\n"
                                  "crisis: hurt myself\n"
                                  "about: suicid*\n"
                                  "not: dying to\n",
                                  error);
  if (!rules) std::abort();
  CrisisLane lane;
  lane.rules = std::move(*rules);
  lane.support = "You are not alone.";
  lane.resources = "Helping someone else: a helpline can help you too.";
  return lane;
}

}  // namespace hearth::fuzz
