// A room as this client knows it: a snapshot, then every event applied in
// order (docs/protocol.md 1.4). Events at or below the known seq are
// dropped, so a replay after a resume never shows anything twice.

const num = (value) => Number(value || 0);

// Replaces a question or message by id, keeping what only staff learn from
// other events: the report count (itemReported), the crisis flag (shown
// once, on the alert's event) and who handled its alerts (alertHandled),
// until a new flag needs attention again.
function upsert(items, item) {
  const known = items.get(item.id);
  item.handledBy = item.flagged ? null : known?.handledBy ?? null;
  item.reports = known?.reports || 0;
  item.flagged = item.flagged || !!known?.flagged;
  items.set(item.id, item);
}

// A tombstone (deleted, erased) changes an item this page shows, and adds
// none it never showed: an old message the snapshot left out, say.
function bury(items, item) {
  if (items.has(item.id)) upsert(items, item);
}

const isTombstone = (item) => item.deleted || item.state === "QUESTION_STATE_DELETED";

export function roleName(role) {
  return { ROLE_HOST: "host", ROLE_MODERATOR: "moderator", ROLE_ADMIN: "admin" }[role] || "participant";
}

export class Room {
  constructor(id) {
    this.id = id;
    this.reset();
  }

  reset() {
    this.info = null;
    this.epoch = "";
    this.seq = 0;
    this.you = null;
    this.youAreMuted = false;
    // Who is here: staff see everyone (the snapshot, then membersChanged
    // events); participants see the staff, and everyone only where the room
    // lists its members (Presence pushes replace the list).
    this.members = new Map();    // userId -> {person, muted}
    this.present = 0;            // people here, each counted once
    this.listed = false;         // `members` is everyone here
    this.questions = new Map();  // id (string) -> Question
    this.messages = new Map();   // id (string) -> ChatMessage
    this.myVotes = new Set();    // question ids this identity voted for
    this.removed = null;         // why this client is out of the room, if it is
  }

  get joined() {
    return this.info !== null;
  }

  isStaff() {
    const role = this.you?.role;
    return role === "ROLE_HOST" || role === "ROLE_MODERATOR" || role === "ROLE_ADMIN";
  }

  isHost() {
    const role = this.you?.role;
    return role === "ROLE_HOST" || role === "ROLE_ADMIN";
  }

  applySnapshot(snapshot) {
    const votes = this.myVotes;
    this.reset();
    this.info = snapshot.room;
    this.epoch = snapshot.epoch;
    this.seq = num(snapshot.seq);
    this.you = snapshot.you || null;
    this.youAreMuted = !!snapshot.youAreMuted;
    for (const member of snapshot.members || []) this.members.set(member.person.userId, member);
    this.present = num(snapshot.present);
    this.listed = !!snapshot.listed;
    for (const question of snapshot.questions || []) {
      this.questions.set(question.id, question);
      if (question.votedByMe) this.myVotes.add(question.id);
    }
    // The snapshot knows this identity's votes; keep any it confirms.
    for (const id of votes) if (this.questions.get(id)?.votedByMe) this.myVotes.add(id);
    for (const message of snapshot.messages || []) this.messages.set(message.id, message);
  }

  // Applies one event; returns false if it was old (already applied).
  applyEvent(event) {
    const seq = num(event.seq);
    if (seq <= this.seq) return false;
    this.seq = seq;
    const you = this.you?.userId;
    if (event.roomOpened || event.roomUpdated || event.roomClosed) {
      this.info = event.roomOpened || event.roomUpdated || event.roomClosed;
    } else if (event.membersChanged) {
      for (const member of event.membersChanged.joined || []) this.members.set(member.person.userId, member);
      for (const left of event.membersChanged.left || []) this.members.delete(left.person.userId);
      this.present = num(event.membersChanged.present);
    } else if (event.memberLeft) {
      const person = event.memberLeft.person;
      this.members.delete(person.userId);
      if (person.userId === you && event.memberLeft.reason === "REASON_KICKED") this.removed = "kicked";
    } else if (event.memberMuted) {
      this.members.set(event.memberMuted.person.userId, event.memberMuted);
      if (event.memberMuted.person.userId === you) this.youAreMuted = !!event.memberMuted.muted;
    } else if (event.memberBanned) {
      const { person, banned } = event.memberBanned;
      if (banned) this.members.delete(person.userId);
      if (banned && person.userId === you) this.removed = "banned";
    } else if (event.questionDeleted) {
      bury(this.questions, event.questionDeleted);
    } else if (event.questionAsked || event.questionUpdated) {
      upsert(this.questions, event.questionAsked || event.questionUpdated);
    } else if (event.questionVotes) {
      const question = this.questions.get(event.questionVotes.questionId);
      if (question) question.votes = event.questionVotes.votes;
    } else if (event.questionPinned) {
      for (const question of this.questions.values()) {
        question.pinned = question.id === event.questionPinned.questionId;
      }
    } else if (event.messageDeleted) {
      bury(this.messages, event.messageDeleted);
    } else if (event.messagePosted || event.messageEdited) {
      upsert(this.messages, event.messagePosted || event.messageEdited);
    } else if (event.itemReported) {
      const { questionId, messageId, reports } = event.itemReported;
      const item = questionId && questionId !== "0" ? this.questions.get(questionId) : this.messages.get(messageId);
      if (item) {
        item.reports = reports;
        item.handledBy = null;  // it needs attention again
      }
    } else if (event.alertHandled) {
      const { questionId, messageId } = event.alertHandled;
      const item = questionId && questionId !== "0" ? this.questions.get(questionId) : this.messages.get(messageId);
      if (item) item.handledBy = event.actor;
    } else if (event.contentErased) {
      // Someone erased what they wrote: their items, as they now are.
      for (const question of event.contentErased.questions || []) {
        (isTombstone(question) ? bury : upsert)(this.questions, question);
      }
      for (const message of event.contentErased.messages || []) (isTombstone(message) ? bury : upsert)(this.messages, message);
    } else if (event.itemsExpired) {
      const upTo = num(event.itemsExpired.upToSeq);
      for (const id of [...this.questions.keys()]) if (num(id) <= upTo) this.questions.delete(id);
      for (const id of [...this.messages.keys()]) if (num(id) <= upTo) this.messages.delete(id);
    }
    return true;
  }

  // Presence pushes (not in the log's order: the latest wins).
  applyPresence(presence) {
    this.present = num(presence.present);
    if (this.isStaff()) return;  // staff keep the full list from events
    this.listed = !!presence.listed;
    this.members = new Map();
    for (const member of presence.listed ? presence.members || [] : presence.staff || []) {
      this.members.set(member.person.userId, member);
    }
  }

  // After this member's own erasure: what only they (and staff) could see,
  // such as a question still awaiting approval, is gone here too.
  forgetMine() {
    const you = this.you?.userId;
    for (const question of this.questions.values()) {
      if (!this.asked(question)) continue;
      question.state = "QUESTION_STATE_DELETED";
      question.text = "";
    }
    for (const message of this.messages.values()) {
      if (message.author?.userId !== you) continue;
      message.deleted = true;
      message.text = "";
    }
  }

  // Whether this member asked it: the server marks an anonymous author's
  // own questions `yours`, in snapshots and in the events it sends them
  // (everyone else's copy names nobody).
  asked(question) {
    return !!question.yours || (!!question.author?.userId && question.author.userId === this.you?.userId);
  }

  votedByMe(question) {
    return this.myVotes.has(question.id);
  }

  pinned() {
    for (const question of this.questions.values()) if (question.pinned) return question;
    return null;
  }

  // Questions this member may see, best first (or newest first).
  sortedQuestions(order) {
    const list = [...this.questions.values()];
    if (order === "new") return list.sort((a, b) => num(b.id) - num(a.id));
    return list.sort((a, b) => (b.votes || 0) - (a.votes || 0) || num(a.id) - num(b.id));
  }

  sortedMessages() {
    return [...this.messages.values()].sort((a, b) => num(a.id) - num(b.id));
  }

  sortedMembers() {
    const rank = { ROLE_ADMIN: 0, ROLE_HOST: 1, ROLE_MODERATOR: 2, ROLE_PARTICIPANT: 3 };
    return [...this.members.values()].sort(
      (a, b) =>
        (rank[a.person.role] ?? 4) - (rank[b.person.role] ?? 4) ||
        a.person.displayName.localeCompare(b.person.displayName),
    );
  }
}
