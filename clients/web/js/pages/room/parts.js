// What the views of a room share.

import { h } from "../../dom.js";

export const RANK = { ROLE_PARTICIPANT: 0, ROLE_MODERATOR: 1, ROLE_HOST: 2, ROLE_ADMIN: 3 };

// Builds a section once; its inputs keep what is typed in them.
export function once(section, build) {
  if (!section.parts) section.parts = build();
  return section.parts;
}

export function authorName(person) {
  return person?.displayName || "Anonymous";
}

export function reportButton(session, target, key) {
  return h("button", { type: "button", class: "small quiet", dataset: { key }, onclick: async () => {
    const reason = prompt("Tell the moderators what is wrong (optional). Only they will see your report.");
    if (reason === null) return;
    const ok = await session.command({ reportItem: { ...target, reason: reason.slice(0, 500) } });
    if (ok) session.setNotice("Thank you. The moderators have your report.");
  } }, "Report");
}

// A deleted question or message: only its tombstone is left.
export function isTombstone(item) {
  return item.deleted || item.state === "QUESTION_STATE_DELETED";
}

export function showItem(id) {
  document.querySelector(`[data-id="${CSS.escape(id)}"]`)?.scrollIntoView({ block: "center" });
}
