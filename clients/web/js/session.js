// One room, joined in this tab: the connection, the room's state as its
// events build it, commands, and drawing the page (pages/room/) when either
// changes.

import { Connection, Disconnected, ServerError } from "./connection.js";
import { h, linkified, replaceChildren } from "./dom.js";
import { Outbox } from "./outbox.js";
import { announce, connectionBadge, inviteKey, main, resumeKey, titleBadge, tokenKey, wsUrl } from "./page.js";
import { Room, roleName } from "./room.js";
import { renderBoard } from "./pages/room/board.js";
import { renderCare } from "./pages/room/care.js";
import { renderChat } from "./pages/room/chat.js";
import { renderHostTools } from "./pages/room/host.js";
import { closeMenusFromOutside, defaultCareNotice } from "./pages/room/parts.js";
import { renderMembers } from "./pages/room/people.js";
import { renderShare } from "./pages/room/share.js";

const STATE_TEXT = { connecting: "Connecting…", open: "Connected", reconnecting: "Reconnecting…" };

export class Session {
  // Secrets stay in private fields: window.hearth (for the browser tests)
  // and any other script on the page cannot read them from here.
  #token;     // a staff sign-in
  #invite;    // a private room: how this tab gets in again after a lost connection
  #passcode;

  // `askAgain(why)`: back to the join form, saying why (a passcode, or an
  // invite, is needed).
  constructor(roomId, { name, token, passcode = "", askAgain }) {
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
    this.askAgain = askAgain;
    this.outbox = new Outbox(this);  // questions and messages on their way: never silently lost
    this.order = "top";
    this.answering = null;  // question id the answer box is for
    this.replyTo = null;    // {messageId} or {questionId}
    this.editing = null;    // message id being edited
    this.undo = null;       // staff: {text, run} for the last dismissal
    this.undoTimer = null;
    this.filter = "all";    // staff: which questions the list shows (board.js)
    this.staffAsking = false;  // staff opened their own "Ask" box
    this.openMenu = null;   // the key of the open "…" menu, kept across renders
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
    closeMenusFromOutside();
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
        ok = await this.connection.request({ roomId: this.roomId, joinRoom: join }, { slow: true });
      } catch (error) {
        // An identity that can no longer be resumed (expired, or forgotten
        // on request): join as someone new.
        if (!resume || !(error instanceof ServerError) || !error.code.startsWith("TOKEN_")) throw error;
        sessionStorage.removeItem(resumeKey(this.roomId));
        delete join.token;
        // Someone new sees the room afresh: nothing of the old identity's
        // (its votes, its own items) may carry over from a resume.
        delete join.resume;
        ok = await this.connection.request({ roomId: this.roomId, joinRoom: join }, { slow: true });
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
      this.outbox.flush(true);
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
      return this.askAgain(error.code === "PASSCODE_WRONG"
        ? "That is not the passcode. Try again, or ask the host for an invite link."
        : error.code === "SIGN_IN_REQUIRED"
          ? "This room is for people who are signed in or invited. Enter its passcode, or ask the host for an invite link."
          : "This room is private. Enter its passcode, or ask the host for an invite link.");
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
    this.outbox.settle();
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

  // Staff set a waiting question aside; for a while, "Undo" is in view.
  async dismiss(question) {
    const ok = await this.command({ dismissQuestion: { questionId: question.id } });
    if (!ok) return;
    const excerpt = question.text.length > 60 ? `${question.text.slice(0, 57)}…` : question.text;
    this.offerUndo(`Dismissed “${excerpt}”.`,
                   () => this.command({ dismissQuestion: { questionId: question.id, undo: true } }));
  }

  // One approval at a time, each waiting for the one before: a long queue
  // would otherwise run into the message budget (RATE_LIMITED), whose wait
  // is then waited out.
  async approveAll(ids) {
    if (this.approvingAll) return;  // a second press while the first runs
    this.approvingAll = true;
    try {
      await this.approveEach(ids);
    } finally {
      this.approvingAll = false;
    }
  }

  async approveEach(ids) {
    for (const questionId of ids) {
      for (;;) {
        try {
          await this.connection.request({ roomId: this.roomId, approveQuestion: { questionId } });
        } catch (error) {
          if (error instanceof ServerError && error.retryAfterMs > 0) {
            await new Promise((resolve) => setTimeout(resolve, error.retryAfterMs));
            continue;
          }
          // Approved or dismissed meanwhile by someone else, or deleted:
          // on to the next. Lost connection: stop; the queue is still there.
          if (error instanceof Disconnected) return this.setNotice("Not connected: approve the rest when it is back.");
          if (error.code !== "INVALID_STATE" && error.code !== "QUESTION_NOT_FOUND") return this.setNotice(error.message);
        }
        break;
      }
    }
  }

  offerUndo(text, run) {
    clearTimeout(this.undoTimer);
    this.undo = { text, run };
    this.undoTimer = setTimeout(() => {
      this.undo = null;
      this.scheduleRender();
    }, 15000);
    this.scheduleRender();
  }

  runUndo() {
    const undo = this.undo;
    clearTimeout(this.undoTimer);
    this.undo = null;
    this.scheduleRender();
    undo?.run();
  }

  // Questions and messages go through the outbox (outbox.js).
  post(kind, payload, text) {
    this.outbox.post(kind, payload, text);
  }

  mine(item) {
    const author = item.author;
    return !!item.yours || !author || !author.userId || author.userId === this.room.you?.userId;
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

  // --- Rendering -------------------------------------------------------------

  // The room closed: a word of thanks, and where to find support (the
  // server's --support-resources, fetched once).
  renderEnded() {
    const ended = this.areas.ended;
    const closed = !!this.room.info.closed;
    ended.hidden = !closed;
    if (!closed || ended.dataset.drawn) return;
    ended.dataset.drawn = "1";
    const resources = h("div", { class: "ended-support" });
    ended.append(
      h("h2", {}, "This session has ended"),
      h("p", {}, "Thank you for being here. You can still read everything on this page."),
      resources);
    fetch("/support").then((response) => (response.ok ? response.json() : { text: "" })).then(({ text }) => {
      const lines = (text || "").split("\n").filter(Boolean);
      if (lines.length) resources.append(...lines.map((line) => h("p", {}, linkified(line))));
    }, () => {});
  }

  buildLayout() {
    this.areas = {
      notice: h("p", { class: "notice", role: "status", hidden: true }),
      ended: h("section", { class: "ended", id: "session-ended", hidden: true, "aria-label": "This session has ended" }),
      support: h("section", { class: "support", id: "support", hidden: true, "aria-label": "Support" }),
      alerts: h("section", { class: "alerts", id: "alerts", hidden: true, "aria-label": "Alerts" }),
      status: h("div", { class: "room-status" }),
      board: h("section", { class: "board", "aria-label": "Questions" }),
      chat: h("section", { class: "chat", "aria-label": "Chat" }),
      members: h("section", { class: "members", "aria-label": "People here" }),
      share: h("section", { class: "share", "aria-label": "Invite people" }),
      host: h("section", { class: "host-tools", "aria-label": "Host tools" }),
      offline: h("p", { class: "offline", id: "offline-banner", role: "status", hidden: true }),
    };
    const a = this.areas;
    replaceChildren(main, h("div", { class: "room" },
      a.offline, a.notice, a.ended, a.support, a.alerts, a.status,
      h("div", { class: "columns" },
        h("div", { class: "primary" }, a.board, a.chat),
        h("aside", { class: "secondary" }, a.share, a.host, a.members))));
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
    // Offline once the room was there: what is on the page stays, and the
    // banner says what happens to what is written meanwhile.
    a.offline.hidden = !!this.fatal || !room.joined || this.connection.state === "open";
    if (!a.offline.hidden) {
      a.offline.textContent = navigator.onLine
        ? "Connection lost, reconnecting. New questions and messages are kept here and sent once it is back."
        : "You are offline. New questions and messages are kept here and sent when you are back online.";
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
        room.info.closed ? " · this room is closed" : ""),
      // What this room is and is not, in the host's words or ours.
      h("p", { class: "care-notice", id: "care-notice" },
        room.info.settings?.careNotice || defaultCareNotice(room.info.kind)));
    this.renderEnded();
    const isAma = room.info.kind === "ROOM_KIND_AMA";
    a.board.hidden = !isAma;
    if (isAma) renderBoard(a.board, this);
    const chatOn = !isAma || room.info.settings?.sideChat;
    a.chat.hidden = !chatOn;
    if (chatOn) renderChat(a.chat, this);
    renderMembers(a.members, this);
    a.share.hidden = !room.isStaff() || room.info.closed;
    if (!a.share.hidden) renderShare(a.share, this);
    a.host.hidden = !room.isStaff();
    if (room.isStaff()) renderHostTools(a.host, this);
    renderCare(a.support, a.alerts, this);
    // A menu whose item went (someone left, nothing left to do) is not
    // opened again by itself when it comes back.
    if (this.openMenu && !document.querySelector(`details.more[data-menu="${CSS.escape(this.openMenu)}"]`)) {
      this.openMenu = null;
    }
  }
}
