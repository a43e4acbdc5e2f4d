// What the views of a room share.

import { h } from "../../dom.js";

export const RANK = { ROLE_PARTICIPANT: 0, ROLE_MODERATOR: 1, ROLE_HOST: 2, ROLE_ADMIN: 3 };

// The line every member sees about what the room is and is not, unless the
// host wrote their own (RoomSettings.careNotice).
export function defaultCareNotice(kind) {
  return kind === "ROOM_KIND_AMA" ? "This is a live Q&A with the host, not therapy or emergency care."
                                  : "This is peer support, not therapy or emergency care.";
}

// Builds a section once; its inputs keep what is typed in them.
export function once(section, build) {
  if (!section.parts) section.parts = build();
  return section.parts;
}

export function authorName(person) {
  return person?.displayName || "Anonymous";
}

// The rest of an item's actions, behind "…": one click away, out of the
// way of the one that matters. Null entries are left out; nothing when
// none is left. The list is drawn again on every event, so which menu is
// open is kept in the session (and focus by the summary's data-key).
export function moreMenu(session, label, key, buttons) {
  const shown = buttons.filter(Boolean);
  if (!shown.length) return null;
  const menu = h("details", { class: "more", open: session.openMenu === key, dataset: { menu: key } },
    h("summary", { "aria-label": label, title: label, dataset: { key } }, h("span", { "aria-hidden": "true" }, "…")),
    h("div", { class: "more-items" }, shown));
  // Opened and closed by its summary (the toggle event comes a task later,
  // after a render may have drawn the menu again: the session is told at
  // once); a choice closes it.
  menu.querySelector("summary").addEventListener("click", () => {
    session.openMenu = menu.open ? null : key;
  });
  // Focus goes back to the summary, not left on a button the closed menu
  // hides (Edit and Write answer then move it on to their text box).
  menu.addEventListener("click", (e) => {
    if (!e.target.closest("button")) return;
    menu.open = false;
    session.openMenu = null;
    menu.querySelector("summary").focus();
  });
  menu.session = session;
  return menu;
}

// Closes any open "…" menu on a click elsewhere or on Escape (once per page).
let closing = false;
export function closeMenusFromOutside() {
  if (closing) return;
  closing = true;
  const close = (except) => {
    for (const menu of document.querySelectorAll("details.more[open]")) {
      if (menu === except) continue;
      menu.open = false;
      if (menu.session?.openMenu === menu.dataset.menu) menu.session.openMenu = null;
    }
  };
  document.addEventListener("click", (e) => close(e.target.closest?.("details.more")));
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    const open = document.querySelector("details.more[open]");
    if (!open) return;
    open.open = false;
    if (open.session?.openMenu === open.dataset.menu) open.session.openMenu = null;
    open.querySelector("summary").focus();
  });
}

// A small action button of an item (`key`: its data-key, so that focus
// survives re-renders); filled unless `quiet`.
export function actionButton(label, key, onclick, { quiet = false, danger = false } = {}) {
  const look = `small${quiet ? " quiet" : ""}${danger ? " danger" : ""}`;
  return h("button", { type: "button", class: look, dataset: { key }, onclick }, label);
}

// A button for moreMenu.
export function menuItem(label, key, onclick, { danger = false } = {}) {
  return actionButton(label, key, onclick, { quiet: true, danger });
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
