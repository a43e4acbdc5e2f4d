#include "domain/transcript.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "domain/command.hpp"

namespace hearth {
namespace {

Membership host{"ada", "Dr. Ada", v1::ROLE_HOST};
Membership sam{"anon:1", "Sam", v1::ROLE_PARTICIPANT};
Membership kim{"anon:2", "Kim", v1::ROLE_PARTICIPANT};
Membership mo{"mo", "Mo", v1::ROLE_MODERATOR};

class Transcript : public ::testing::Test {
 protected:
  std::vector<SequencedEntry> log;
  std::uint64_t add(v1::LogEntry entry) {
    log.push_back(SequencedEntry{log.size() + 1, std::make_shared<const v1::LogEntry>(std::move(entry)), {}});
    return log.size();
  }
  std::uint64_t ask(const Membership& who, const std::string& text, bool anonymous = false) {
    auto entry = new_entry(who);
    entry.mutable_ask()->set_text(text);
    entry.mutable_ask()->set_anonymous(anonymous);
    return add(entry);
  }
  boost::json::object json() {
    return boost::json::parse(render_transcript("r1", nullptr, log, TranscriptFormat::json)).as_object();
  }
  void SetUp() override {
    auto created = new_entry(host);
    created.mutable_room_created()->set_title("Sleep *AMA*");
    created.mutable_room_created()->set_kind(v1::ROOM_KIND_AMA);
    created.mutable_room_created()->mutable_settings()->set_side_chat(true);
    add(created);
    for (const auto* who : {&host, &sam, &kim, &mo}) {
      auto joined = new_entry(*who);
      joined.mutable_joined()->set_connection_id("c-" + who->user_id);
      add(joined);
    }
  }
};

TEST_F(Transcript, DeletedItemsAreTombstonesWithoutTheirText) {
  const auto q = ask(sam, "something I regret");
  auto remove = new_entry(sam);
  remove.mutable_delete_question()->set_question_id(q);
  add(remove);
  auto say = new_entry(kim);
  say.mutable_say()->set_text("harmful words");
  const auto m = add(say);
  auto remove_message = new_entry(mo);
  remove_message.mutable_delete_message()->set_message_id(m);
  add(remove_message);

  const std::string text = render_transcript("r1", nullptr, log, TranscriptFormat::json) +
                           render_transcript("r1", nullptr, log, TranscriptFormat::markdown);
  EXPECT_EQ(text.find("regret"), std::string::npos);
  EXPECT_EQ(text.find("harmful"), std::string::npos);
  const auto entries = json()["entries"].as_array();
  // Sam's and Kim's joins are not listed: they are anonymous (docs/privacy.md).
  EXPECT_TRUE(entries[3].as_object().at("deleted").as_bool());
  EXPECT_EQ(entries[6].as_object().at("who").as_string(), "Mo") << "who deleted it is on record";
  EXPECT_EQ(entries[6].as_object().at("action").as_string(), "deleted message");
}

TEST_F(Transcript, AnonymousQuestionsNameNoAuthorEvenForTheHost) {
  const auto q = ask(sam, "a private worry", /*anonymous=*/true);
  auto edit = new_entry(sam);
  edit.mutable_edit_question()->set_id(q);
  edit.mutable_edit_question()->set_text("a private worry, edited");
  add(edit);
  int seen = 0;
  auto out = json();  // kept alive for the loop
  for (const auto& value : out["entries"].as_array()) {
    const auto& entry = value.as_object();
    if (entry.at("action").as_string() != "asked" && entry.at("action").as_string() != "edited question") continue;
    ++seen;
    EXPECT_EQ(entry.at("who").as_string(), "Anonymous");
    EXPECT_FALSE(entry.contains("userId"));
    EXPECT_FALSE(entry.contains("role"));
  }
  EXPECT_EQ(seen, 2);
}

TEST_F(Transcript, VotesAppearOnlyAsFinalCounts) {
  const auto q = ask(sam, "q");
  for (const auto* who : {&sam, &kim, &mo}) {
    auto vote = new_entry(*who);
    vote.mutable_vote()->set_question_id(q);
    vote.mutable_vote()->set_up(true);
    add(vote);
  }
  auto unvote = new_entry(kim);
  unvote.mutable_vote()->set_question_id(q);
  unvote.mutable_vote()->set_up(false);
  add(unvote);
  auto totals = json();
  EXPECT_EQ(totals["votes"].as_object().at(std::to_string(q)).as_int64(), 2);
  for (const auto& entry : totals["entries"].as_array()) {
    EXPECT_EQ(entry.as_object().at("action").as_string().find("vote"), std::string::npos);
  }
}

TEST_F(Transcript, ModerationActionsAreListedWithWhoDidThem) {
  auto ban = new_entry(mo);
  ban.mutable_ban()->set_user_id("anon:2");
  ban.mutable_ban()->set_banned(true);
  add(ban);
  const auto entry = json()["entries"].as_array()[3].as_object();
  EXPECT_EQ(entry.at("action").as_string(), "banned");
  EXPECT_EQ(entry.at("target").as_string(), "anon:2");
  EXPECT_EQ(entry.at("role").as_string(), "moderator");
}

TEST_F(Transcript, EntriesTheFoldRefusedAreNotInTheTranscript) {
  auto mute = new_entry(host);
  mute.mutable_mute()->set_user_id(sam.user_id);
  mute.mutable_mute()->set_muted(true);
  add(mute);
  // Appended by a node that had not seen the mute yet: refused by the fold.
  auto say = new_entry(sam);
  say.mutable_say()->set_text("raced the mute");
  add(say);
  EXPECT_EQ(render_transcript("r1", nullptr, log, TranscriptFormat::json).find("raced the mute"), std::string::npos);
}

TEST_F(Transcript, MarkdownQuotesWhatPeopleWrote) {
  auto say = new_entry(sam);
  say.mutable_say()->set_text("# not a heading\n[link](http://x)");
  add(say);
  const std::string markdown = render_transcript("r1", nullptr, log, TranscriptFormat::markdown);
  EXPECT_NE(markdown.find("# Transcript: Sleep \\*AMA\\*"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("  > \\# not a heading\n  > \\[link\\]\\(http://x\\)"), std::string::npos) << markdown;
}

}  // namespace
}  // namespace hearth
