// Questions and messages on their way: sent when connected, held while
// not, and after a lost connection either found on the board or sent
// again; what the server refused stays visible with its reason. Never
// silently lost. The newest post of each kind that arrived stays as "sent"
// until the next one, so that the page can say what became of it beside
// the box it was written in (pages/room/outbox.js).

import { Disconnected } from "./connection.js";

export class Outbox {
  constructor(session) {
    this.session = session;
    this.items = [];
    this.nextLocalId = 1;
  }

  post(kind, payload, text) {
    const item = { localId: this.nextLocalId++, kind, payload, text, status: "queued", error: "", sentAfter: 0,
                   seq: "" };
    this.items = this.items.filter((other) => other.kind !== kind || other.status !== "sent");
    this.items.push(item);
    this.flush(false);
    this.session.scheduleRender();
  }

  async flush(rejoined) {
    const session = this.session;
    if (!session.room.joined || !session.connection.isOpen) return;
    if (rejoined) this.settle();
    for (const item of this.items) {
      if (item.status === "unconfirmed" && rejoined) item.status = "queued";  // not on the board: send again
      if (item.status !== "queued") continue;
      item.status = "sending";
      item.sentAfter = session.room.seq;
      session.connection.request({ roomId: session.roomId, ...item.payload }).then(
        (ok) => {
          // Words that suggested a crisis: the server sends support for this
          // person alone.
          if (ok.accepted?.support) session.showSupport(ok.accepted.support, !!ok.accepted.supportForHelping);
          this.arrived(item, ok.accepted?.seq);
        },
        (error) => {
          // Seen on the board meanwhile (settle): it arrived, whatever
          // became of the socket since.
          if (item.status !== "sending") return;
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
              this.flush(false);
            }, error.retryAfterMs + 100);
          } else {
            item.status = "failed";
            item.error = error.message;
          }
          session.scheduleRender();
        });
    }
    session.scheduleRender();
  }

  // An unconfirmed item that is on the board after all was delivered.
  settle() {
    const session = this.session;
    for (const item of [...this.items]) {
      if (item.status !== "unconfirmed" && item.status !== "sending") continue;
      const list = item.kind === "question" ? session.room.questions : session.room.messages;
      for (const [id, posted] of list) {
        if (Number(id) > item.sentAfter && posted.text === item.text && session.mine(posted)) {
          this.arrived(item, id);
          break;
        }
      }
    }
  }

  // On the server as entry `seq` (the question's or message's id).
  arrived(item, seq) {
    if (item.status === "sent") return;
    item.status = "sent";
    item.seq = String(seq || "");
    item.error = "";
    this.items = this.items.filter((other) => other === item || other.kind !== item.kind || other.status !== "sent");
    this.session.scheduleRender();
  }

  forget(item) {
    this.items = this.items.filter((other) => other !== item);
    this.session.scheduleRender();
  }

  retry(item) {
    item.status = "queued";
    item.error = "";
    this.flush(false);
  }
}
