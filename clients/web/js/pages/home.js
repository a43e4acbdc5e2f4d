// The home page: join a room by id, or (with a host token) open a new one.

import { Connection } from "../connection.js";
import { h, replaceChildren } from "../dom.js";
import { main, takeTokenFromFragment, titleBadge, tokenKey, wsUrl } from "../page.js";

export function showHome() {
  takeTokenFromFragment("");
  titleBadge.textContent = "";
  const roomInput = h("input", { id: "room-id", name: "room", required: true, pattern: "[A-Za-z0-9_\\-]{1,64}",
                                 autocomplete: "off", placeholder: "e.g. ama-with-dr-ada", autocapitalize: "none", spellcheck: "false" });
  const join = h("form", { class: "card", onsubmit: (e) => {
    e.preventDefault();
    location.assign(`/r/${encodeURIComponent(roomInput.value.trim())}`);
  } },
    h("h1", {}, "Join a room"),
    h("label", { for: "room-id" }, "Room code"),
    roomInput,
    h("p", { class: "hint" }, "The code is the last part of the room's link, after /r/."),
    h("button", { type: "submit", id: "join-code" }, "Join"));

  const hostToken = sessionStorage.getItem(tokenKey("new")) || "";
  const tokenInput = h("input", { id: "host-token", type: "password", autocomplete: "off", value: hostToken });
  const titleInput = h("input", { id: "new-title", maxlength: 200, placeholder: "Ask me anything about..." });
  const newId = h("input", { id: "new-id", pattern: "[A-Za-z0-9_\\-]{1,64}", autocomplete: "off",
                             placeholder: "leave empty for a random id" });
  const kind = h("select", { id: "new-kind" },
    h("option", { value: "ROOM_KIND_AMA" }, "AMA: questions, votes and answers"),
    h("option", { value: "ROOM_KIND_SUPPORT" }, "Support room: chat with moderators"));
  const approval = h("input", { id: "new-approval", type: "checkbox", checked: true });
  const sideChat = h("input", { id: "new-side-chat", type: "checkbox" });
  const status = h("p", { class: "form-status", role: "alert" });
  const create = h("form", { class: "card", onsubmit: async (e) => {
    e.preventDefault();
    status.textContent = "Opening the room…";
    try {
      const roomId = await createRoom({
        token: tokenInput.value.trim(), roomId: newId.value.trim(), title: titleInput.value.trim(),
        kind: kind.value, settings: { requireApproval: approval.checked, sideChat: sideChat.checked },
      });
      sessionStorage.setItem(tokenKey(roomId), tokenInput.value.trim());
      location.assign(`/r/${encodeURIComponent(roomId)}`);
    } catch (error) {
      status.textContent = `Could not open the room: ${error.message}`;
    }
  } },
    h("h2", {}, "Host a room"),
    h("p", { class: "hint" }, "Hosts need a host token from the operator (scripts/run prints a link with one)."),
    h("label", { for: "host-token" }, "Host token"), tokenInput,
    h("label", { for: "new-title" }, "Title"), titleInput,
    h("label", { for: "new-kind" }, "Kind"), kind,
    h("label", { for: "new-id" }, "Room id (optional)"), newId,
    h("label", { class: "check" }, approval, " Review questions before they appear"),
    h("label", { class: "check" }, sideChat, " Allow chat beside the questions (AMA)"),
    h("button", { type: "submit" }, "Open the room"),
    status);
  replaceChildren(main, h("div", { class: "home" }, join, create));
}

async function createRoom({ token, roomId, title, kind, settings }) {
  const connection = new Connection(wsUrl());
  const opened = new Promise((resolve) => connection.addEventListener("opened", resolve, { once: true }));
  try {
    connection.start();
    await Promise.race([opened, new Promise((_, reject) => setTimeout(() => reject(new Error("no connection")), 10000))]);
    await connection.request({ hello: { token } });
    const ok = await connection.request({ roomId, createRoom: { kind, title, settings } });
    return ok.snapshot.room.roomId;
  } finally {
    connection.stop();
  }
}
