#include "format.hpp"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <sstream>

namespace hearth::cli {
namespace {

std::string quoted(const std::string& text) { return "\"" + text + "\""; }

// An event's kind and what it holds, in the protocol's JSON: for a kind
// this client has no line for. Unknown fields (a newer server's) are kept
// by protobuf and printed too.
std::string generic_line(const v1::Event& e) {
  const auto* kind = v1::Event::descriptor()->FindOneofByName("kind");
  const auto* field = e.GetReflection()->GetOneofFieldDescriptor(e, kind);
  if (field == nullptr) return "(an event of a kind this client does not know)";
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = false;
  (void)google::protobuf::util::MessageToJsonString(e.GetReflection()->GetMessage(e, field), &json, options);
  return field->json_name() + " " + json;
}

std::string role_word(v1::Role role) {
  switch (role) {
    case v1::ROLE_HOST: return "host";
    case v1::ROLE_MODERATOR: return "moderator";
    case v1::ROLE_ADMIN: return "admin";
    default: return "participant";
  }
}

std::string state_word(v1::QuestionState state) {
  switch (state) {
    case v1::QUESTION_STATE_PENDING: return "awaiting approval";
    case v1::QUESTION_STATE_OPEN: return "open";
    case v1::QUESTION_STATE_ANSWERED: return "answered";
    case v1::QUESTION_STATE_DISMISSED: return "dismissed";
    case v1::QUESTION_STATE_DELETED: return "deleted";
    default: return "?";
  }
}

std::string clock(const google::protobuf::Timestamp& at) {
  const std::string text = google::protobuf::util::TimeUtil::ToString(at);  // 2026-11-26T01:02:03Z
  return text.size() >= 19 ? text.substr(11, 8) : text;
}

std::string question_line(const v1::Question& q) {
  std::ostringstream out;
  out << "q" << q.id() << " [" << state_word(q.state()) << ", " << q.votes() << (q.votes() == 1 ? " vote" : " votes")
      << (q.pinned() ? ", answering now" : "") << (q.has_edited_at() ? ", edited" : "") << "] ";
  if (q.state() == v1::QUESTION_STATE_DELETED) return out.str() + "(deleted)";
  out << q.author().display_name() << ": " << quoted(q.text());
  if (q.has_answer()) out << "\n      answer by " << q.answer().by().display_name() << ": " << quoted(q.answer().text());
  return out.str();
}

std::string message_line(const v1::ChatMessage& m) {
  std::ostringstream out;
  out << "m" << m.id();
  if (m.reply_to_message_id()) out << " (re m" << m.reply_to_message_id() << ")";
  if (m.reply_to_question_id()) out << " (re q" << m.reply_to_question_id() << ")";
  if (m.private_reply()) out << " (private)";
  if (m.deleted()) return out.str() + " (deleted)";
  out << " " << m.author().display_name() << ": " << quoted(m.text()) << (m.has_edited_at() ? " (edited)" : "");
  return out.str();
}

std::string member_word(const v1::Member& member) {
  return member.person().display_name() + (member.person().role() != v1::ROLE_PARTICIPANT ? "*" : "");
}

// "Lou disconnected".
std::string left_line(const v1::MemberLeft& left) {
  static const char* reasons[] = {"left", "left", "disconnected", "was removed"};
  const int reason = left.reason();
  return left.person().display_name() + " " + reasons[reason >= 0 && reason <= 3 ? reason : 0];
}

std::string people(std::uint32_t count) { return std::to_string(count) + (count == 1 ? " person" : " people"); }

std::string describe_presence(const v1::Presence& p) {
  std::ostringstream out;
  out << "[" << p.room_id() << "] " << people(p.present()) << " here";
  if (p.listed()) {
    out << ":";
    for (const auto& member : p.members()) out << " " << member_word(member);
  } else if (p.staff_size() > 0) {
    out << "; staff:";
    for (const auto& member : p.staff()) out << " " << member_word(member);
  }
  return out.str();
}

std::string describe_event(const v1::Event& e) {
  std::ostringstream out;
  out << "[" << e.room_id() << " #" << e.seq() << " " << clock(e.at()) << "] ";
  const std::string who = e.has_actor() ? e.actor().display_name() : "Someone";
  switch (e.kind_case()) {
    case v1::Event::kRoomOpened: out << who << " opened the room " << quoted(e.room_opened().title()); break;
    case v1::Event::kRoomUpdated:
      out << who << " changed the room: approval " << (e.room_updated().settings().require_approval() ? "on" : "off")
          << ", side chat " << (e.room_updated().settings().side_chat() ? "on" : "off");
      break;
    case v1::Event::kRoomClosed: out << who << " closed the room"; break;
    case v1::Event::kMembersChanged: {
      const auto& changed = e.members_changed();
      const char* separator = "";
      for (const auto& member : changed.joined()) {
        out << separator << member.person().display_name() << " joined (" << role_word(member.person().role())
            << ", id " << member.person().user_id() << ")";
        separator = "; ";
      }
      for (const auto& left : changed.left()) {
        out << separator << left_line(left);
        separator = "; ";
      }
      out << " (" << people(changed.present()) << " here)";
      break;
    }
    case v1::Event::kMemberLeft: out << left_line(e.member_left()); break;
    case v1::Event::kMemberMuted:
      out << who << (e.member_muted().muted() ? " muted " : " unmuted ") << e.member_muted().person().display_name();
      break;
    case v1::Event::kMemberBanned:
      out << who << (e.member_banned().banned() ? " banned " : " lifted the ban on ")
          << e.member_banned().person().display_name();
      break;
    case v1::Event::kQuestionAsked: out << who << " asked " << question_line(e.question_asked()); break;
    case v1::Event::kQuestionUpdated: out << "updated " << question_line(e.question_updated()); break;
    case v1::Event::kQuestionVotes:
      out << "q" << e.question_votes().question_id() << " now has " << e.question_votes().votes() << " votes";
      break;
    case v1::Event::kQuestionDeleted: out << who << " deleted q" << e.question_deleted().id(); break;
    case v1::Event::kQuestionPinned:
      if (e.question_pinned().question_id() == 0) out << who << " unpinned q" << e.question_pinned().previous_id();
      else out << who << " is answering q" << e.question_pinned().question_id() << " now";
      break;
    case v1::Event::kMessagePosted: out << message_line(e.message_posted()); break;
    case v1::Event::kMessageEdited: out << "edited " << message_line(e.message_edited()); break;
    case v1::Event::kMessageDeleted: out << who << " deleted m" << e.message_deleted().id(); break;
    case v1::Event::kItemsExpired:
      out << "retention removed everything up to #" << e.items_expired().up_to_seq();
      break;
    case v1::Event::kContentErased: {
      out << "someone erased what they wrote:";
      for (const auto& question : e.content_erased().questions()) out << " q" << question.id();
      for (const auto& message : e.content_erased().messages()) out << " m" << message.id();
      break;
    }
    case v1::Event::kItemReported: {
      const auto& reported = e.item_reported();
      out << who << " reported "
          << (reported.question_id() ? "q" + std::to_string(reported.question_id())
                                     : "m" + std::to_string(reported.message_id()))
          << " (" << reported.reports() << " reports; " << reported.reporter_reports() << " by them)";
      if (!reported.reason().empty()) out << ": " << quoted(reported.reason());
      break;
    }
    case v1::Event::kAlertHandled: {
      const auto& handled = e.alert_handled();
      out << who << " handled the alerts about "
          << (handled.question_id() ? "q" + std::to_string(handled.question_id())
                                    : "m" + std::to_string(handled.message_id()));
      break;
    }
    // A kind without a line of its own here (new, or from a newer server):
    // its name and its fields, never nothing.
    default:
      out << who << " " << generic_line(e);
      break;
  }
  return out.str();
}

std::string describe_snapshot(const v1::RoomSnapshot& s) {
  std::ostringstream out;
  out << "room " << s.room().room_id() << " (" << (s.room().kind() == v1::ROOM_KIND_AMA ? "AMA" : "support") << ", "
      << quoted(s.room().title()) << (s.room().closed() ? ", closed" : "") << ") as of #" << s.seq() << "\n";
  out << "  you: " << s.you().display_name() << " (" << role_word(s.you().role()) << ")"
      << (s.you_are_muted() ? ", muted" : "") << "\n";
  // Staff see everyone (the first 200 here; /who finds the rest), others the
  // staff only, unless the room lists its members to all.
  const auto role = s.you().role();
  const bool staff = role == v1::ROLE_HOST || role == v1::ROLE_MODERATOR || role == v1::ROLE_ADMIN;
  out << "  " << people(s.present()) << " here; "
      << (s.listed() ? "everyone" : staff ? "the first " + std::to_string(s.members_size()) + " (/who NAME finds anyone)"
                                          : std::string("staff"))
      << ":";
  for (const auto& member : s.members()) out << " " << member_word(member);
  out << "\n";
  for (const auto& q : s.questions()) out << "  " << question_line(q) << "\n";
  for (const auto& m : s.messages()) out << "  " << message_line(m) << "\n";
  return out.str();
}

}  // namespace

std::string describe(const v1::ServerMessage& message) {
  if (message.has_event()) return describe_event(message.event()) + "\n";
  if (message.has_presence()) return describe_presence(message.presence()) + "\n";
  const auto& reply = message.reply();
  std::ostringstream out;
  if (reply.has_error()) {
    out << "error (request " << reply.request_id() << ") " << v1::ErrorCode_Name(reply.error().code()) << ": "
        << reply.error().message() << "\n";
    return out.str();
  }
  const auto& ok = reply.ok();
  out << "ok (request " << reply.request_id() << ")";
  if (ok.has_welcome()) out << ": you are " << ok.welcome().display_name() << " (id " << ok.welcome().user_id() << ")\n";
  else if (ok.has_accepted()) out << ": #" << ok.accepted().seq() << "\n";
  else if (ok.has_snapshot()) out << "\n" << describe_snapshot(ok.snapshot());
  else if (ok.has_left()) out << ": left the room\n";
  else if (ok.has_members()) {
    out << ": " << people(ok.members().present()) << " here; these " << ok.members().members_size() << ":";
    for (const auto& member : ok.members().members()) {
      out << " " << member_word(member) << " (" << member.person().user_id() << (member.muted() ? ", muted" : "") << ")";
    }
    if (!ok.members().next().empty()) out << "; more: /who-after " << ok.members().next();
    out << "\n";
  }
  else out << "\n";
  return out.str();
}

const char* shortcut_help() {
  return "commands: /ask TEXT, /ask-anon TEXT, /vote Q, /unvote Q, /approve Q, /dismiss Q, /pin Q, /unpin,\n"
         "  /answer Q TEXT, /answered Q, /delete-question Q, /reply M TEXT, /delete M, /mute USER, /unmute USER,\n"
         "  /kick USER, /ban USER, /unban USER, /who [NAME] (staff: who is here), /who-after USER, /close, /leave,\n"
         "  /erase-mine (erases everything you wrote in the room, for good), /ping, /help; a line starting with { is sent as\n"
         "  JSON (a ClientMessage); any other line is said in the room.\n";
}

std::optional<v1::ClientMessage> parse_line(const std::string& line, const std::string& room_id, std::string& error) {
  error.clear();
  v1::ClientMessage message;
  if (line.find_first_not_of(" \t\r") == std::string::npos) return std::nullopt;
  if (line.front() == '{') {
    const auto status = google::protobuf::util::JsonStringToMessage(line, &message);
    if (!status.ok()) {
      error = "not a ClientMessage in JSON: " + std::string(status.message());
      return std::nullopt;
    }
    if (message.room_id().empty()) message.set_room_id(room_id);
    return message;
  }
  message.set_room_id(room_id);
  if (line.front() != '/') {
    message.mutable_send_message()->set_text(line);
    return message;
  }
  std::istringstream in(line);
  std::string verb;
  in >> verb;
  std::string rest;
  std::getline(in >> std::ws, rest);
  const auto id = [&]() -> std::optional<std::uint64_t> {
    try {
      std::size_t used = 0;
      const auto value = std::stoull(rest, &used);
      rest = used < rest.size() ? rest.substr(rest.find_first_not_of(' ', used) == std::string::npos
                                                  ? rest.size()
                                                  : rest.find_first_not_of(' ', used))
                                : std::string();
      return value;
    } catch (const std::exception&) {
      error = verb + " needs a number";
      return std::nullopt;
    }
  };
  if (verb == "/help") {
    error = shortcut_help();
    return std::nullopt;
  }
  if (verb == "/ask" || verb == "/ask-anon") {
    message.mutable_ask_question()->set_text(rest);
    message.mutable_ask_question()->set_anonymous(verb == "/ask-anon");
  } else if (verb == "/ping") {
    message.mutable_ping();
  } else if (verb == "/close") {
    message.mutable_close_room();
  } else if (verb == "/leave") {
    message.mutable_leave_room();
  } else if (verb == "/erase-mine") {
    message.mutable_erase_my_content();
  } else if (verb == "/unpin") {
    message.mutable_pin_question();
  } else if (verb == "/mute" || verb == "/unmute") {
    message.mutable_mute_member()->set_user_id(rest);
    message.mutable_mute_member()->set_muted(verb == "/mute");
  } else if (verb == "/ban" || verb == "/unban") {
    message.mutable_ban_member()->set_user_id(rest);
    message.mutable_ban_member()->set_banned(verb == "/ban");
  } else if (verb == "/kick") {
    message.mutable_kick_member()->set_user_id(rest);
  } else if (verb == "/who") {
    message.mutable_list_members()->set_query(rest);
  } else if (verb == "/who-after") {
    message.mutable_list_members()->set_after(rest);
  } else {
    const auto number = id();
    if (!number) return std::nullopt;
    if (verb == "/vote" || verb == "/unvote") {
      message.mutable_vote_question()->set_question_id(*number);
      message.mutable_vote_question()->set_up(verb == "/vote");
    } else if (verb == "/approve") {
      message.mutable_approve_question()->set_question_id(*number);
    } else if (verb == "/dismiss") {
      message.mutable_dismiss_question()->set_question_id(*number);
    } else if (verb == "/pin") {
      message.mutable_pin_question()->set_question_id(*number);
    } else if (verb == "/answer") {
      message.mutable_answer_question()->set_question_id(*number);
      message.mutable_answer_question()->set_text(rest);
    } else if (verb == "/answered") {
      message.mutable_mark_answered()->set_question_id(*number);
    } else if (verb == "/delete-question") {
      message.mutable_delete_question()->set_question_id(*number);
    } else if (verb == "/reply") {
      message.mutable_send_message()->set_reply_to_message_id(*number);
      message.mutable_send_message()->set_text(rest);
    } else if (verb == "/delete") {
      message.mutable_delete_message()->set_message_id(*number);
    } else {
      error = "unknown command " + verb + " (try /help)";
      return std::nullopt;
    }
  }
  return message;
}

}  // namespace hearth::cli
