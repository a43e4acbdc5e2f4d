// Hearth's web client: the home page, and a room at /r/ROOM-ID.
//
// Staff tokens arrive in the link's fragment (#token=...), which browsers
// never send to a server; the page moves it into this tab's session storage
// and removes it from the address bar at once.

import { Connection, Disconnected, ServerError } from "./connection.js";
import { Room, roleName } from "./room.js";
import { h, replaceChildren } from "./dom.js";
import { renderBoard, renderCare, renderChat, renderMembers, renderOutbox, renderHostTools } from "./views.js";

const main = document.getElementById("main");
const connectionBadge = document.getElementById("connection");
const titleBadge = document.getElementById("room-title");
const announcer = document.getElementById("announcer");

const ROOM_ID = /^[A-Za-z0-9_-]{1,64}$/;
const STATE_TEXT = { connecting: "Connecting…", open: "Connected", reconnecting: "Reconnecting…" };

export function announce(text) {
  // Cleared first so that the same words twice are announced twice.
  announcer.textContent = "";
  setTimeout(() => (announcer.textContent = text), 30);
}

function tokenKey(roomId) {
  return `hearth.token.${roomId}`;
}

function inviteKey(roomId) {
  return `hearth.invite.${roomId}`;
}

// #token=... (staff) or #invite=... (a private room's invite) -> this tab's
// session storage, and out of the address bar.
function takeTokenFromFragment(roomId) {
  const match = /^#(token|invite)=([A-Za-z0-9_.-]+)$/.exec(location.hash);
  if (!match) return;
  const key = match[1] === "invite" ? inviteKey(roomId) : tokenKey(roomId || "new");
  sessionStorage.setItem(key, match[2]);
  history.replaceState(null, "", location.pathname + location.search);
}

function wsUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

// ---------------------------------------------------------------------------
// Home: join a room by id, or (with a host token) open a new one.
// ---------------------------------------------------------------------------

function showHome() {
  takeTokenFromFragment("");
  titleBadge.textContent = "";
  const roomInput = h("input", { id: "room-id", name: "room", required: true, pattern: "[A-Za-z0-9_\\-]{1,64}",
                                 autocomplete: "off", placeholder: "e.g. ama-with-dr-ada" });
  const join = h("form", { class: "card", onsubmit: (e) => {
    e.preventDefault();
    location.assign(`/r/${encodeURIComponent(roomInput.value.trim())}`);
  } },
    h("h1", {}, "Join a room"),
    h("label", { for: "room-id" }, "Room id"),
    roomInput,
    h("button", { type: "submit" }, "Open the room"));

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
  connection.start();
  await Promise.race([opened, new Promise((_, reject) => setTimeout(() => reject(new Error("no connection")), 10000))]);
  try {
    await connection.request({ hello: { token } });
    const ok = await connection.request({ roomId, createRoom: { kind, title, settings } });
    return ok.snapshot.room.roomId;
  } finally {
    connection.stop();
  }
}

// ---------------------------------------------------------------------------
// A room
// ---------------------------------------------------------------------------

function showJoin(roomId, { passcodeNeeded = "" } = {}) {
  takeTokenFromFragment(roomId);
  titleBadge.textContent = roomId;
  const token = sessionStorage.getItem(tokenKey(roomId));
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
    new Session(roomId, { name, token: staff, passcode: passcodeInput.value }).start();
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
      ? h("p", { class: "signed-in" }, "You are signed in as staff for this room.")
      : h("details", {},
          h("summary", {}, "Host or moderator? Sign in"),
          h("label", { for: "staff-token" }, "Your token"),
          tokenInput),
    h("button", { type: "submit", id: "join-button" }, "Join"));
  replaceChildren(main, form);
  (passcodeNeeded ? passcodeInput : nameInput).focus();
}

function resumeKey(roomId) {
  return `hearth.resume.${roomId}`;
}

class Session {
  // Secrets stay in private fields: window.hearth (for the browser tests)
  // and any other script on the page cannot read them from here.
  #token;     // a staff sign-in
  #invite;    // a private room: how this tab gets in again after a lost connection
  #passcode;

  constructor(roomId, { name, token, passcode = "" }) {
    this.roomId = roomId;
    this.name = name;
    this.#token = token;
    this.#invite = sessionStorage.getItem(inviteKey(roomId)) || "";
    this.#passcode = passcode;
    // An older version kept a resume token for every room (with the name
    // in it) under this key.
    sessionStorage.removeItem(`hearth.anon.${roomId}`);
    this.room = new Room(roomId);
    this.connection = new Connection(wsUrl());
    this.outbox = [];  // questions and messages on their way: never silently lost
    this.nextLocalId = 1;
    this.order = "top";
    this.answering = null;  // question id the answer box is for
    this.replyTo = null;    // {messageId} or {questionId}
    this.editing = null;    // message id being edited
    this.renderQueued = false;
    this.fatal = null;
    this.notice = "";
    this.noticeTimer = null;
    this.support = "";   // crisis resources sent to this person
    this.supportForHelping = false;  // it is for helping someone else (ABOUT)
    this.alerts = [];    // crisis alerts for staff
    this.socket = 0;          // counts sockets: work for an old one is dropped
    this.identified = false;  // this socket has said hello
    this.joining = false;
  }

  start() {
    this.connection.addEventListener("state", (e) => this.showState(e.detail));
    this.connection.addEventListener("opened", () => {
      this.socket += 1;
      this.identified = false;
      this.rejoin();
    });
    this.connection.addEventListener("event", (e) => this.onEvent(e.detail));
    this.connection.addEventListener("push", (e) => this.onPush(e.detail));
    this.connection.addEventListener("presence", (e) => {
      if (e.detail.roomId !== this.roomId || !this.room.joined) return;
      this.room.applyPresence(e.detail);
      this.scheduleRender();
    });
    window.hearth = this;  // for the browser tests and the curious
    this.buildLayout();
    this.showState("connecting");
    this.connection.start();
  }

  showState(state) {
    const text = this.fatal ? "Not connected" : STATE_TEXT[state] || state;
    connectionBadge.textContent = text;
    connectionBadge.dataset.state = this.fatal ? "offline" : state;
    if (state === "reconnecting" && this.room.joined) announce("Connection lost. Reconnecting…");
    this.scheduleRender();
  }

  // A fresh socket: identify, then join, resuming from the last event seen.
  async rejoin() {
    if (this.fatal || this.joining) return;
    this.joining = true;
    const socket = this.socket;
    try {
      if (!this.identified) {
        await this.identify();
        this.identified = true;
      }
      const join = { displayName: this.name };
      if (this.#invite) join.invite = this.#invite;
      if (this.#passcode) join.passcode = this.#passcode;
      // Anonymous: this room's resume token, to come back as the same member.
      const resume = this.#token ? "" : sessionStorage.getItem(resumeKey(this.roomId)) || "";
      if (resume) join.token = resume;
      const wasJoined = this.room.joined;
      if (wasJoined) join.resume = { epoch: this.room.epoch, seq: String(this.room.seq) };
      let ok;
      try {
        ok = await this.connection.request({ roomId: this.roomId, joinRoom: join });
      } catch (error) {
        // An identity that can no longer be resumed (expired, or forgotten
        // on request): join as someone new.
        if (!resume || !(error instanceof ServerError) || !error.code.startsWith("TOKEN_")) throw error;
        sessionStorage.removeItem(resumeKey(this.roomId));
        delete join.token;
        // Someone new sees the room afresh: nothing of the old identity's
        // (its votes, its own items) may carry over from a resume.
        delete join.resume;
        ok = await this.connection.request({ roomId: this.roomId, joinRoom: join });
      }
      const renewed = (ok.snapshot || ok.resumed)?.resumeToken;
      if (renewed) sessionStorage.setItem(resumeKey(this.roomId), renewed);
      if (ok.snapshot) {
        this.room.applySnapshot(ok.snapshot);
        const failed = ok.snapshot.resumeFailed;
        if (wasJoined && failed && failed !== "RESUME_FAILURE_NONE") {
          this.setNotice("Reconnected. Some updates could not be replayed, so this is the room as it is now.");
        }
      }
      if (wasJoined) announce("Reconnected.");
      this.connection.settled();
      this.scheduleRender();
      this.flushOutbox(true);
    } catch (error) {
      // Lost meanwhile: the next "opened" tries again.
      if (!(error instanceof Disconnected) && socket === this.socket) this.onJoinError(error);
    } finally {
      this.joining = false;
    }
  }

  setNotice(text) {
    this.notice = text;
    clearTimeout(this.noticeTimer);
    if (text) this.noticeTimer = setTimeout(() => this.setNotice(""), 10000);
    this.scheduleRender();
  }

  async identify() {
    await this.connection.request({ hello: { token: this.#token || "", displayName: this.name } });
  }

  // The transcript, with the staff sign-in (docs/protocol.md 4).
  fetchTranscript(format) {
    return fetch(`/rooms/${encodeURIComponent(this.roomId)}/transcript?format=${format}`, {
      headers: { Authorization: `Bearer ${this.#token}` },
    });
  }

  // "Forget me on this device": this anonymous member's resume token stops
  // working on every node, and this tab keeps nothing of them.
  async forgetMe() {
    const ok = await this.command({ forgetMe: {} });
    if (!ok) return false;
    for (const key of [resumeKey(this.roomId), inviteKey(this.roomId), "hearth.name"]) sessionStorage.removeItem(key);
    this.stop("You have left, and this device no longer remembers you here. What you wrote stays, " +
              "without your name; to remove it, use “Erase what I wrote here” before you leave.");
    return true;
  }

  onJoinError(error) {
    const messages = {
      ROOM_NOT_FOUND: "This room does not exist. Check the link, or ask the host whether it has started.",
      BANNED: "You cannot join this room.",
      ROOM_CLOSED: "This room is closed.",
      TOKEN_EXPIRED: "Your sign-in has expired. Ask for a new link.",
      TOKEN_INVALID: "This sign-in is not valid.",
      TOKEN_WRONG_ROOM: "This sign-in is for another room.",
    };
    if (error.code === "INVITE_REQUIRED" || error.code === "PASSCODE_WRONG" || error.code === "SIGN_IN_REQUIRED") {
      this.connection.stop();
      return showJoin(this.roomId, { passcodeNeeded: error.code === "PASSCODE_WRONG"
        ? "That is not the passcode. Try again, or ask the host for an invite link."
        : error.code === "SIGN_IN_REQUIRED"
          ? "This room is for people who are signed in or invited. Enter its passcode, or ask the host for an invite link."
          : "This room is private. Enter its passcode, or ask the host for an invite link." });
    }
    if (error.code === "RATE_LIMITED" && this.#passcode) {
      return this.stop(`Too many tries. Wait ${Math.ceil(error.retryAfterMs / 1000)} seconds, then try again.`);
    }
    if (messages[error.code]) {
      if (error.code.startsWith("TOKEN_")) sessionStorage.removeItem(tokenKey(this.roomId));
      return this.stop(messages[error.code]);
    }
    // Storage out or the like: try again in a moment, on this socket.
    this.setNotice(`Could not join yet (${error.message}). Trying again…`);
    const socket = this.socket;
    setTimeout(() => {
      if (socket === this.socket && this.connection.isOpen) this.rejoin();
    }, 2000);
  }

  stop(reason) {
    this.fatal = reason;
    this.connection.stop();
    this.showState("offline");
    announce(reason);
  }

  onEvent(event) {
    if (event.roomId !== this.roomId) return;
    const before = event.questionUpdated ? this.room.questions.get(event.questionUpdated.id) : null;
    if (!this.room.applyEvent(event)) return;
    const updated = event.questionUpdated;
    if (updated?.answer && !before?.answer) announce(`New answer: ${updated.answer.text}`);
    if (event.questionPinned && event.questionPinned.questionId !== "0") {
      const question = this.room.questions.get(event.questionPinned.questionId);
      if (question) announce(`Answering now: ${question.text}`);
    }
    if (event.alertHandled) {
      // Seen to by someone on the staff: it goes from every staff screen.
      const { questionId, messageId } = event.alertHandled;
      const id = questionId && questionId !== "0" ? questionId : messageId;
      this.alerts = this.alerts.filter((alert) => (alert.questionId !== "0" ? alert.questionId : alert.messageId) !== id);
    }
    if (event.alert && this.room.isStaff()) {
      // Someone may need help now: tell staff at once, with a way to the item.
      // A report says who reported, why, and how many items they reported.
      this.alerts.push({ ...event.alert, reporter: event.actor, reason: event.itemReported?.reason,
                         reporterReports: event.itemReported?.reporterReports });
      announce(event.alert.kind === "KIND_REPORT"
        ? "A member reported something. See the alert at the top of the page."
        : "Alert: someone may be in crisis. See the alert at the top of the page.");
    }
    if (this.room.removed) {
      return this.stop(this.room.removed === "banned" ? "You were banned from this room." :
                                                        "A moderator removed you from this room.");
    }
    this.settleOutbox();
    this.scheduleRender();
  }

  onPush(reply) {
    if (!reply.error || (reply.roomId && reply.roomId !== this.roomId)) return;
    if (reply.error.code === "ROOM_RESET") {
      // The room's history on the server was lost or left behind: start over.
      this.room.reset();
      this.setNotice("The room was reloaded from the server.");
      this.rejoin();
    } else if (reply.error.code === "ROOM_NOT_FOUND") {
      this.stop("This room was deleted.");
    } else {
      this.setNotice(reply.error.message);
    }
  }

  // --- Commands ------------------------------------------------------------

  // Anything but a new question or message: answered now or reported.
  async command(payload) {
    try {
      return await this.connection.request({ roomId: this.roomId, ...payload });
    } catch (error) {
      this.setNotice(error instanceof Disconnected ? "Not connected: try again in a moment." : error.message);
      return null;
    }
  }

  async vote(question) {
    const up = !this.room.votedByMe(question);
    const ok = await this.command({ voteQuestion: { questionId: question.id, up } });
    if (ok) {
      if (up) this.room.myVotes.add(question.id);
      else this.room.myVotes.delete(question.id);
      this.scheduleRender();
    }
  }

  // Questions and messages go through the outbox: sent when connected,
  // held while not, and after a lost connection either found on the board
  // or sent again; what the server refused stays visible with its reason.
  post(kind, payload, text) {
    const item = { localId: this.nextLocalId++, kind, payload, text, status: "queued", error: "", sentAfter: 0 };
    this.outbox.push(item);
    this.flushOutbox(false);
    this.scheduleRender();
  }

  async flushOutbox(rejoined) {
    if (!this.room.joined || !this.connection.isOpen) return;
    if (rejoined) this.settleOutbox();
    for (const item of this.outbox) {
      if (item.status === "unconfirmed" && rejoined) item.status = "queued";  // not on the board: send again
      if (item.status !== "queued") continue;
      item.status = "sending";
      item.sentAfter = this.room.seq;
      this.connection.request({ roomId: this.roomId, ...item.payload }).then(
        (ok) => {
          // Words that suggested a crisis: the server sends support for this
          // person alone.
          if (ok.accepted?.support) this.showSupport(ok.accepted.support, !!ok.accepted.supportForHelping);
          this.forget(item);
        },
        (error) => {
          if (error instanceof Disconnected) {
            item.status = error.sent ? "unconfirmed" : "queued";
          } else if (error.retryAfterMs > 0) {
            // A limit (slow mode, too fast): sent by itself when it allows.
            item.status = "waiting";
            item.error = error.message;
            setTimeout(() => {
              if (item.status !== "waiting") return;
              item.status = "queued";
              item.error = "";
              this.flushOutbox(false);
            }, error.retryAfterMs + 100);
          } else {
            item.status = "failed";
            item.error = error.message;
          }
          this.scheduleRender();
        });
    }
    this.scheduleRender();
  }

  // An unconfirmed item that is on the board after all was delivered.
  settleOutbox() {
    for (const item of [...this.outbox]) {
      if (item.status !== "unconfirmed" && item.status !== "sending") continue;
      const list = item.kind === "question" ? this.room.questions : this.room.messages;
      for (const [id, posted] of list) {
        if (Number(id) > item.sentAfter && posted.text === item.text && this.mine(posted)) {
          this.forget(item);
          break;
        }
      }
    }
  }

  mine(item) {
    const author = item.author;
    return !author || !author.userId || author.userId === this.room.you?.userId;
  }

  // `forHelping`: resources for helping someone else (the crisis rules
  // read the words as about another person), not words for this person.
  showSupport(text, forHelping) {
    this.support = text;
    this.supportForHelping = forHelping;
    this.scheduleRender();
    announce(forHelping ? "Resources for helping someone are at the top of the page."
                        : "Support is available. See the message at the top of the page.");
  }

  forget(item) {
    this.outbox = this.outbox.filter((other) => other !== item);
    this.scheduleRender();
  }

  retry(item) {
    item.status = "queued";
    item.error = "";
    this.flushOutbox(false);
  }

  // --- Rendering -------------------------------------------------------------

  buildLayout() {
    this.areas = {
      notice: h("p", { class: "notice", role: "status", hidden: true }),
      support: h("section", { class: "support", id: "support", hidden: true, "aria-label": "Support" }),
      alerts: h("section", { class: "alerts", id: "alerts", hidden: true, "aria-label": "Alerts" }),
      status: h("div", { class: "room-status" }),
      board: h("section", { class: "board", "aria-label": "Questions" }),
      chat: h("section", { class: "chat", "aria-label": "Chat" }),
      members: h("section", { class: "members", "aria-label": "People here" }),
      host: h("section", { class: "host-tools", "aria-label": "Host tools" }),
      outbox: h("div", { class: "outbox", "aria-live": "polite" }),
    };
    const a = this.areas;
    replaceChildren(main, h("div", { class: "room" },
      a.notice, a.support, a.alerts, a.status,
      h("div", { class: "columns" },
        h("div", { class: "primary" }, a.board, a.chat, a.outbox),
        h("aside", { class: "secondary" }, a.host, a.members))));
  }

  scheduleRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  render() {
    const a = this.areas;
    const room = this.room;
    a.notice.hidden = !this.notice && !this.fatal;
    a.notice.textContent = this.fatal || this.notice;
    if (this.fatal) {
      a.status.replaceChildren(h("p", {}, h("a", { href: `/r/${this.roomId}` }, "Try joining again")));
    }
    if (!room.joined) {
      if (!this.fatal) a.status.replaceChildren(h("p", { class: "loading" }, "Joining…"));
      return;
    }
    titleBadge.textContent = room.info.title || room.id;
    document.title = `${room.info.title || room.id} · Hearth`;
    const you = room.you;
    replaceChildren(a.status,
      h("p", { class: "you" }, "You are ", h("strong", {}, you?.displayName || "…"),
        you && you.role !== "ROLE_PARTICIPANT" ? ` (${roleName(you.role)})` : "",
        room.youAreMuted ? " · muted: you can read and vote, not post" : "",
        room.info.settings?.slowModeSeconds && !room.isStaff()
          ? ` · slow mode: one post every ${room.info.settings.slowModeSeconds} seconds` : "",
        room.info.closed ? " · this room is closed" : ""));
    const isAma = room.info.kind === "ROOM_KIND_AMA";
    a.board.hidden = !isAma;
    if (isAma) renderBoard(a.board, this);
    const chatOn = !isAma || room.info.settings?.sideChat;
    a.chat.hidden = !chatOn;
    if (chatOn) renderChat(a.chat, this);
    renderMembers(a.members, this);
    a.host.hidden = !room.isStaff();
    if (room.isStaff()) renderHostTools(a.host, this);
    renderOutbox(a.outbox, this);
    renderCare(a.support, a.alerts, this);
  }
}

function route() {
  const match = /^\/r\/([^/]+)\/?$/.exec(location.pathname);
  if (match) {
    const roomId = decodeURIComponent(match[1]);
    if (ROOM_ID.test(roomId)) return showJoin(roomId);
  }
  showHome();
}

// A link with a token or invite opened over this very page: start afresh.
window.addEventListener("hashchange", () => {
  if (/^#(token|invite)=/.test(location.hash)) location.reload();
});
route();
