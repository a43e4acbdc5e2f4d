// The Socket.IO 4 peer in the benchmark suite (bench/run): rooms, a "join"
// event (acknowledged) and a "pub" event that the server emits to the
// room, the sender included. With REDIS_URL the @socket.io/redis-adapter
// fans events out across processes, as a cross-node deployment would.
//
//   node server.mjs PORT [REDIS_URL]
// Prints "socketio listening on ws://127.0.0.1:PORT/socket.io/" when ready.
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] || 0);
const redisUrl = process.argv[3];
const http = createServer();
const io = new Server(http, { transports: ["websocket"], serveClient: false });

if (redisUrl) {
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const { createClient } = await import("redis");
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("pub", (room, payload) => io.to(room).emit("m", payload));
});

http.listen(port, "127.0.0.1", () => {
  console.log(`socketio listening on ws://127.0.0.1:${http.address().port}/socket.io/`);
});
