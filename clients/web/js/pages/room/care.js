// Care: support for someone whose words suggested a crisis, alerts for staff.

import { h, replaceChildren, time, linkified } from "../../dom.js";
import { once, authorName, isTombstone, showItem } from "./parts.js";

export function renderCare(support, alerts, session) {
  const room = session.room;
  // Private replies from the staff to this person: here, where they are
  // seen also in an AMA without chat.
  const forYou = room.isStaff() ? [] : room.sortedMessages().filter((m) => m.privateReply && !m.deleted);
  support.hidden = !session.support && forYou.length === 0;
  replaceChildren(support,
    session.support
      ? [h("h2", {}, session.supportForHelping ? "If you are worried about someone" : "You are not alone"),
         ...session.support.split("\n").filter(Boolean).map((line) => h("p", {}, linkified(line))),
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
    // alertHandled may have taken it away already (session.js).
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
