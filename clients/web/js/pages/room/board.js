// The AMA board: questions, votes, answers, and asking.

import { h, replaceChildren, time } from "../../dom.js";
import { once, authorName, reportButton } from "./parts.js";
import { renderOutbox } from "./outbox.js";

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
    // What became of the question just asked: under the box, in view.
    const askStatus = h("div", { class: "composer-status", id: "ask-status", role: "status" });
    const pinned = h("div", { class: "pinned" });
    const queue = h("div", { class: "queue" });
    const list = h("ol", { class: "questions", id: "questions" });
    // Staff: what was dismissed is kept apart from the board, a click away,
    // each with an undo; right after a dismissal, an undo in view.
    const undo = h("div", { class: "undo-bar", id: "undo-bar", role: "status" });
    const dismissedToggle = h("button", { type: "button", class: "small quiet", id: "show-dismissed",
                                          "aria-expanded": "false", "aria-controls": "dismissed-questions",
                                          onclick: () => {
                                            session.showDismissed = !session.showDismissed;
                                            session.scheduleRender();
                                          } });
    const dismissedList = h("ol", { class: "questions dismissed", id: "dismissed-questions" });
    const dismissed = h("div", { class: "dismissed-area" }, dismissedToggle, dismissedList);
    section.append(pinned, ask, askStatus, answer, undo, queue,
      h("div", { class: "sort", role: "group", "aria-label": "Sort questions" }, "Sort: ", top, newest),
      list, dismissed);
    return { ask, askStatus, text, approvalNote, top, newest, answer, answerFor, answerText, pinned, queue, list,
             undo, dismissed, dismissedToggle, dismissedList };
  });
  renderOutbox(parts.askStatus, session, "question");

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
  const staff = room.isStaff();
  const pending = questions.filter((q) => q.state === "QUESTION_STATE_PENDING");
  const dismissed = staff ? questions.filter((q) => q.state === "QUESTION_STATE_DISMISSED") : [];
  // A participant sees their own waiting and dismissed questions in place.
  const shown = staff ? questions.filter((q) => q.state !== "QUESTION_STATE_PENDING" &&
                                                q.state !== "QUESTION_STATE_DISMISSED")
                      : questions;
  const undo = session.undo;
  replaceChildren(parts.undo, staff && undo
    ? [h("span", {}, undo.text), " ",
       h("button", { type: "button", class: "small", id: "undo-button", onclick: () => session.runUndo() }, "Undo")]
    : null);
  parts.dismissed.hidden = !dismissed.length;
  parts.dismissedToggle.textContent = `${session.showDismissed ? "Hide" : "Show"} dismissed questions (${dismissed.length})`;
  parts.dismissedToggle.setAttribute("aria-expanded", String(!!session.showDismissed));
  parts.dismissedList.hidden = !session.showDismissed;
  replaceChildren(parts.dismissedList, session.showDismissed ? dismissed.map((q) => questionItem(q, session)) : null);
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
  const own = room.asked(question);
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
                 h("button", { type: "button", class: "small quiet", dataset: { key: `dismiss-${id}` },
                               onclick: () => session.dismiss(question) }, "Dismiss"));
  }
  if (staff && state === "QUESTION_STATE_DISMISSED") {
    actions.push(act("Undo dismissal", { dismissQuestion: { questionId: id, undo: true } }, "undismiss"));
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
  const editable = own && (state === "QUESTION_STATE_PENDING" || state === "QUESTION_STATE_OPEN");
  if (editable && session.editingQuestion !== id) {
    actions.push(h("button", { type: "button", class: "small", dataset: { key: `edit-${id}` }, onclick: () => {
      session.editingQuestion = id;
      session.scheduleRender();
      requestAnimationFrame(() => document.getElementById(`edit-text-${id}`)?.focus());
    } }, "Edit"));
  }
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
      editable && session.editingQuestion === id ? editForm(question, session)
                                                 : h("p", { class: "text" }, question.text),
      h("p", { class: "meta" },
        question.anonymous && own ? h("span", { class: "yours" }, "Yours (anonymous to others)")
          : question.anonymous ? "Anonymous" : authorName(question.author),
        " · ", time(question.askedAt),
        question.editedAt ? " · edited" : "", " ", badges),
      question.answer
        ? h("div", { class: "answer" }, h("p", { class: "meta" }, `${authorName(question.answer.by)} answered`),
            h("p", { class: "text" }, question.answer.text))
        : null,
      actions.length ? h("div", { class: "actions" }, actions) : null));
}

// The author's own question, being edited in place: one form while it
// lasts, so that renders on the way (votes, new questions) keep what is
// typed.
function editForm(question, session) {
  const id = question.id;
  if (session.questionEditForm?.dataset.question === id) return session.questionEditForm;
  const text = h("textarea", { id: `edit-text-${id}`, rows: 3, maxlength: 1000, required: true,
                               dataset: { key: `edit-text-${id}` } });
  text.value = question.text;
  const done = () => {
    session.editingQuestion = null;
    session.questionEditForm = null;
    session.scheduleRender();
  };
  session.questionEditForm = h("form", { class: "composer edit", dataset: { question: id }, onsubmit: async (e) => {
    e.preventDefault();
    const value = text.value.trim();
    if (!value) return;
    if (value === question.text) return done();
    const ok = await session.command({ editQuestion: { questionId: id, text: value } });
    if (ok) done();
  } },
    h("label", { for: `edit-text-${id}` }, "Edit your question"), text,
    h("div", { class: "row" },
      h("button", { type: "submit", dataset: { key: `save-${id}` } }, "Save"),
      h("button", { type: "button", class: "quiet", onclick: done }, "Cancel")));
  return session.questionEditForm;
}
