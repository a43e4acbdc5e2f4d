// What a room looks like: the AMA board, the chat, the people, the host's
// tools and the outbox. Each section is built once (its inputs keep what is
// typed in them); only its lists are drawn again on every change.

import { h, replaceChildren, time } from "./dom.js";
import { roleName } from "./room.js";

const RANK = { ROLE_PARTICIPANT: 0, ROLE_MODERATOR: 1, ROLE_HOST: 2, ROLE_ADMIN: 3 };

function once(section, build) {
  if (!section.parts) section.parts = build();
  return section.parts;
}

function authorName(person) {
  return person?.displayName || "Anonymous";
}

// ---------------------------------------------------------------------------
// AMA board
// ---------------------------------------------------------------------------

export function renderBoard(section, session) {
  const room = session.room;
  const parts = once(section, () => {
    const text = h("textarea", { id: "ask-text", rows: 3, maxlength: 1000, required: true,
                                 placeholder: "Your question" });
    const anonymous = h("input", { id: "ask-anonymous", type: "checkbox" });
    const approvalNote = h("p", { class: "hint" });
    const ask = h("form", { class: "composer ask", onsubmit: (e) => {
      e.preventDefault();
      const value = text.value.trim();
      if (!value) return;
      session.post("question", { askQuestion: { text: value, anonymous: anonymous.checked } }, value);
      text.value = "";
    } },
      h("label", { for: "ask-text" }, "Ask a question"),
      text,
      h("div", { class: "row" },
        h("label", { class: "check" }, anonymous, " Post anonymously"),
        h("button", { type: "submit", id: "ask-button" }, "Ask")),
      approvalNote);
    const top = h("button", { type: "button", dataset: { key: "sort-top" },
                              onclick: () => { session.order = "top"; session.scheduleRender(); } }, "Top");
    const newest = h("button", { type: "button", dataset: { key: "sort-new" },
                                 onclick: () => { session.order = "new"; session.scheduleRender(); } }, "Newest");
    const answerText = h("textarea", { id: "answer-text", rows: 3, maxlength: 4000 });
    const answerFor = h("p", { class: "answer-for" });
    const answer = h("form", { class: "composer answer", hidden: true, onsubmit: async (e) => {
      e.preventDefault();
      const value = answerText.value.trim();
      if (!value || !session.answering) return;
      const ok = await session.command({ answerQuestion: { questionId: session.answering, text: value } });
      if (ok) {
        answerText.value = "";
        session.answering = null;
        session.scheduleRender();
      }
    } },
      h("label", { for: "answer-text" }, "Your answer"), answerFor, answerText,
      h("div", { class: "row" },
        h("button", { type: "submit", id: "answer-button" }, "Post answer"),
        h("button", { type: "button", class: "quiet",
                      onclick: () => { session.answering = null; session.scheduleRender(); } }, "Cancel")));
    const pinned = h("div", { class: "pinned" });
    const queue = h("div", { class: "queue" });
    const list = h("ol", { class: "questions", id: "questions" });
    section.append(pinned, ask, answer, queue,
      h("div", { class: "sort", role: "group", "aria-label": "Sort questions" }, "Sort: ", top, newest),
      list);
    return { ask, text, approvalNote, top, newest, answer, answerFor, answerText, pinned, queue, list };
  });

  const canPost = !room.youAreMuted && !room.info.closed;
  parts.ask.hidden = !canPost;
  parts.approvalNote.textContent = room.info.settings?.requireApproval && !room.isStaff()
    ? "Questions appear once a host or moderator has approved them." : "";
  parts.top.setAttribute("aria-pressed", String(session.order === "top"));
  parts.newest.setAttribute("aria-pressed", String(session.order === "new"));

  const answering = session.answering && room.questions.get(session.answering);
  parts.answer.hidden = !answering;
  if (answering) parts.answerFor.textContent = `Answering: ${answering.text}`;

  const pinned = room.pinned();
  replaceChildren(parts.pinned, pinned
    ? h("div", { class: "now", id: "answering-now" }, h("span", { class: "badge now" }, "Answering now"),
        h("p", {}, pinned.text))
    : null);

  const questions = room.sortedQuestions(session.order);
  const pending = questions.filter((q) => q.state === "QUESTION_STATE_PENDING");
  const shown = questions.filter((q) => q.state !== "QUESTION_STATE_PENDING" || !room.isStaff());
  replaceChildren(parts.queue, room.isStaff() && pending.length
    ? [h("h2", {}, `Waiting for approval (${pending.length})`),
       h("ol", { class: "questions pending", id: "approval-queue" }, pending.map((q) => questionItem(q, session)))]
    : null);
  replaceChildren(parts.list, shown.length ? shown.map((q) => questionItem(q, session))
                                           : h("li", { class: "empty" }, "No questions yet."));
}

function questionItem(question, session) {
  const room = session.room;
  const id = question.id;
  const state = question.state;
  if (state === "QUESTION_STATE_DELETED") {
    return h("li", { class: "question deleted", dataset: { id } }, h("p", { class: "tombstone" }, "This question was deleted."));
  }
  const staff = room.isStaff();
  const own = question.author?.userId && question.author.userId === room.you?.userId;
  const voted = room.votedByMe(question);
  const votable = state === "QUESTION_STATE_OPEN" || state === "QUESTION_STATE_ANSWERED";
  const badges = [];
  if (question.pinned) badges.push(h("span", { class: "badge now" }, "Answering now"));
  if (question.flagged) badges.push(h("span", { class: "badge flagged" }, "May need support"));
  if (question.reports) badges.push(h("span", { class: "badge flagged" }, `Reported (${question.reports})`));
  if (state === "QUESTION_STATE_ANSWERED") badges.push(h("span", { class: "badge answered" }, "Answered"));
  if (state === "QUESTION_STATE_PENDING") badges.push(h("span", { class: "badge pending" }, "Waiting for approval"));
  // Someone who was offered support with their question is never told it
  // was "not taken".
  if (state === "QUESTION_STATE_DISMISSED") {
    // Only staff and its author see a dismissed question; an anonymous
    // author's own is not marked theirs in events, so ask the field.
    badges.push(!staff && question.supportOffered ? h("span", { class: "badge pending" }, "Seen by the hosts")
                                               : h("span", { class: "badge dismissed" }, "Not taken"));
  }

  const actions = [];
  const act = (label, payload, key) =>
    h("button", { type: "button", class: "small", dataset: { key: `${key}-${id}` },
                  onclick: () => session.command(payload) }, label);
  if (staff && state === "QUESTION_STATE_PENDING") {
    actions.push(act("Approve", { approveQuestion: { questionId: id } }, "approve"),
                 act("Dismiss", { dismissQuestion: { questionId: id } }, "dismiss"));
  }
  if (staff && state === "QUESTION_STATE_OPEN") {
    actions.push(question.pinned ? act("Stop answering", { pinQuestion: { questionId: "0" } }, "unpin")
                                 : act("Answer now", { pinQuestion: { questionId: id } }, "pin"));
  }
  if (staff && (state === "QUESTION_STATE_OPEN" || state === "QUESTION_STATE_ANSWERED")) {
    actions.push(h("button", { type: "button", class: "small", dataset: { key: `answer-${id}` }, onclick: () => {
      session.answering = id;
      session.scheduleRender();
      requestAnimationFrame(() => document.getElementById("answer-text")?.focus());
    } }, question.answer ? "Answer again" : "Write answer"));
  }
  if (staff && state === "QUESTION_STATE_OPEN") actions.push(act("Mark answered", { markAnswered: { questionId: id } }, "answered"));
  if (!staff && !own) actions.push(reportButton(session, { questionId: id }, `report-${id}`));
  if (staff || own) {
    actions.push(h("button", { type: "button", class: "small danger", dataset: { key: `delete-${id}` }, onclick: () => {
      if (confirm("Delete this question for everyone?")) session.command({ deleteQuestion: { questionId: id } });
    } }, "Delete"));
  }

  return h("li", { class: `question${question.pinned ? " pinned" : ""}`, dataset: { id } },
    h("button", { type: "button", class: `vote${voted ? " voted" : ""}`, disabled: !votable,
                  "aria-pressed": String(voted), dataset: { key: `vote-${id}` },
                  "aria-label": `${voted ? "Remove your vote" : "Vote for this question"} (${question.votes || 0} votes)`,
                  onclick: () => session.vote(question) },
      h("span", { "aria-hidden": "true" }, "▲"), h("span", { class: "count" }, String(question.votes || 0))),
    h("div", { class: "body" },
      h("p", { class: "text" }, question.text),
      h("p", { class: "meta" }, question.anonymous && !own ? "Anonymous" : authorName(question.author),
        question.anonymous && own ? " (anonymously)" : "", " · ", time(question.askedAt),
        question.editedAt ? " · edited" : "", " ", badges),
      question.answer
        ? h("div", { class: "answer" }, h("p", { class: "meta" }, `${authorName(question.answer.by)} answered`),
            h("p", { class: "text" }, question.answer.text))
        : null,
      actions.length ? h("div", { class: "actions" }, actions) : null));
}

// ---------------------------------------------------------------------------
// Chat
// ---------------------------------------------------------------------------

export function renderChat(section, session) {
  const room = session.room;
  const parts = once(section, () => {
    const list = h("ol", { class: "messages", id: "messages" });
    const text = h("textarea", { id: "chat-text", rows: 2, maxlength: 2000, placeholder: "Write a message" });
    const context = h("div", { class: "chat-context" });
    const form = h("form", { class: "composer chat-form", onsubmit: async (e) => {
      e.preventDefault();
      const value = text.value.trim();
      if (!value) return;
      if (session.editing) {
        const ok = await session.command({ editMessage: { messageId: session.editing, text: value } });
        if (!ok) return;
        session.editing = null;
      } else {
        const payload = { text: value };
        if (session.replyTo?.messageId) payload.replyToMessageId = session.replyTo.messageId;
        if (session.replyTo?.questionId) payload.replyToQuestionId = session.replyTo.questionId;
        session.post("message", { sendMessage: payload }, value);
        session.replyTo = null;
      }
      text.value = "";
      session.scheduleRender();
    } },
      context,
      h("label", { for: "chat-text", class: "visually-hidden" }, "Message"),
      text,
      h("button", { type: "submit", id: "send-button" }, "Send"));
    text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    section.append(h("h2", {}, "Chat"), list, form);
    return { list, text, context, form };
  });
  parts.form.hidden = room.youAreMuted || room.info.closed;
  const replying = session.replyTo?.messageId && room.messages.get(session.replyTo.messageId);
  replaceChildren(parts.context,
    session.editing ? h("p", {}, "Editing your message ",
                        h("button", { type: "button", class: "quiet", onclick: () => {
                          session.editing = null;
                          parts.text.value = "";
                          session.scheduleRender();
                        } }, "Cancel")) : null,
    replying ? h("p", {}, `Replying to ${authorName(replying.author)}: `, h("q", {}, replying.text || "(deleted)"), " ",
                 h("button", { type: "button", class: "quiet",
                               onclick: () => { session.replyTo = null; session.scheduleRender(); } }, "Cancel")) : null);

  const messages = room.sortedMessages().filter((m) => room.isStaff() || !m.privateReply);
  replaceChildren(parts.list, messages.length ? messages.map((m) => messageItem(m, session, parts))
                                              : h("li", { class: "empty" }, "No messages yet."));
}

function messageItem(message, session, parts) {
  const room = session.room;
  const id = message.id;
  if (message.deleted) {
    return h("li", { class: "message deleted", dataset: { id } }, h("p", { class: "tombstone" }, "Message deleted."));
  }
  const own = message.author?.userId === room.you?.userId;
  const staff = room.isStaff();
  const parent = message.replyToMessageId !== "0" && message.replyToMessageId
    ? room.messages.get(message.replyToMessageId) : null;
  const quote = message.replyToMessageId && message.replyToMessageId !== "0"
    ? h("p", { class: "reply-to" }, "↪ ", parent && !parent.deleted
        ? [authorName(parent.author), ": ", parent.text] : "an earlier message that is no longer shown")
    : message.replyToQuestionId && message.replyToQuestionId !== "0"
      ? h("p", { class: "reply-to" }, "↪ about question: ", room.questions.get(message.replyToQuestionId)?.text || "(no longer shown)")
      : null;
  const actions = [];
  if (!room.youAreMuted && !room.info.closed) {
    actions.push(h("button", { type: "button", class: "small quiet", dataset: { key: `reply-${id}` }, onclick: () => {
      session.replyTo = { messageId: id };
      session.editing = null;
      session.scheduleRender();
      parts.text.focus();
    } }, "Reply"));
  }
  if (own && !room.youAreMuted && !room.info.closed) {
    actions.push(h("button", { type: "button", class: "small quiet", dataset: { key: `edit-${id}` }, onclick: () => {
      session.editing = id;
      session.replyTo = null;
      parts.text.value = message.text;
      session.scheduleRender();
      parts.text.focus();
    } }, "Edit"));
  }
  if (!own && !staff) actions.push(reportButton(session, { messageId: id }, `report-message-${id}`));
  if (own || staff) {
    actions.push(h("button", { type: "button", class: "small quiet danger", dataset: { key: `delete-message-${id}` },
                               onclick: () => {
      if (confirm("Delete this message for everyone?")) session.command({ deleteMessage: { messageId: id } });
    } }, "Delete"));
  }
  if (staff && message.held) {
    actions.unshift(h("button", { type: "button", class: "small", dataset: { key: `release-${id}` },
                                  onclick: () => session.command({ releaseMessage: { messageId: id } }) },
      "Release to everyone"));
  }
  const author = message.author || {};
  return h("li", { class: `message${own ? " own" : ""}${message.flagged ? " flagged" : ""}`, dataset: { id } },
    quote,
    h("p", { class: "meta" }, h("strong", {}, authorName(author)),
      author.role && author.role !== "ROLE_PARTICIPANT" ? h("span", { class: "badge role" }, roleName(author.role)) : null,
      " · ", time(message.sentAt), message.editedAt ? " · edited" : "",
      message.flagged ? h("span", { class: "badge flagged" }, "May need support") : null,
      message.reports ? h("span", { class: "badge flagged" }, `Reported (${message.reports})`) : null,
      message.privateReply ? h("span", { class: "badge pending" }, "Private reply: only its addressee and staff see it")
                           : null,
      message.held ? h("span", { class: "badge pending" },
                       own && !staff ? "Only the moderators see this for now" : "Held for a moderator") : null),
    h("p", { class: "text" }, message.text),
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

// ---------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------

export function renderMembers(section, session) {
  const room = session.room;
  const parts = once(section, () => {
    const heading = h("h2", {});
    // Participants of an AMA (and of a big support room) see how many are
    // here and who the staff are, never one another (docs/protocol.md 1.15).
    const note = h("p", { class: "hint", id: "people-note" });
    // Staff of a big room find anyone by name (ListMembers).
    const search = h("input", { type: "search", id: "people-search", placeholder: "Find someone by name",
                                "aria-label": "Find someone here by name", hidden: true });
    search.addEventListener("input", async () => {
      const query = search.value.trim();
      session.memberSearch = null;
      if (query) {
        const ok = await session.command({ listMembers: { query, limit: 50 } });
        if (search.value.trim() === query && ok?.members) session.memberSearch = ok.members.members || [];
      }
      session.scheduleRender();
    });
    const list = h("ul", { class: "people", id: "members" });
    // "Erase my data", for everyone: see EraseMyContent in docs/protocol.md.
    const erase = h("button", { type: "button", class: "small quiet danger", id: "erase-mine", onclick: async () => {
      if (!confirm("Erase everything you wrote in this room? Your questions, answers and messages are removed " +
                   "for everyone, with your name, also from the room's stored history. This cannot be undone.")) return;
      if (await session.command({ eraseMyContent: {} })) {
        session.room.forgetMine();
        session.scheduleRender();
        session.setNotice("Everything you wrote in this room has been erased.");
      }
    } }, "Erase what I wrote here");
    // Anonymous members: this device stops being able to come back as them.
    const forget = h("button", { type: "button", class: "small quiet", id: "forget-me", hidden: true, onclick: async () => {
      if (!confirm("Leave, and make this device forget you here? You will not be able to come back as the same " +
                   "person, here or on any other device. What you wrote stays, without your name.")) return;
      await session.forgetMe();
    } }, "Forget me on this device");
    section.append(heading, note, search, list, erase, forget);
    return { heading, note, search, list, forget };
  });
  parts.forget.hidden = !room.you?.userId?.startsWith("anon:");
  const count = Math.max(room.present, room.members.size);
  parts.heading.textContent = `Here now (${count})`;
  const hidden = !room.isStaff() && !room.listed;
  parts.note.hidden = !hidden;
  parts.note.textContent = hidden
    ? (count <= 1 ? "Only you are here so far."
                  : "Participants can't see who else is here, and only hosts and moderators see that you are. " +
                    (room.members.size ? "Hosts and moderators here:" : "No host or moderator is here right now."))
    : "";
  parts.search.hidden = !(room.isStaff() && count > room.members.size);
  const searching = !parts.search.hidden && parts.search.value.trim() && session.memberSearch;
  const members = searching ? session.memberSearch : room.sortedMembers();
  const myRank = RANK[room.you?.role] ?? 0;
  replaceChildren(parts.list, members.map((member) => {
    const person = member.person;
    const userId = person.userId;
    const actions = [];
    if (room.isStaff() && userId !== room.you?.userId && (RANK[person.role] ?? 0) < myRank) {
      actions.push(
        h("button", { type: "button", class: "small quiet", dataset: { key: `mute-${userId}` },
                      onclick: () => session.command({ muteMember: { userId, muted: !member.muted } }) },
          member.muted ? "Unmute" : "Mute"),
        h("button", { type: "button", class: "small quiet", dataset: { key: `kick-${userId}` },
                      onclick: () => session.command({ kickMember: { userId } }) }, "Remove"),
        h("button", { type: "button", class: "small quiet danger", dataset: { key: `ban-${userId}` }, onclick: () => {
          if (confirm(`Ban ${person.displayName} from this room?`)) session.command({ banMember: { userId, banned: true } });
        } }, "Ban"));
    }
    return h("li", { class: "person", dataset: { user: userId } },
      h("span", { class: "name" }, person.displayName || "(name erased)"),
      person.role !== "ROLE_PARTICIPANT" ? h("span", { class: "badge role" }, roleName(person.role)) : null,
      member.muted ? h("span", { class: "badge muted" }, "muted") : null,
      userId === room.you?.userId ? h("span", { class: "you-marker" }, " (you)") : null,
      actions.length ? h("span", { class: "actions" }, actions) : null);
  }));
}

// ---------------------------------------------------------------------------
// Host and moderator tools
// ---------------------------------------------------------------------------

export function renderHostTools(section, session) {
  const room = session.room;
  const parts = once(section, () => {
    // Each control changes its own setting only (settingsMask). Opening the
    // room or ending the crisis hold is asked about first, and only then
    // sent with allowLoosening, as the server requires.
    const update = (field, value, loosening) => {
      if (loosening && !confirm(loosening)) {
        renderHostTools(section, session);  // put the control back as the room has it
        return;
      }
      session.command({ updateRoom: { settings: { [field]: value }, settingsMask: field,
                                      allowLoosening: !!loosening } });
    };
    const approval = h("input", { type: "checkbox", id: "setting-approval",
                                  onchange: () => update("requireApproval", approval.checked) });
    const sideChat = h("input", { type: "checkbox", id: "setting-side-chat",
                                  onchange: () => update("sideChat", sideChat.checked) });
    const slowMode = h("select", { id: "setting-slow-mode",
                                   onchange: () => update("slowModeSeconds", Number(slowMode.value)) },
      h("option", { value: "0" }, "off"), h("option", { value: "10" }, "10 seconds"),
      h("option", { value: "30" }, "30 seconds"), h("option", { value: "60" }, "1 minute"),
      h("option", { value: "300" }, "5 minutes"));
    const crisis = h("select", { id: "setting-crisis", onchange: () => update("crisisPolicy", crisis.value,
      room.info.settings?.crisisPolicy === "CRISIS_POLICY_HOLD" && crisis.value !== "CRISIS_POLICY_HOLD"
        ? "Show posts that suggest a crisis at once, without a moderator seeing them first?" : "") },
      h("option", { value: "CRISIS_POLICY_DELIVER" }, "show it, and alert hosts and moderators"),
      h("option", { value: "CRISIS_POLICY_HOLD" }, "hold it for a moderator, and alert them"));
    const settings = h("div", { class: "settings" },
      h("label", { class: "check" }, approval, " Review questions first"),
      h("label", { class: "check" }, sideChat, " Side chat"),
      h("label", { for: "setting-slow-mode" }, "Slow mode: each participant posts at most once per"), slowMode,
      h("label", { for: "setting-crisis" }, "When someone's words suggest a crisis"), crisis);
    const inviteOnly = h("input", { type: "checkbox", id: "setting-private", onchange: () =>
      update("inviteOnly", inviteOnly.checked,
             inviteOnly.checked ? "" : "Make the room open to anyone who has its link or id?") });
    const passcode = h("input", { id: "setting-passcode", type: "password", autocomplete: "new-password",
                                  maxlength: 128, placeholder: "4 to 128 characters" });
    const setPasscode = h("form", { class: "passcode-form", onsubmit: async (e) => {
      e.preventDefault();
      if (!passcode.value) return;
      const ok = await session.command({ updateRoom: { passcode: passcode.value } });
      if (ok) {
        passcode.value = "";
        session.setNotice("The passcode is set.");
      }
    } },
      h("label", { for: "setting-passcode" }, "Passcode for the private room"), passcode,
      h("button", { type: "submit", class: "small" }, "Set passcode"));
    const inviteLink = h("input", { id: "invite-link", readonly: true, hidden: true });
    const invite = h("button", { type: "button", class: "small", id: "create-invite", onclick: async () => {
      const ok = await session.command({ createInvite: { ttlSeconds: 7 * 24 * 3600 } });
      if (!ok) return;
      inviteLink.value = `${location.origin}/r/${encodeURIComponent(session.roomId)}#invite=${ok.invite.token}`;
      inviteLink.hidden = false;
      inviteLink.select();
    } }, "Create an invite link (7 days)");
    const signIn = h("input", { type: "checkbox", id: "setting-sign-in", onchange: () =>
      update("requireSignIn", signIn.checked,
             signIn.checked ? "" : "Let people join anonymously, without signing in or an invite?") });
    const access = h("div", { class: "access" },
      h("label", { class: "check" }, inviteOnly, " Private: only with an invite or the passcode"),
      h("label", { class: "check" }, signIn, " Only people who are signed in or invited"),
      setPasscode, invite, inviteLink);
    const close = h("button", { type: "button", class: "danger", id: "close-room", onclick: () => {
      if (confirm("Close the room for everyone? Nobody can post afterwards.")) session.command({ closeRoom: {} });
    } }, "Close the room");
    const downloads = h("p", { class: "downloads" }, "Transcript: ",
      h("button", { type: "button", class: "small", id: "download-json", onclick: () => download(session, "json") }, "JSON"),
      " ",
      h("button", { type: "button", class: "small", id: "download-markdown", onclick: () => download(session, "markdown") },
        "Markdown"));
    section.append(h("h2", {}, "Room tools"), settings, access, downloads, close);
    return { approval, sideChat, slowMode, crisis, inviteOnly, signIn, settings, access, close };
  });
  const host = room.isHost() && !room.info.closed;
  parts.settings.hidden = !host;
  parts.inviteOnly.checked = !!room.info.settings?.inviteOnly;
  parts.inviteOnly.parentElement.hidden = !host;
  parts.signIn.checked = !!room.info.settings?.requireSignIn;
  parts.signIn.parentElement.hidden = !host;
  parts.access.querySelector(".passcode-form").hidden = !host;
  parts.access.hidden = room.info.closed;
  parts.close.hidden = !host;
  parts.approval.checked = !!room.info.settings?.requireApproval;
  parts.sideChat.checked = !!room.info.settings?.sideChat;
  const slow = String(room.info.settings?.slowModeSeconds || 0);
  if (![...parts.slowMode.options].some((option) => option.value === slow)) {
    parts.slowMode.append(h("option", { value: slow }, `${slow} seconds`));
  }
  parts.slowMode.value = slow;
  parts.crisis.value = room.info.settings?.crisisPolicy || "CRISIS_POLICY_DELIVER";
  parts.sideChat.parentElement.hidden = room.info.kind !== "ROOM_KIND_AMA";
  parts.approval.parentElement.hidden = room.info.kind !== "ROOM_KIND_AMA";
}

async function download(session, format) {
  const response = await session.fetchTranscript(format);
  if (!response.ok) {
    session.setNotice("The transcript could not be downloaded.");
    return;
  }
  const blob = await response.blob();
  const link = h("a", { href: URL.createObjectURL(blob),
                        download: `transcript-${session.roomId}.${format === "json" ? "json" : "md"}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// ---------------------------------------------------------------------------
// Care: support for someone whose words suggested a crisis, alerts for staff
// ---------------------------------------------------------------------------

function reportButton(session, target, key) {
  return h("button", { type: "button", class: "small quiet", dataset: { key }, onclick: async () => {
    const reason = prompt("Tell the moderators what is wrong (optional). Only they will see your report.");
    if (reason === null) return;
    const ok = await session.command({ reportItem: { ...target, reason: reason.slice(0, 500) } });
    if (ok) session.setNotice("Thank you. The moderators have your report.");
  } }, "Report");
}

// A deleted question or message: only its tombstone is left.
function isTombstone(item) {
  return item.deleted || item.state === "QUESTION_STATE_DELETED";
}

function showItem(id) {
  document.querySelector(`[data-id="${CSS.escape(id)}"]`)?.scrollIntoView({ block: "center" });
}

export function renderCare(support, alerts, session) {
  const room = session.room;
  // Private replies from the staff to this person: here, where they are
  // seen also in an AMA without chat.
  const forYou = room.isStaff() ? [] : room.sortedMessages().filter((m) => m.privateReply && !m.deleted);
  support.hidden = !session.support && forYou.length === 0;
  replaceChildren(support,
    session.support
      ? [h("h2", {}, session.supportForHelping ? "If you are worried about someone" : "You are not alone"),
         ...session.support.split("\n").filter(Boolean).map((line) => h("p", {}, line)),
         h("button", { type: "button", class: "small quiet", onclick: () => {
           session.support = "";
           session.scheduleRender();
         } }, "Close")]
      : null,
    forYou.length
      ? h("div", { class: "private-replies", id: "private-replies" },
          h("h2", {}, "For you from the hosts"),
          h("p", { class: "meta" }, "Only you and the room's hosts and moderators see these."),
          forYou.map((m) => h("blockquote", { class: "private-reply", dataset: { id: m.id } },
            h("p", {}, m.text), h("p", { class: "meta" }, authorName(m.author), " · ", time(m.sentAt)))))
      : null);
  // The moderator queue: everything flagged or reported that nobody has
  // marked handled since.
  const attention = room.isStaff()
    ? [...room.questions.values(), ...room.messages.values()].filter(
        (item) => !isTombstone(item) && (item.flagged || item.reports) && !item.handledBy)
    : [];
  alerts.hidden = session.alerts.length === 0 && attention.length === 0;
  replaceChildren(alerts, attention.length
    ? h("details", { class: "queue-attention", open: true },
        h("summary", {}, `Needs attention (${attention.length})`),
        h("ul", { id: "attention" }, attention.map((item) =>
          h("li", {}, item.flagged ? h("span", { class: "badge flagged" }, "May need support") : null,
            item.reports ? h("span", { class: "badge flagged" }, `Reported (${item.reports})`) : null, " ",
            h("q", {}, item.text), " ",
            h("button", { type: "button", class: "small quiet", onclick: () => showItem(item.id) }, "Show")))))
    : null, session.alerts.map((alert) => alertCard(alert, session)));
}

// One alert: what happened, what the writer was shown, and the staff's
// next steps: look, write to the writer privately, mark it handled (for
// every staff member), or put it away on this screen only.
function alertCard(alert, session) {
  const room = session.room;
  const target = alert.questionId && alert.questionId !== "0" ? { questionId: alert.questionId }
                                                              : { messageId: alert.messageId };
  const found = target.questionId ? room.questions.get(target.questionId) : room.messages.get(target.messageId);
  const item = found && !isTombstone(found) ? found : null;
  const report = alert.kind === "KIND_REPORT";
  const heading = report ? `${authorName(alert.reporter)} reported this. ` : "Someone may be in crisis. ";
  const shown = !report && alert.writerShown
    ? h("details", { class: "writer-shown" }, h("summary", {}, "What they were shown"),
        alert.writerShown.split("\n").filter(Boolean).map((line) => h("p", {}, line)))
    : null;
  const many = report && Number(alert.reporterReports) > 1
    ? h("p", { class: "reporter-count" }, `They have reported ${alert.reporterReports} items in this room.`)
    : null;
  // Made once per alert, so that what is being typed survives re-renders.
  alert.replyForm ||= h("form", { class: "private-reply-form", onsubmit: async (e) => {
    e.preventDefault();
    const field = e.target.elements.text;
    const text = field.value.trim();
    if (!text) return;
    const ok = await session.command({ replyPrivately: { ...target, text } });
    if (!ok) return;
    field.value = "";
    alert.replying = false;
    session.setNotice("Sent. Only they and the room's staff can see it.");
  } },
    h("label", {}, "A message only they (and the staff) will see",
      h("textarea", { name: "text", rows: 2, maxlength: 2000 })),
    h("button", { type: "submit", class: "small" }, "Send privately"));
  const reply = alert.replyForm;
  reply.hidden = !alert.replying;
  const putAway = () => {
    // alertHandled may have taken it away already (app.js).
    session.alerts = session.alerts.filter((other) => other !== alert);
    session.scheduleRender();
  };
  return h("div", { class: "alert", role: "alert", dataset: { item: target.questionId || target.messageId } },
    h("p", {}, h("strong", {}, heading), alert.reason ? ["Reason: ", h("q", {}, alert.reason), " "] : null,
      item ? [authorName(item.author), " wrote: ", h("q", {}, item.text)]
           : found ? "It has been deleted since." : "The item is no longer shown."),
    shown, many, reply,
    h("div", { class: "actions" },
      item ? h("button", { type: "button", class: "small", onclick: () => showItem(item.id) }, "Show it") : null,
      report ? null : h("button", { type: "button", class: "small", onclick: () => {
        alert.replying = !alert.replying;
        session.scheduleRender();
      } }, "Reply privately"),
      h("button", { type: "button", class: "small", onclick: async () => {
        if (await session.command({ markHandled: target })) putAway();
      } }, "Mark handled"),
      h("button", { type: "button", class: "small quiet", onclick: putAway }, "Hide")));
}

// ---------------------------------------------------------------------------
// Outbox: what this client sent that is not confirmed yet
// ---------------------------------------------------------------------------

export function renderOutbox(container, session) {
  const labels = {
    queued: "Waiting for the connection…",
    sending: "Sending…",
    unconfirmed: "Not confirmed yet: will be checked and sent again if needed",
    waiting: "Will be sent in a moment",
    failed: "Not sent",
  };
  replaceChildren(container, session.outbox.map((item) =>
    h("div", { class: `outbox-item ${item.status}`, dataset: { status: item.status } },
      h("p", {}, h("strong", {}, labels[item.status]), item.error ? ` (${item.error})` : "", ": ", h("q", {}, item.text)),
      item.status === "failed"
        ? h("div", { class: "actions" },
            h("button", { type: "button", class: "small", onclick: () => session.retry(item) }, "Send again"),
            h("button", { type: "button", class: "small quiet", onclick: () => session.forget(item) }, "Discard"))
        : null)));
}
