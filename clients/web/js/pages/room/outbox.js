// What became of this person's latest question or message, said right under
// the box they wrote it in (where they are looking, on a phone too): on its
// way, held until the connection is back, refused with the reason, or
// arrived, and then where it went ("Sent to the host for review").

import { h, replaceChildren } from "../../dom.js";
import { showItem } from "./parts.js";

export function renderOutbox(container, session, kind) {
  const online = session.connection.isOpen && session.room.joined;
  const labels = {
    queued: online ? "Sending…" : "Will send when you are back online",
    sending: "Sending…",
    unconfirmed: "The connection broke while sending: checking whether it arrived…",
    waiting: "Will send in a moment",
    failed: "Not sent",
  };
  const shown = session.outbox.items.filter((item) => item.kind === kind).map((item) =>
    item.status === "sent" ? arrived(item, session)
      : h("div", { class: `outbox-item ${item.status}`, dataset: { status: item.status } },
          h("p", {}, h("strong", {}, labels[item.status]), item.error ? ` (${item.error})` : "", ": ",
            h("q", {}, item.text)),
          item.status === "failed"
            ? h("div", { class: "actions" },
                h("button", { type: "button", class: "small", onclick: () => session.outbox.retry(item) }, "Send again"),
                h("button", { type: "button", class: "small quiet", onclick: () => session.outbox.forget(item) },
                  "Discard"))
            : null));
  replaceChildren(container, shown.filter(Boolean));
}

// A post that reached the server: where it is now. A chat message that is
// in the chat says nothing more.
function arrived(item, session) {
  const room = session.room;
  let text;
  let show = false;
  if (item.kind === "question") {
    const question = room.questions.get(item.seq);
    const waits = question ? question.state === "QUESTION_STATE_PENDING"
                           : room.info.settings?.requireApproval && !room.isStaff();
    // Deleted, or dismissed (the board says so, in its own words): no note.
    if (question?.state === "QUESTION_STATE_DELETED" || question?.state === "QUESTION_STATE_DISMISSED") return null;
    text = waits ? "Sent to the host for review. It appears for everyone once approved." : "Your question is on the board.";
    show = !waits && !!question;
  } else {
    if (!room.messages.get(item.seq)?.held) return null;
    text = "Sent to a moderator first. It appears for everyone once they have seen it.";
  }
  return h("div", { class: "post-status", dataset: { status: "sent" } },
    h("p", {}, h("span", { class: "tick", "aria-hidden": "true" }, "✓ "), text),
    h("div", { class: "actions" },
      show ? h("button", { type: "button", class: "small quiet", onclick: () => showItem(item.seq) }, "Show it") : null,
      h("button", { type: "button", class: "small quiet", onclick: () => session.outbox.forget(item) },
        "OK", h("span", { class: "visually-hidden" }, ", hide this note"))));
}
