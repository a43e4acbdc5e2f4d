// People coming and going: a connection's arrival (JoinedEntry) or
// departure (LeftEntry), and the server's batch of both (PresenceEntry).
// Joining and leaving are the session's commands (joinRoom, leaveRoom), not
// entries a client builds: Room writes these.
#include <unordered_map>

#include "base/identity.hpp"
#include "domain/commands/entry_rules.hpp"
#include "domain/room_state.hpp"
#include "domain/transcript_line.hpp"

namespace hearth {

namespace {

// Names in one transcript line about presence; the rest are counted.
constexpr int kPresenceNames = 20;

// "3 joined (Ada, Obi, 1 anonymous); 1 left (Lou); 12 here". Anonymous
// people are counted, never named: a name beside the time they came would
// tie them to the anonymous questions they asked then.
std::string presence_summary(const v1::MembersChanged& changed) {
  std::string out;
  const auto list = [&out](const char* verb, int count, const auto& person_at) {
    if (count == 0) return;
    if (!out.empty()) out += "; ";
    out += std::to_string(count) + " " + verb + " (";
    int named = 0;
    for (int i = 0; i < count; ++i) {
      if (is_anonymous_id(person_at(i).user_id())) continue;
      if (named < kPresenceNames) out += (named ? ", " : "") + name_of(person_at(i));
      ++named;
    }
    if (named > kPresenceNames) out += " and " + std::to_string(named - kPresenceNames) + " more";
    if (named < count) out += (named ? ", " : "") + std::to_string(count - named) + " anonymous";
    out += ")";
  };
  list("joined", changed.joined_size(),
       [&](int i) -> const v1::Person& { return changed.joined(i).person(); });
  list("left", changed.left_size(), [&](int i) -> const v1::Person& { return changed.left(i).person(); });
  return out + "; " + std::to_string(changed.present()) + " here";
}

}  // namespace

struct RoomState::MembershipRules {
  // Whom one presence entry touched: each person once, in order, with
  // whether they were here before it and, if their last connection went,
  // how.
  struct Delta {
    struct Person {
      bool was_present = false;
      std::optional<v1::MemberLeft> left;
    };
    std::vector<std::string> order;
    std::unordered_map<std::string, Person> people;

    // The person's record, made (with `was_present`) on first sight.
    Person& of(const std::string& user_id, bool was_present) {
      auto [it, fresh] = people.try_emplace(user_id, Person{was_present, std::nullopt});
      if (fresh) order.push_back(user_id);
      return it->second;
    }
  };

  static void joined(RoomState& state, const v1::Actor& actor, const v1::JoinedEntry& joined, Delta& delta) {
    // A join that raced a ban or the close (on another node) does not take
    // effect; Room::finish_join tells the joiner why.
    if (state.closed_ || state.banned_.contains(actor.user_id())) return;
    MemberRecord& member = state.members_[actor.user_id()];
    const bool was_present = !member.connections.empty();
    delta.of(actor.user_id(), was_present);
    // The name is that of the first connection while any remains (another
    // tab does not silently rename a member); the role is the highest any
    // present connection holds, since roles come per join token.
    if (!was_present) member.person = person_of(actor);
    const ConnectionRecord connection{actor.role(), joined.node_id()};
    if (!member.connections.emplace(joined.connection_id(), connection).second) return;
    if (was_present && static_cast<int>(actor.role()) > static_cast<int>(member.person.role())) {
      member.person.set_role(actor.role());
    }
    state.note_presence(actor.user_id(), was_present);
  }

  static void left(RoomState& state, const v1::Actor& actor, const v1::LeftEntry& left, Delta& delta) {
    const auto it = state.members_.find(actor.user_id());
    if (it == state.members_.end() || it->second.connections.erase(left.connection_id()) == 0) return;
    auto& noted = delta.of(actor.user_id(), true);
    MemberRecord& member = it->second;
    if (!member.connections.empty()) {
      v1::Role highest = v1::ROLE_UNSPECIFIED;
      for (const auto& [id, connection] : member.connections) highest = std::max(highest, connection.role);
      member.person.set_role(highest);
      state.note_presence(actor.user_id(), true);
      return;
    }
    state.note_presence(actor.user_id(), true);
    noted.left.emplace();
    *noted.left->mutable_person() = member.person;
    noted.left->set_reason(left.reason());
    state.forget_if_gone(actor.user_id());
  }

  // Joined, Left and Presence alike. Presence news is for staff (one event
  // for the whole batch); everyone else hears how many are here from Room's
  // coalesced Presence pushes.
  static bool apply(RoomState& state, Fold& fold) {
    const v1::LogEntry& entry = fold.entry;
    Delta delta;
    if (entry.has_joined()) joined(state, entry.actor(), entry.joined(), delta);
    if (entry.has_left()) left(state, entry.actor(), entry.left(), delta);
    for (const auto& change : entry.presence().changes()) {
      if (change.has_joined()) joined(state, change.actor(), change.joined(), delta);
      if (change.has_left()) left(state, change.actor(), change.left(), delta);
    }
    fold.out.presence_changed = true;
    // Only the net change is news: someone who dropped and came back within
    // one batch neither left nor joined.
    v1::MembersChanged changed;
    for (const auto& user_id : delta.order) {
      const auto& person = delta.people.at(user_id);
      const bool present = state.is_present(user_id);
      if (present && !person.was_present)
        *changed.add_joined() = state.member_view(state.members_.at(user_id));
      if (!present && person.was_present && person.left) *changed.add_left() = *person.left;
    }
    if (changed.joined_size() == 0 && changed.left_size() == 0) return false;  // another tab, say
    changed.set_present(state.present_people_);
    *fold.event.mutable_members_changed() = std::move(changed);
    fold.event.clear_actor();
    fold.out.audience = Audience{true, {}};
    return true;
  }

  // A presence batch is checked change by change as it is applied: a join
  // in it that raced a ban or the close is skipped.
  // Transcript lines (transcript_line.hpp): one for a person's own coming
  // or going, as for anything else they do; but nothing about one anonymous
  // person's, which would sit beside what they asked anonymously. More at
  // once (a batch of presence), one summary line by Hearth.
  static bool line_presence(const TranscriptContext& c) {
    if (!c.seen.has_members_changed()) return false;
    const v1::MembersChanged& changed = c.seen.members_changed();
    if (changed.joined_size() + changed.left_size() == 1) {
      const v1::Person& person =
          changed.joined_size() ? changed.joined(0).person() : changed.left(0).person();
      if (is_anonymous_id(person.user_id())) return false;
      c.by(person);
      c.line.action = changed.joined_size()                                     ? "joined"
                      : changed.left(0).reason() == v1::MemberLeft::REASON_LEFT ? "left"
                                                                                : "disconnected";
      return true;
    }
    c.by_hearth();
    c.line.action = presence_summary(changed);
    return true;
  }

  static constexpr EntryRules entries[] = {
      {.kind = v1::LogEntry::kJoined, .gate = Gate::arrival, .apply = apply, .transcript = line_presence},
      {.kind = v1::LogEntry::kLeft, .gate = Gate::server, .apply = apply, .transcript = line_presence},
      {.kind = v1::LogEntry::kPresence, .gate = Gate::server, .apply = apply, .transcript = line_presence},
  };
};

CommandFamily membership_family() {
  return {RoomState::MembershipRules::entries, {}};
}

}  // namespace hearth
