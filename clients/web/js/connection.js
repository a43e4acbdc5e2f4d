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
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
  }

  // Drops the socket as if the network had (for tests and "reconnect now").
  drop() {
    if (this.socket) this.socket.close(4000, "dropped by the client");
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
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.setState("open");
      this.dispatchEvent(new CustomEvent("opened"));
    });
    socket.addEventListener("message", (message) => {
      if (socket !== this.socket || typeof message.data !== "string") return;
      let parsed;
      try {
        parsed = JSON.parse(message.data);
      } catch {
        return;
      }
      this.receive(parsed);
    });
    socket.addEventListener("close", () => {
      if (socket !== this.socket) return;
      this.socket = null;
      for (const { reject } of this.pending.values()) reject(new Disconnected(true));
      this.pending.clear();
      if (this.stopped) return;
      this.setState("reconnecting");
      // Full jitter: a crowd of clients cut off together does not come back
      // together.
      const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
      this.attempt = Math.min(this.attempt + 1, 10);
      this.timer = setTimeout(() => this.open(), Math.random() * ceiling);
    });
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
  request(command) {
    if (!this.isOpen) return Promise.reject(new Disconnected(false));
    const requestId = this.nextRequestId++;
    if (this.nextRequestId > 0x7fffffff) this.nextRequestId = 1;
    const promise = new Promise((resolve, reject) => this.pending.set(requestId, { resolve, reject }));
    this.socket.send(JSON.stringify({ requestId, ...command }));
    return promise.then((reply) => {
      if (reply.error) throw new ServerError(reply.error);
      return reply.ok;
    });
  }
}
