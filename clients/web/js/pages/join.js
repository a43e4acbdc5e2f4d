// Joining a room: a display name (optional), and a passcode or a staff
// sign-in where the room asks for one.

import { h, replaceChildren } from "../dom.js";
import { main, takeTokenFromFragment, titleBadge, tokenKey } from "../page.js";
import { Session } from "../session.js";

export function showJoin(roomId, { passcodeNeeded = "" } = {}) {
  takeTokenFromFragment(roomId);
  titleBadge.textContent = roomId;
  const token = sessionStorage.getItem(tokenKey(roomId));
  const askAgain = (why) => showJoin(roomId, { passcodeNeeded: why });
  // Staff signed in for this room (the host who just opened it, a
  // moderator from their link): straight in, under the sign-in's name.
  // Participants, signed in or not, see the form and what it says first.
  if (token && !passcodeNeeded && STAFF.has(tokenRole(token))) {
    new Session(roomId, { name: "", token, askAgain }).start();
    return;
  }
  const nameInput = h("input", { id: "display-name", maxlength: 40, autocomplete: "nickname",
                                 value: sessionStorage.getItem("hearth.name") || "" });
  const tokenInput = h("input", { id: "staff-token", type: "password", autocomplete: "off" });
  const passcodeInput = h("input", { id: "passcode", type: "password", autocomplete: "off", maxlength: 128 });
  const form = h("form", { class: "card join", onsubmit: (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    sessionStorage.setItem("hearth.name", name);
    const staff = tokenInput.value.trim() || token || "";
    if (tokenInput.value.trim()) sessionStorage.setItem(tokenKey(roomId), staff);
    new Session(roomId, { name, token: staff, passcode: passcodeInput.value, askAgain }).start();
  } },
    h("h1", {}, "Join the room"),
    h("p", { class: "room-id" }, roomId),
    passcodeNeeded
      ? h("div", { class: "private" },
          h("p", { class: "notice", role: "alert" }, passcodeNeeded),
          h("label", { for: "passcode" }, "Passcode"), passcodeInput)
      : null,
    h("label", { for: "display-name" }, "Your name to display (optional)"),
    nameInput,
    h("p", { class: "hint" },
      "Leave it empty to appear under a pseudonym such as Guest-4821. What you write here (questions, ",
      "answers, messages) and the name shown beside it are kept in the room's transcript, which its hosts ",
      "can download, until the room's retention removes them. You can post questions anonymously: then ",
      "nobody, hosts included, sees who asked."),
    token
      ? h("p", { class: "signed-in" }, STAFF.has(tokenRole(token)) ? "You are signed in as staff for this room."
                                                                   : "You are signed in.")
      : h("details", {},
          h("summary", {}, "Host or moderator? Sign in"),
          h("label", { for: "staff-token" }, "Your token"),
          tokenInput),
    h("button", { type: "submit", id: "join-button" }, "Join"));
  replaceChildren(main, form);
  (passcodeNeeded ? passcodeInput : nameInput).focus();
}

export const STAFF = new Set(["moderator", "host", "admin"]);

// The role a token claims. Only for choosing a page: the server checks the
// token itself.
export function tokenRole(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).role || "";
  } catch {
    return "";
  }
}
