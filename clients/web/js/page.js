// What every page of the web client shares: the page's fixed places, the
// screen reader's announcer, where each room's secrets are kept in this
// tab, and the server's WebSocket address.

export const main = document.getElementById("main");
export const connectionBadge = document.getElementById("connection");
export const titleBadge = document.getElementById("room-title");
const announcer = document.getElementById("announcer");

export const ROOM_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function announce(text) {
  // Cleared first so that the same words twice are announced twice.
  announcer.textContent = "";
  setTimeout(() => (announcer.textContent = text), 30);
}

export function tokenKey(roomId) {
  return `hearth.token.${roomId}`;
}

export function inviteKey(roomId) {
  return `hearth.invite.${roomId}`;
}

// #token=... (staff) or #invite=... (a private room's invite) -> this tab's
// session storage, and out of the address bar.
export function takeTokenFromFragment(roomId) {
  const match = /^#(token|invite)=([A-Za-z0-9_.-]+)$/.exec(location.hash);
  if (!match) return;
  const key = match[1] === "invite" ? inviteKey(roomId) : tokenKey(roomId || "new");
  sessionStorage.setItem(key, match[2]);
  history.replaceState(null, "", location.pathname + location.search);
}

// The room's address, as people are given it (share panel, presenter view,
// invite links).
export function roomLink(roomId) {
  return `${location.origin}/r/${encodeURIComponent(roomId)}`;
}

export function wsUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

export function resumeKey(roomId) {
  return `hearth.resume.${roomId}`;
}
