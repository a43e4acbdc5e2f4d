// One WebSocket to the server, speaking the JSON text protocol
// (docs/protocol.md), that comes back by itself when it is lost.
//
// JSON rather than protobuf: the browser needs no library and no build step
// for it, and the server answers every frame in the encoding it came in.
//
// Events: "state" (detail: connecting | open | reconnecting), "opened" (a
// fresh socket is up: identify and join again), "event" (detail: a room
// event), "push" (detail: a reply with requestId 0, e.g. ROOM_RESET).

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;

// A connection can die without a word (a phone changing networks, a frozen
// server, a proxy that drops packets): the socket stays "open" while
// nothing comes back. So the page pings (docs/protocol.md 2.7) and gives up
// on a socket whose pong, or whose reply to a command, is late: it drops it
// and reconnects, and the room resumes (1.10). A browser test may set
// `window.hearthTiming` first to make these short.
const TIMING = {
  pingEveryMs: 15000,     // a ping after this long without one
  replyWithinMs: 10000,   // a pong later than this: the socket is dead
  commandWithinMs: 20000, // a command not answered by then: the socket is pinged at once
  openWithinMs: 10000,    // a socket that has not opened by then is tried again
  slowReplyWithinMs: 60000, // a pong may wait this long behind a join's snapshot
  ...globalThis.hearthTiming,
};

export class Disconnected extends Error {
  constructor(sent) {
    super(sent ? "the connection was lost before the server answered" : "not connected");
    this.code = sent ? "DISCONNECTED" : "OFFLINE";
    // Whether the command reached the wire: if it did, it may have been applied.
    this.sent = sent;
  }
}

export class ServerError extends Error {
  constructor(error) {
    super(error.message || error.code);
    this.code = error.code;
    // Limits say when the same command can succeed (RATE_LIMITED, SLOW_MODE).
    this.retryAfterMs = error.retryAfterMs || 0;
  }
}

export class Connection extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.socket = null;
    this.nextRequestId = 1;
    this.pending = new Map();  // requestId -> {resolve, reject}
    this.attempt = 0;
    this.timer = null;
    this.state = "connecting";
    this.stopped = false;
    this.openTimer = null;
    this.pingTimer = null;
    this.probing = false;  // a ping is on its way
    this.pongs = 0;        // answered pings (for the browser tests)
    this.heardAt = 0;      // when the socket last brought a frame
    this.slow = 0;         // requests whose reply may be large (a join's snapshot)
    // The device said it went offline, or the tab came back to the front:
    // find out now whether the socket still works, rather than at the next
    // ping. Back online: try at once rather than at the end of the backoff.
    this.listeners = [
      [globalThis, "offline", () => this.probe()],
      [globalThis, "online", () => {
        if (!this.stopped && !this.socket) this.open();
      }],
      [globalThis.document, "visibilitychange", () => {
        if (document.visibilityState === "visible") this.probe();
      }],
    ];
  }

  start() {
    this.stopped = false;
    for (const [target, type, listener] of this.listeners) target?.addEventListener(type, listener);
    this.open();
  }

  // For good: nothing more is sent or tried, and what waits is told so.
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const [target, type, listener] of this.listeners) target?.removeEventListener(type, listener);
    if (this.socket) this.lost(this.socket, 1000);
  }

  // Drops the socket as if the network had (for tests and "reconnect now").
  drop() {
    if (this.socket) this.lost(this.socket, 4000, "dropped by the client");
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  open() {
    clearTimeout(this.timer);
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    // A server that accepts the connection but never answers the upgrade
    // (frozen, or a proxy in trouble) would leave this socket connecting.
    this.openTimer = setTimeout(() => this.lost(socket, 4001, "did not open in time"), TIMING.openWithinMs);
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      clearTimeout(this.openTimer);
      this.pingTimer = setInterval(() => this.probe(), TIMING.pingEveryMs);
      this.setState("open");
      this.dispatchEvent(new CustomEvent("opened"));
    });
    socket.addEventListener("message", (message) => {
      if (socket !== this.socket || typeof message.data !== "string") return;
      this.heardAt = performance.now();
      let parsed;
      try {
        parsed = JSON.parse(message.data);
      } catch {
        return;
      }
      this.receive(parsed);
    });
    socket.addEventListener("close", () => this.lost(socket));
  }

  // `socket` is gone, closed by either side or given up on: what was asked
  // on it may or may not have been done; a new one follows after a backoff.
  // A socket given up on is closed without waiting for its closing
  // handshake, which a dead peer never completes.
  lost(socket, code = 0, reason = "") {
    if (socket !== this.socket) return;
    this.socket = null;
    clearTimeout(this.openTimer);
    clearInterval(this.pingTimer);
    this.probing = false;
    this.slow = 0;
    if (code) socket.close(code, reason);
    for (const { reject } of this.pending.values()) reject(new Disconnected(true));
    this.pending.clear();
    if (this.stopped) return;
    this.setState("reconnecting");
    // Full jitter: a crowd of clients cut off together does not come back
    // together.
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 10);
    this.timer = setTimeout(() => this.open(), Math.random() * ceiling);
  }

  // Pings now, unless a ping is on its way; no pong in time: the socket is
  // dead. Any answer counts, an error included (it came back). The pong
  // queues behind whatever the server sent first: while frames keep
  // arriving, or a join's snapshot (one large frame) may still be on its
  // way over a slow link, the deadline is moved on rather than the socket
  // dropped, which would only start the same long join again.
  probe() {
    const socket = this.socket;
    if (this.probing || !this.isOpen) return;
    this.probing = true;
    const sent = performance.now();
    let since = sent;
    let late;
    const check = () => {
      if (socket !== this.socket) return;
      // Frames still arriving, or a snapshot on its way: up to a point.
      const alive = this.heardAt > since || this.slow > 0;
      if (alive && performance.now() - sent < TIMING.slowReplyWithinMs) {
        since = performance.now();
        late = setTimeout(check, TIMING.replyWithinMs);
        return;
      }
      this.lost(socket, 4002, "no answer to a ping");
    };
    late = setTimeout(check, TIMING.replyWithinMs);
    this.send({ ping: {} }).then(
      () => {
        clearTimeout(late);
        this.pongs += 1;
        if (socket === this.socket) this.probing = false;
      },
      () => clearTimeout(late));
  }

  // The connection identified and joined again: the next loss starts its
  // backoff from the beginning.
  settled() {
    this.attempt = 0;
  }

  receive(message) {
    if (message.reply) {
      const id = message.reply.requestId || 0;
      const waiter = this.pending.get(id);
      if (waiter) {
        this.pending.delete(id);
        waiter.resolve(message.reply);
      } else if (id === 0) {
        this.dispatchEvent(new CustomEvent("push", { detail: message.reply }));
      }
    } else if (message.event) {
      this.dispatchEvent(new CustomEvent("event", { detail: message.event }));
    } else if (message.presence) {
      this.dispatchEvent(new CustomEvent("presence", { detail: message.presence }));
    }
  }

  get isOpen() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  // Sends one command; resolves with its `ok` payload, rejects with a
  // ServerError (the server said no) or Disconnected.
  // A command that is not answered in time makes the page ping: a dead
  // socket is then dropped (the command fails with Disconnected, and what
  // it asked for may have been done); a live one keeps waiting for the
  // answer.
  // `slow`: the reply may be large (a join's snapshot), so a late pong
  // meanwhile does not count against the socket.
  request(command, { slow = false } = {}) {
    if (!this.isOpen) return Promise.reject(new Disconnected(false));
    const overdue = setTimeout(() => this.probe(), TIMING.commandWithinMs);
    if (slow) this.slow += 1;
    const socket = this.socket;
    const done = () => {
      clearTimeout(overdue);
      if (slow && socket === this.socket) this.slow -= 1;
    };
    return this.send(command).then(
      (reply) => {
        done();
        if (reply.error) throw new ServerError(reply.error);
        return reply.ok;
      },
      (error) => {
        done();
        throw error;
      });
  }

  // Sends one frame; resolves with its reply.
  send(command) {
    const requestId = this.nextRequestId++;
    if (this.nextRequestId > 0x7fffffff) this.nextRequestId = 1;
    const promise = new Promise((resolve, reject) => this.pending.set(requestId, { resolve, reject }));
    this.socket.send(JSON.stringify({ requestId, ...command }));
    return promise;
  }
}
