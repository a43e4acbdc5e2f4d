// The AMA board: questions, votes, answers, and asking.

import { h, replaceChildren, time } from "../../dom.js";
import { once, actionButton, authorName, menuItem, moreMenu, reportButton } from "./parts.js";
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
    // Staff run the session rather than ask: their box waits behind a button.
    const showAsk = h("button", { type: "button", class: "small quiet", id: "show-ask", onclick: () => {
      session.staffAsking = true;
      session.scheduleRender();
      requestAnimationFrame(() => text.focus());
    } }, "Ask a question yourself");
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
    const stats = h("p", { class: "board-stats", id: "board-stats" });
    const pinned = h("div", { class: "pinned" });
    const queue = h("div", { class: "queue" });
    const list = h("ol", { class: "questions", id: "questions" });
    // Staff: right after a dismissal, an undo in view.
    const undo = h("div", { class: "undo-bar", id: "undo-bar", role: "status" });
    // Staff: which questions the list shows. Waiting ones have their own
    // place above (the approval queue).
    const filters = h("div", { class: "filters", role: "group", "aria-label": "Show questions" },
      Object.entries(FILTERS).map(([key]) => h("button", { type: "button", class: "small", id: `filter-${key}`,
        dataset: { key: `filter-${key}` }, onclick: () => { session.filter = key; session.scheduleRender(); } })));
    section.append(stats, pinned, showAsk, ask, askStatus, answer, undo, queue,
      h("div", { class: "list-head" }, filters,
        h("div", { class: "sort", role: "group", "aria-label": "Sort questions" }, "Sort: ", top, newest)),
      list);
    return { ask, showAsk, askStatus, text, approvalNote, top, newest, answer, answerFor, answerText, stats, pinned,
             queue, list, undo, filters };
  });
  renderOutbox(parts.askStatus, session, "question");

  const staff = room.isStaff();
  const canPost = !room.youAreMuted && !room.info.closed;
  parts.ask.hidden = !canPost || (staff && !session.staffAsking);
  parts.showAsk.hidden = !canPost || !staff || !!session.staffAsking;
  parts.approvalNote.textContent = room.info.settings?.requireApproval && !staff
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
  const counts = { waiting: 0, all: 0, open: 0, answered: 0, dismissed: 0 };
  for (const question of questions) {
    for (const [key, filter] of Object.entries(FILTERS)) if (filter.shows(question)) counts[key] += 1;
    if (question.state === "QUESTION_STATE_PENDING") counts.waiting += 1;
  }
  const here = Math.max(room.present, room.members.size);
  parts.stats.hidden = !staff;
  if (staff) {
    parts.stats.textContent = [`${here} here`, `${counts.waiting} waiting`, `${counts.open} open`,
                               `${counts.answered} answered`].join(" · ");
  }

  const undo = session.undo;
  replaceChildren(parts.undo, staff && undo
    ? [h("span", {}, undo.text), " ",
       h("button", { type: "button", class: "small", id: "undo-button", onclick: () => session.runUndo() }, "Undo")]
    : null);

  // A participant sees every question they may see, their own waiting and
  // dismissed ones in place; staff choose.
  const filter = staff ? FILTERS[session.filter] || FILTERS.all : null;
  parts.filters.hidden = !staff;
  for (const [key, { label }] of Object.entries(FILTERS)) {
    const button = parts.filters.querySelector(`#filter-${key}`);
    button.textContent = `${label} (${counts[key]})`;
    button.setAttribute("aria-pressed", String(filter === FILTERS[key]));
  }
  const shown = filter ? questions.filter(filter.shows) : questions;

  const pending = staff ? questions.filter((q) => q.state === "QUESTION_STATE_PENDING") : [];
  // Approving everything at once leaves out what the crisis rules flagged:
  // a person, not a button, decides on those.
  const approvable = pending.filter((q) => !q.flagged);
  replaceChildren(parts.queue, pending.length
    ? [h("div", { class: "row queue-head" },
         h("h2", {}, `Waiting for approval (${pending.length})`),
         approvable.length > 1
           ? h("button", { type: "button", class: "small", id: "approve-all",
                           onclick: () => session.approveAll(approvable.map((q) => q.id)) },
               `Approve all ${approvable.length}`)
           : null),
       approvable.length > 1 && approvable.length < pending.length
         ? h("p", { class: "hint" }, "Questions flagged “May need support” are left for you to look at one by one.")
         : null,
       h("ol", { class: "questions pending", id: "approval-queue" }, pending.map((q) => questionItem(q, session)))]
    : null);
  replaceChildren(parts.list, shown.length ? shown.map((q) => questionItem(q, session))
                                           : h("li", { class: "empty" }, filter?.empty || "No questions yet."));
}

// What staff can choose to see in the list.
const FILTERS = {
  all: { label: "All", empty: "No questions yet.",
         shows: (q) => q.state === "QUESTION_STATE_OPEN" || q.state === "QUESTION_STATE_ANSWERED" ||
                       q.state === "QUESTION_STATE_DELETED" },
  open: { label: "Open", empty: "No open questions.", shows: (q) => q.state === "QUESTION_STATE_OPEN" },
  answered: { label: "Answered", empty: "No answered questions yet.",
              shows: (q) => q.state === "QUESTION_STATE_ANSWERED" },
  dismissed: { label: "Dismissed", empty: "No dismissed questions.",
               shows: (q) => q.state === "QUESTION_STATE_DISMISSED" },
};

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
    badges.push(!staff && question.supportOffered ? h("span", { class: "badge pending" }, "Seen by the hosts")
                                               : h("span", { class: "badge dismissed" }, "Not taken"));
  }

  // One action in view (the one a host reaches for next), the rest under
  // "…", the destructive one last and confirmed.
  const send = (payload) => () => session.command(payload);
  const primary = [];
  const more = [];
  if (staff && state === "QUESTION_STATE_PENDING") {
    primary.push(actionButton("Approve", `approve-${id}`, send({ approveQuestion: { questionId: id } })),
                 actionButton("Dismiss", `dismiss-${id}`, () => session.dismiss(question), { quiet: true }));
  }
  if (staff && state === "QUESTION_STATE_DISMISSED") {
    primary.push(actionButton("Undo dismissal", `undismiss-${id}`,
                              send({ dismissQuestion: { questionId: id, undo: true } }), { quiet: true }));
  }
  if (staff && state === "QUESTION_STATE_OPEN") {
    primary.push(question.pinned
      ? actionButton("Answered", `answered-${id}`, send({ markAnswered: { questionId: id } }))
      : actionButton("Answer now", `pin-${id}`, send({ pinQuestion: { questionId: id } })));
    if (question.pinned) more.push(menuItem("Stop answering", `unpin-${id}`, send({ pinQuestion: { questionId: "0" } })));
    else more.push(menuItem("Mark answered", `mark-answered-${id}`, send({ markAnswered: { questionId: id } })));
  }
  if (staff && (state === "QUESTION_STATE_OPEN" || state === "QUESTION_STATE_ANSWERED")) {
    more.push(menuItem(question.answer ? "Answer again in writing" : "Write answer", `answer-${id}`, () => {
      session.answering = id;
      session.scheduleRender();
      requestAnimationFrame(() => document.getElementById("answer-text")?.focus());
    }));
  }
  const editable = own && (state === "QUESTION_STATE_PENDING" || state === "QUESTION_STATE_OPEN");
  if (editable && session.editingQuestion !== id) {
    more.push(menuItem("Edit", `edit-${id}`, () => {
      session.editingQuestion = id;
      session.scheduleRender();
      requestAnimationFrame(() => document.getElementById(`edit-text-${id}`)?.focus());
    }));
  }
  if (!staff && !own) more.push(reportButton(session, { questionId: id }, `report-${id}`));
  if (staff || own) {
    more.push(menuItem("Delete", `delete-${id}`, () => {
      if (confirm(own && !staff ? "Delete your question? This cannot be undone."
                                : "Delete this question for everyone? This cannot be undone.")) {
        session.command({ deleteQuestion: { questionId: id } });
      }
    }, { danger: true }));
  }
  const menu = moreMenu(session, "More actions for this question", `more-${id}`, more);

  return h("li", { class: `question${question.pinned ? " pinned" : ""}`, dataset: { id } },
    h("button", { type: "button", class: `vote${voted ? " voted" : ""}`, disabled: !votable,
                  "aria-pressed": String(voted), dataset: { key: `vote-${id}` },
                  onclick: () => session.vote(question) },
      // Named by what it shows ("3"), then what it does, for screen readers.
      h("span", { "aria-hidden": "true" }, "▲"), h("span", { class: "count" }, String(question.votes || 0)),
      h("span", { class: "visually-hidden" }, ` votes: ${voted ? "remove your vote" : "vote for this question"}`)),
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
      primary.length || menu ? h("div", { class: "actions" }, primary, menu) : null));
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
