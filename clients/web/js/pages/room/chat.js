// The chat: messages, replies, edits, and sending.

import { h, replaceChildren, time } from "../../dom.js";
import { roleName } from "../../room.js";
import { once, authorName, menuItem, moreMenu, reportButton } from "./parts.js";
import { renderOutbox } from "./outbox.js";

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
    const status = h("div", { class: "composer-status", id: "chat-status", role: "status" });
    section.append(h("h2", {}, "Chat"), list, form, status);
    return { list, text, context, form, status };
  });
  renderOutbox(parts.status, session, "message");
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
  // Reply in view (and a staff member's release of a held message); Edit,
  // Report and Delete under "…", Delete last and confirmed.
  const actions = [];
  const more = [];
  if (staff && message.held) {
    actions.push(h("button", { type: "button", class: "small", dataset: { key: `release-${id}` },
                               onclick: () => session.command({ releaseMessage: { messageId: id } }) },
      "Release to everyone"));
  }
  if (!room.youAreMuted && !room.info.closed) {
    actions.push(h("button", { type: "button", class: "small quiet", dataset: { key: `reply-${id}` }, onclick: () => {
      session.replyTo = { messageId: id };
      session.editing = null;
      session.scheduleRender();
      parts.text.focus();
    } }, "Reply"));
  }
  if (own && !room.youAreMuted && !room.info.closed) {
    more.push(menuItem("Edit", `edit-${id}`, () => {
      session.editing = id;
      session.replyTo = null;
      parts.text.value = message.text;
      session.scheduleRender();
      parts.text.focus();
    }));
  }
  if (!own && !staff) more.push(reportButton(session, { messageId: id }, `report-message-${id}`));
  if (own || staff) {
    more.push(menuItem("Delete", `delete-message-${id}`, () => {
      if (confirm(own && !staff ? "Delete your message? This cannot be undone."
                                : "Delete this message for everyone? This cannot be undone.")) {
        session.command({ deleteMessage: { messageId: id } });
      }
    }, { danger: true }));
  }
  const menu = moreMenu(session, "More actions for this message", `more-message-${id}`, more);
  if (menu) actions.push(menu);
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
