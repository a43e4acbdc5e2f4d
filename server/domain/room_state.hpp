// The visible state of one room, as a pure fold of its log.
//
// RoomState knows nothing of sockets, threads or storage: it is fed log
// entries in sequence order and answers what they mean. The same rules serve
// twice: check() tells the command layer whether an entry may be appended
// (with a typed error if not), and apply() skips an entry that check() would
// now refuse, so that entries which raced on the way in (two nodes, two
// votes) can never corrupt the state. Applying is idempotent where it must
// be: a vote, a join or a delete applied twice counts once.
//
// room_state.cpp holds the checks and the fold, room_state_views.cpp what a
// member is shown, room_state_checkpoint.cpp the state to and from a
// checkpoint; each kind of entry's own rules are in commands/.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/limits.hpp"
#include "domain/membership.hpp"
#include "hearth/v1/log.pb.h"
#include "hearth/v1/protocol.pb.h"
#include "protocol/error.hpp"

namespace hearth {

// Who may receive an event.
struct Audience {
  bool staff_only = false;  // only hosts, moderators and admins...
  std::string also_user;    // ...and this user (the author of a pending question)
};

// What applying one entry changed, as members see it. `event` is empty when
// nothing visible changed (a duplicate vote, a repeated join).
struct Applied {
  std::optional<v1::Event> event;
  Audience audience;
  // Members that must leave the room now (kicked or banned), by user id.
  std::string removed_user;
  // What staff get instead of `event` (with Event.alert and the item's
  // crisis flag), when the entry was flagged; may_see(audience) still holds.
  std::optional<v1::Event> staff_event;
  // What `author`, who asked an anonymous question the event shows, gets
  // instead (the question marked theirs, with their name), on each of
  // their connections; may_see(audience) still holds.
  std::string author;
  std::optional<v1::Event> author_event;
  // Why the entry changed nothing, when check() refused it at apply time
  // (it raced something that came first: a mute, a ban, a delete).
  std::optional<Failure> refused;
  // The entry fit but changed nothing (changes_nothing): it raced an
  // identical entry taken by another node, a vote of the same person, say.
  bool changed_nothing = false;
  // What RoomState::presence_for() says may have changed (people came or
  // went, a name or a role): members are due a Presence push.
  bool presence_changed = false;
};

// "Erase my data": what stands in a rewritten log entry (or checkpoint) for
// text that was erased.
inline constexpr const char* kErasedText = "[erased]";

// Rewrites `entry`, if `user_id` made it, to hold nothing they wrote: text
// becomes kErasedText, a report's reason and the display name go. The fold
// of a log rewritten so ends exactly where the original's does, because no
// rule that decides anything looks at text or names (only at ids, roles,
// times and the crisis flag, which stays). False if nothing changed.
bool redact_entry(v1::LogEntry& entry, const std::string& user_id);

// The question or message `entry` acts on (an edit, an answer, a vote, a
// report, a moderator's action), or 0: none. A reply is a message of its
// own, not an act on the item it names. Retention uses it: once the item is
// removed, such an entry is rewritten to an ExpiredEntry (server/
// retention.cpp), which folds to nothing, as the entry itself does on a
// state without the item.
std::uint64_t item_acted_on(const v1::LogEntry& entry);

// What the settings become after `update`: the fields its settings_mask
// names take its values; without a mask (entries written before masks) its
// settings replace them whole; without settings nothing changes.
v1::RoomSettings settings_after(const v1::RoomSettings& current, const v1::RoomUpdatedEntry& update);

// Support rooms list their members to everyone while at most this many
// people are present (RoomSettings.member_list_limit: 0 takes the default,
// and no room may set more than the maximum).
inline constexpr std::uint32_t kDefaultMemberListLimit = 30;
inline constexpr std::uint32_t kMaxMemberListLimit = 200;
// RoomSettings.care_notice, in code points.
inline constexpr std::size_t kMaxCareNoticeChars = 300;
// Members listed in a staff member's snapshot (the rest by ListMembers), in
// a ListMembers page by default and at most, and staff in a Presence.
inline constexpr std::size_t kSnapshotMembers = 200;
inline constexpr std::size_t kDefaultMemberPage = 100;
inline constexpr std::size_t kMaxMemberPage = 500;
inline constexpr std::size_t kPresenceStaff = 50;
// Ids of each kind an EraseEntry lists (the newest).
inline constexpr std::size_t kErasedIdsListed = 10000;

class RoomState {
 public:
  RoomState(std::string room_id, Limits limits);

  // Whether `entry` may be appended now. Membership of the actor is not
  // checked here (the room's sessions know it); everything else is, except
  // who deletes a forgotten item (below): that passes, and Room checks it
  // against the log first.
  std::optional<Failure> check(const v1::LogEntry& entry) const;

  // Applies entry `seq`. Sequences must grow; an entry at or below seq() is
  // ignored (it was applied already).
  Applied apply(std::uint64_t seq, const v1::LogEntry& entry);

  // Whether a checked entry would change nothing (a vote already cast, a
  // pin of the pinned question): such entries need not be appended.
  bool changes_nothing(const v1::LogEntry& entry) const;

  // Retention: removes every question and message with id at or below
  // `up_to` (and the pin, if it was one of them). Applying a TrimEntry does
  // this; the transcript does it to its starting state. False if nothing
  // was trimmed that was not already.
  bool trim(std::uint64_t up_to);
  // "Erase my data" on a state (a stored checkpoint's): as redact_entry does
  // to entries, text of `user_id`'s becomes kErasedText and their name goes.
  // Applying an EraseEntry does this, then deletes what they wrote.
  void redact(const std::string& user_id);
  std::uint64_t trimmed_up_to() const { return trimmed_up_to_; }
  // Whether `id` may name a chat message (a question) that this state has
  // forgotten, held no longer for Limits::messages_in_memory (closed_
  // questions_in_memory) but not trimmed: it stays in the log, may be
  // deleted and replied to, but not edited, voted on, released or reported.
  // True also for ids of other entries among them: Room reads the log.
  bool forgot_message(std::uint64_t id) const;
  bool forgot_question(std::uint64_t id) const;
  // `user_id`'s anonymous questions the room holds and that are not
  // deleted, by id (Room::run_erasure deletes them one by one).
  std::vector<std::uint64_t> anonymous_questions_of(const std::string& user_id) const;
  // The items the room holds that `user_id` reported (a scan: reports are
  // few, and this needs no bookkeeping as items go).
  std::uint32_t reports_by(const std::string& user_id) const;
  std::uint32_t retention_days() const { return settings_.retention_days(); }
  // Private rooms: joining needs an invite, the passcode or a token for it.
  bool invite_only() const { return settings_.invite_only(); }
  bool requires_sign_in() const { return settings_.require_sign_in(); }
  // Whether anyone banned here is anonymous (AddressBans then matter).
  bool bans_anonymous() const;
  bool has_passcode() const { return !passcode_hash_.empty(); }
  const std::string& passcode_hash() const { return passcode_hash_; }

  // The whole state, for a checkpoint; from_data(to_data()) folds on
  // exactly as this state would.
  v1::RoomStateData to_data() const;
  static RoomState from_data(std::string room_id, Limits limits, const v1::RoomStateData& data);

  // The room as `viewer` (with `role` in this room) sees it now.
  v1::RoomSnapshot snapshot_for(const std::string& viewer, v1::Role role) const;

  // Presence: who is here. Participants of an AMA, and of a support room
  // with more than its member_list_limit people, see how many and the
  // staff, never one another; staff see everyone.
  std::uint32_t present() const { return present_people_; }
  bool lists_members() const;
  // What a member with (or without) a staff role is pushed about presence.
  v1::Presence presence_for(bool staff) const;
  // A page of the people present (ListMembers), after user id `after`, whose
  // names contain `query` in any case of ASCII letters.
  v1::MemberPage member_page(const std::string& query, const std::string& after, std::size_t limit) const;

  bool exists() const { return created_; }
  const std::string& epoch() const { return epoch_; }
  bool closed() const { return closed_; }
  const std::string& title() const { return title_; }
  std::uint64_t seq() const { return seq_; }
  // The sequence of the entry that created the room (0: none yet).
  std::uint64_t created_seq() const { return created_seq_; }
  const std::string& room_id() const { return room_id_; }
  bool is_banned(const std::string& user_id) const { return banned_.contains(user_id); }
  bool is_muted(const std::string& user_id) const { return muted_.contains(user_id); }
  bool is_present(const std::string& user_id) const;
  // Someone who joined, as the room knows them (their name is empty once
  // they erased it); null for strangers.
  const v1::Person* known_person(const std::string& user_id) const;
  // Present connections, for the presence sweep.
  struct PresentConnection {
    Membership member;
    std::string connection_id;
    std::string node_id;
  };
  std::vector<PresentConnection> present_connections() const;

  // Whether `viewer` with `role` may see an event for `audience`.
  static bool may_see(const Audience& audience, const std::string& viewer, v1::Role role);

  // The command families (server/commands/*.cpp): each holds the checks and
  // folds of its kinds of entry (commands/entry_rules.hpp), with the state's
  // own access. Defined in their files only.
  struct LifecycleRules;
  struct MembershipRules;
  struct ModerationRules;
  struct QuestionRules;
  struct ChatRules;
  struct CareRules;

 private:
  struct ConnectionRecord {
    v1::Role role = v1::ROLE_PARTICIPANT;
    std::string node_id;
  };
  struct MemberRecord {
    v1::Person person;  // name of the first connection; role the highest present
    std::map<std::string, ConnectionRecord> connections;  // by connection id; present while not empty
    std::optional<std::int64_t> left_at;  // unix seconds, while not present
  };
  struct QuestionRecord {
    std::uint64_t id = 0;
    v1::Person author;  // always the real author; hidden on the wire if anonymous
    bool anonymous = false;
    bool ever_public = false;  // was open to everyone at some point
    std::string text;
    v1::QuestionState state = v1::QUESTION_STATE_OPEN;
    std::unordered_set<std::string> voters;
    google::protobuf::Timestamp asked_at;
    std::optional<google::protobuf::Timestamp> edited_at;
    std::optional<v1::Answer> answer;
    bool flagged = false;  // read as CRISIS
    std::unordered_set<std::string> reporters;
    std::optional<v1::Person> handled_by;  // since the last report or flag
  };
  struct MessageRecord {
    std::uint64_t id = 0;
    v1::Person author;
    std::string text;
    std::uint64_t reply_to_message_id = 0;
    std::uint64_t reply_to_question_id = 0;
    bool deleted = false;
    google::protobuf::Timestamp sent_at;
    std::optional<google::protobuf::Timestamp> edited_at;
    bool flagged = false;  // read as CRISIS
    bool held = false;     // staff and author only, until released
    std::unordered_set<std::string> reporters;
    std::optional<v1::Person> handled_by;  // since the last report or flag
    std::string private_to;                // a private reply: its recipient, who alone sees it with staff
  };

  std::optional<Failure> check_slow_mode(const v1::LogEntry& entry) const;
  // Staff's private replies are never flagged, nor edits of them (they use
  // the crisis words too).
  bool is_private_reply(std::uint64_t message_id) const;
  std::optional<Failure> check_one_item(std::uint64_t question_id, std::uint64_t message_id,
                                        const char* too_old_for) const;
  std::optional<Failure> check_text(const std::string& text, std::size_t max_chars, const char* what) const;
  const QuestionRecord* find_question(std::uint64_t id) const;
  const MessageRecord* find_message(std::uint64_t id) const;
  // nullptr also when deleted, or when `actor` may not see it.
  const QuestionRecord* visible_question(std::uint64_t id, const v1::Actor& actor) const;
  const MessageRecord* visible_message(std::uint64_t id, const v1::Actor& actor) const;

  v1::RoomInfo room_info() const;
  v1::Question question_view(const QuestionRecord& question, const std::string& viewer) const;
  v1::ChatMessage message_view(const MessageRecord& message) const;
  Audience question_audience(const QuestionRecord& question) const;
  Audience message_audience(const MessageRecord& message) const;
  std::optional<v1::Alert> crisis_alert(const v1::LogEntry& entry, std::uint64_t seq) const;
  // Applied::author_event, when `event` shows an anonymous question.
  void add_author_event(Applied& out, const v1::Event& event) const;
  v1::Member member_view(const MemberRecord& member) const;
  // The people present after user id `after` (empty: from the start) whose
  // names contain `needle` (lower case; empty: anyone), by user id: the
  // first `limit` of them, and in `matched` how many there are in all.
  std::vector<const MemberRecord*> present_by_id(const std::string& needle, const std::string& after,
                                                 std::size_t limit, std::size_t& matched) const;
  // Adds the staff present (up to kPresenceStaff) to `out`; who is muted
  // only for a staff viewer.
  void add_present_staff(google::protobuf::RepeatedPtrField<v1::Member>& out, bool staff_viewer) const;
  void forget_if_gone(const std::string& user_id);
  // Notes when a member's last connection went (or that they are back).
  void track_departure(const std::string& user_id);
  // Bounded state, decided by the entries' own times so that every node
  // (and one starting from a checkpoint) forgets alike: members who left
  // over kForgetDepartedSeconds ago (unless muted or banned), and last posts
  // too old for any slow mode to matter.
  void forget_the_old();
  void note_post(const std::string& user_id, const google::protobuf::Timestamp& at);
  // Keeps closed_questions_ true after `question` changed state.
  void note_question_state(const QuestionRecord& question);
  // Forgets the oldest messages and closed questions over the limits.
  void forget_over_limits();
  // Fills `erased` with tombstones for the ids `entry` lists that this
  // state forgot (it named the ones it holds already).
  void add_forgotten_erased(const v1::EraseEntry& entry, v1::ContentErased& erased) const;
  // Keeps present_people_ and present_staff_ true after `user_id`'s
  // connections changed; `was_present`: whether they had any before.
  void note_presence(const std::string& user_id, bool was_present);

  std::string room_id_;
  Limits limits_;
  std::uint64_t seq_ = 0;
  bool created_ = false;
  std::string epoch_;
  std::uint64_t created_seq_ = 0;
  bool closed_ = false;
  v1::RoomKind kind_ = v1::ROOM_KIND_UNSPECIFIED;
  std::string title_;
  v1::RoomSettings settings_;
  google::protobuf::Timestamp created_at_;
  v1::Person created_by_;
  std::uint64_t pinned_ = 0;
  std::uint64_t trimmed_up_to_ = 0;  // items at or below it were removed by retention
  std::string passcode_hash_;        // server/room/passcode.hpp; empty: no passcode

  // Everyone who ever joined, present or not, by user id (targets for
  // mute/ban must be known people).
  std::unordered_map<std::string, MemberRecord> members_;
  // Kept as connections come and go, so that no join costs a walk over the
  // room: how many people are present, and which of them are staff.
  std::uint32_t present_people_ = 0;
  std::set<std::string> present_staff_;
  std::unordered_set<std::string> muted_;
  std::unordered_set<std::string> banned_;
  // Members with no connection, by when they left: the oldest are forgotten.
  std::set<std::pair<std::int64_t, std::string>> departed_;
  // When each participant last asked or chatted (for slow mode).
  std::unordered_map<std::string, google::protobuf::Timestamp> last_post_;
  std::set<std::pair<std::int64_t, std::string>> posts_by_time_;  // last_post_, oldest first
  std::int64_t now_ = 0;              // the time of the entry being applied, unix seconds
  std::map<std::uint64_t, QuestionRecord> questions_;
  std::map<std::uint64_t, MessageRecord> messages_;
  // Ids of the questions answered, dismissed or deleted: the rest of
  // questions_ is open or pending (Limits::max_open_questions).
  std::set<std::uint64_t> closed_questions_;
  // The newest ids forgotten (forgot_message, forgot_question).
  std::uint64_t messages_forgotten_up_to_ = 0;
  std::uint64_t questions_forgotten_up_to_ = 0;
};

// Length of `text` in Unicode code points (`text` is valid UTF-8).
std::size_t count_code_points(const std::string& text);

}  // namespace hearth
