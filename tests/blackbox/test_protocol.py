#!/usr/bin/python3
"""Black-box integration test for hearth-server.

Starts real server processes and talks to them over WebSocket (proto3 JSON on
text frames, hand-encoded protobuf on binary frames) and plain HTTP. Uses only
the Python standard library and Debian's python3-websockets (10.4).

    /usr/bin/python3 tests/blackbox/test_protocol.py --server build/dev/server/hearth-server [-v]
"""

import argparse
import asyncio
import base64
import http.client
import json
import os
import queue
import re
import secrets
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import websockets
import websockets.exceptions

SERVER_BINARY = None  # set from --server in main()

TIMEOUT = 5.0            # any single wait on the network
STARTUP_TIMEOUT = 10.0   # the server printing its listening line
STOP_TIMEOUT = 10.0      # the server exiting after SIGTERM (its grace is 5 s)
TEST_TIMEOUT = 60.0      # a whole async test body

LISTENING = re.compile(r"^hearth listening on http://127\.0\.0\.1:(\d+)\b")
PSEUDONYM = re.compile(r"^Guest-\d{4}$")


# ---------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------

class ServerProcess:
    """One hearth-server on a free port, with its own random token secret."""

    def __init__(self, binary):
        self.binary = binary
        alphabet = string.ascii_letters + string.digits
        self.secret = "".join(secrets.choice(alphabet) for _ in range(40))
        # Inherited HEARTH_* variables would act as flags (e.g. a frame limit).
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
        self.env["HEARTH_TOKEN_SECRET"] = self.secret
        self.proc = None
        self.port = None
        self.exit_code = None
        self._stderr = None
        self._lines = queue.Queue()

    def start(self):
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [self.binary, "--port", "0", "--threads", "2"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, env=self.env)
        # Keep draining stdout so that the server can never block on it.
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise RuntimeError("hearth-server did not print its listening line in time" + self.stderr_tail())
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait(timeout=STOP_TIMEOUT)
                raise RuntimeError(f"hearth-server exited with {code} before listening" + self.stderr_tail())
            match = LISTENING.match(line.decode("utf-8", "replace"))
            if match:
                self.port = int(match.group(1))
                return self

    def _pump(self, stream):
        for line in iter(stream.readline, b""):
            self._lines.put(line)
        self._lines.put(None)

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def stderr_tail(self, limit=4000):
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        return "\n--- hearth-server stderr ---\n" + text[-limit:] if text else ""

    SANITIZER_REPORT = re.compile(r"^.*(ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)"
                                  r"|WARNING: AddressSanitizer|runtime error:).*$", re.MULTILINE)

    def sanitizer_report(self):
        """The first line of an ASan, LSan or UBSan report on stderr, or ''."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        match = self.SANITIZER_REPORT.search(self._stderr.read().decode("utf-8", "replace"))
        return match.group(0) if match else ""

    def token(self, role, room, name, sub, ttl="1h"):
        result = subprocess.run(
            [self.binary, "token", "--role", role, "--room", room, "--name", name, "--sub", sub, "--ttl", ttl],
            stdin=subprocess.DEVNULL, capture_output=True, env=self.env, timeout=10, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"token minting failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
        token = result.stdout.decode().strip()
        if token.count(".") != 2:
            raise RuntimeError(f"token minting printed no token: {token!r}")
        return token

    def terminate(self):
        """SIGTERM by PID; returns the exit code, or None if it had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                self.exit_code = None
        elif self.exit_code is None:
            self.exit_code = self.proc.returncode
        return self.exit_code

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def close(self):
        self.kill()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


class ServerTestCase(unittest.TestCase):
    """Starts one server for the class; checks that it stops cleanly on SIGTERM."""

    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(SERVER_BINARY).start()

    @classmethod
    def tearDownClass(cls):
        server = cls.server
        if server is None:
            return
        try:
            code = server.terminate()
            if code != 0:
                raise AssertionError(f"hearth-server exited with {code} after SIGTERM (expected 0)"
                                     + server.stderr_tail())
            report = server.sanitizer_report()
            if report:
                raise AssertionError(f"hearth-server reported: {report}" + server.stderr_tail())
        finally:
            server.close()

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, TEST_TIMEOUT))

    def fail_with_log(self, message):
        self.fail(message + self.server.stderr_tail())


# ---------------------------------------------------------------------------
# A JSON client
# ---------------------------------------------------------------------------

class ProtocolError(AssertionError):
    pass


class Client:
    """One WebSocket connection speaking proto3 JSON on text frames."""

    def __init__(self, ws, label):
        self.ws = ws
        self.label = label
        self._next_id = 1
        self._buffered = []  # events read while looking for something else
        self.presences = []  # Presence pushes, in the order they came

    @classmethod
    async def connect(cls, server, label="client"):
        ws = await asyncio.wait_for(
            websockets.connect(server.url, compression=None, open_timeout=TIMEOUT, close_timeout=TIMEOUT,
                               max_size=None),
            TIMEOUT)
        return cls(ws, label)

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), TIMEOUT)
        except (asyncio.TimeoutError, websockets.exceptions.WebSocketException, OSError):
            pass

    def new_request_id(self):
        request_id = self._next_id
        self._next_id += 1
        return request_id

    async def recv_frame(self, timeout=TIMEOUT):
        try:
            return await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            raise ProtocolError(f"{self.label}: nothing received within {timeout:.1f} s") from None

    async def recv_json(self, timeout=TIMEOUT, presence=False):
        """The next reply or event (or, with presence, also a Presence push); Presence
        pushes read meanwhile are otherwise kept in presences."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv_frame(max(0.0, deadline - loop.time()))
            if not isinstance(frame, str):
                raise ProtocolError(f"{self.label}: expected a text frame, got binary {frame!r}")
            message = json.loads(frame)
            if "presence" in message and len(message) == 1:
                if presence:
                    return message
                self.presences.append(message["presence"])
                continue
            if ("reply" in message) == ("event" in message):
                raise ProtocolError(f"{self.label}: not a ServerMessage: {message}")
            return message

    async def next_presence(self, predicate, timeout=TIMEOUT):
        """The next Presence push matching predicate (events read meanwhile are kept)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while self.presences:
                presence = self.presences.pop(0)
                if predicate(presence):
                    return presence
            message = await self.recv_json(max(0.0, deadline - loop.time()), presence=True)
            if "presence" in message:
                self.presences.append(message["presence"])
            elif "reply" in message:
                raise ProtocolError(f"{self.label}: unexpected reply while waiting for presence: {message}")
            else:
                self._buffered.append(message["event"])

    async def send_text(self, text):
        await asyncio.wait_for(self.ws.send(text), TIMEOUT)

    async def request(self, command, room=None, request_id=None):
        """Sends one command; returns (reply, events that arrived before the reply)."""
        if request_id is None:
            request_id = self.new_request_id()
        message = {"requestId": request_id}
        if room is not None:
            message["roomId"] = room
        message.update(command)
        await self.send_text(json.dumps(message))
        return await self.await_reply(request_id)

    async def await_reply(self, request_id):
        events = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while True:
            message = await self.recv_json(max(0.0, deadline - loop.time()))
            if "event" in message:
                events.append(message["event"])
                continue
            reply = message["reply"]
            if reply.get("requestId") != request_id:
                raise ProtocolError(f"{self.label}: reply for request {reply.get('requestId')} while waiting for "
                                    f"{request_id}: {reply}")
            return reply, events

    async def ok(self, command, room=None):
        reply, events = await self.request(command, room)
        if "ok" not in reply:
            raise ProtocolError(f"{self.label}: expected ok for {command}, got {reply}")
        return reply["ok"], events

    async def error(self, command, room=None, request_id=None):
        reply, events = await self.request(command, room, request_id)
        if "error" not in reply:
            raise ProtocolError(f"{self.label}: expected an error for {command}, got {reply}")
        return reply, events

    async def accepted(self, command, room):
        """A command that appends to the log: returns (seq, events before the reply)."""
        ok, events = await self.ok(command, room)
        if "accepted" not in ok:
            raise ProtocolError(f"{self.label}: expected accepted for {command}, got {ok}")
        return int(ok["accepted"]["seq"]), events

    async def ping(self):
        ok, events = await self.ok({"ping": {}})
        if "pong" not in ok:
            raise ProtocolError(f"{self.label}: ping answered with {ok}")
        return events

    async def next_event(self, predicate=None, timeout=TIMEOUT):
        """The next event (matching predicate, if given; others are skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while self._buffered:
                event = self._buffered.pop(0)
                if predicate is None or predicate(event):
                    return event
            message = await self.recv_json(max(0.0, deadline - loop.time()))
            if "reply" in message:
                raise ProtocolError(f"{self.label}: unexpected reply while waiting for an event: {message}")
            self._buffered.append(message["event"])


def kind_of(event):
    """The name of the set `kind` oneof field of an Event."""
    kinds = [k for k in event if k not in ("roomId", "seq", "at", "actor")]
    if len(kinds) != 1:
        raise ProtocolError(f"event with {len(kinds)} kinds: {event}")
    return kinds[0]


def is_kind(name):
    return lambda event: name in event


def only(events, name):
    return [e for e in events if name in e]


# ---------------------------------------------------------------------------
# Minimal protobuf wire format
# ---------------------------------------------------------------------------

VARINT, I64, LEN, I32 = 0, 1, 2, 5


def pb_varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_key(field, wire_type):
    return pb_varint(field << 3 | wire_type)


def pb_uint(field, value):
    return pb_key(field, VARINT) + pb_varint(value)


def pb_bytes(field, payload):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return pb_key(field, LEN) + pb_varint(len(payload)) + payload


def pb_read_varint(data, pos):
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def pb_decode(data):
    """Field number -> list of values (int for varints/fixed, bytes for LEN)."""
    fields = {}
    pos = 0
    while pos < len(data):
        key, pos = pb_read_varint(data, pos)
        field, wire_type = key >> 3, key & 7
        if field == 0:
            raise ValueError("field number 0")
        if wire_type == VARINT:
            value, pos = pb_read_varint(data, pos)
        elif wire_type == I64:
            value, pos = int.from_bytes(data[pos:pos + 8], "little"), pos + 8
        elif wire_type == I32:
            value, pos = int.from_bytes(data[pos:pos + 4], "little"), pos + 4
        elif wire_type == LEN:
            length, pos = pb_read_varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated length-delimited field")
            value, pos = bytes(data[pos:pos + length]), pos + length
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        if pos > len(data):
            raise ValueError("truncated field")
        fields.setdefault(field, []).append(value)
    return fields


def pb_one(fields, number, default=None):
    values = fields.get(number)
    if not values:
        return default
    return values[-1]


# Field numbers from proto/hearth/v1/protocol.proto.
CM_REQUEST_ID, CM_ROOM_ID, CM_JOIN_ROOM, CM_PING = 1, 2, 12, 16
JOIN_DISPLAY_NAME = 2
SM_REPLY, SM_EVENT = 1, 2
REPLY_REQUEST_ID, REPLY_OK, REPLY_ERROR = 1, 2, 3
OK_SNAPSHOT, OK_PONG = 2, 4
ERROR_CODE = 1
SNAPSHOT_ROOM, SNAPSHOT_YOU = 1, 3
ROOMINFO_ROOM_ID, ROOMINFO_KIND = 1, 2
PERSON_USER_ID, PERSON_DISPLAY_NAME, PERSON_ROLE = 1, 2, 3
EVENT_ROOM_ID, EVENT_QUESTION_ASKED = 1, 20
QUESTION_TEXT = 3
ROOM_KIND_AMA, ROLE_PARTICIPANT = 1, 1
MALFORMED, ROOM_NOT_FOUND = 1, 200


def decode_reply(frame):
    """A binary ServerMessage that must be a Reply: (request_id, ok fields or None, error fields or None)."""
    top = pb_decode(frame)
    if SM_EVENT in top or SM_REPLY not in top:
        raise ProtocolError(f"binary frame is not a Reply: {frame!r}")
    reply = pb_decode(pb_one(top, SM_REPLY))
    ok = pb_one(reply, REPLY_OK)
    error = pb_one(reply, REPLY_ERROR)
    if (ok is None) == (error is None):
        raise ProtocolError(f"Reply with neither or both of ok/error: {frame!r}")
    return (pb_one(reply, REPLY_REQUEST_ID, 0),
            pb_decode(ok) if ok is not None else None,
            pb_decode(error) if error is not None else None)


# ---------------------------------------------------------------------------
# Shared setup
# ---------------------------------------------------------------------------

async def open_ama_room(server, room, require_approval, host_sub, host_name="Host"):
    """A host connection (Hello with a host token) that has created an AMA room."""
    host = await Client.connect(server, "host")
    token = server.token("host", room, host_name, host_sub)
    ok, _ = await host.ok({"hello": {"token": token}})
    welcome = ok["welcome"]
    assert welcome["userId"] == host_sub, welcome
    assert welcome["anonymous"] is False, welcome
    ok, _ = await host.ok({"createRoom": {"kind": "ROOM_KIND_AMA", "title": f"Room {room}",
                                          "settings": {"requireApproval": require_approval}}}, room)
    return host, ok["snapshot"]


# ---------------------------------------------------------------------------
# 1. JSON: an AMA from question to answer
# ---------------------------------------------------------------------------

class JsonAmaFlowTest(ServerTestCase):

    def test_ama_question_lifecycle(self):
        self.run_async(self._ama_question_lifecycle())

    async def _ama_question_lifecycle(self):
        room = "ama-json"
        clients = []
        try:
            host, snapshot = await open_ama_room(self.server, room, True, "host-1", "Host Hanna")
            clients.append(host)
            self.assertEqual(snapshot["room"]["roomId"], room)
            self.assertEqual(snapshot["room"]["kind"], "ROOM_KIND_AMA")
            self.assertIs(snapshot["room"]["settings"]["requireApproval"], True)
            self.assertEqual(snapshot["you"]["userId"], "host-1")
            self.assertEqual(snapshot["you"]["displayName"], "Host Hanna")
            self.assertEqual(snapshot["you"]["role"], "ROLE_HOST")
            self.assertEqual(snapshot.get("questions", []), [])

            # Participants without Hello: anonymous identities with pseudonyms.
            p1 = await Client.connect(self.server, "p1")
            clients.append(p1)
            ok, _ = await p1.ok({"joinRoom": {}}, room)
            you1 = ok["snapshot"]["you"]
            self.assertRegex(you1["displayName"], PSEUDONYM)
            self.assertTrue(you1["userId"].startswith("anon:"), you1)
            self.assertEqual(you1["role"], "ROLE_PARTICIPANT")
            # An AMA names its staff to participants, and counts everyone.
            member_ids = {m["person"]["userId"] for m in ok["snapshot"]["members"]}
            self.assertEqual(member_ids, {"host-1"})
            self.assertEqual(ok["snapshot"]["present"], 2)
            joined = await host.next_event(is_kind("membersChanged"))
            self.assertEqual(joined["membersChanged"]["joined"][0]["person"]["userId"], you1["userId"])

            p2 = await Client.connect(self.server, "p2")
            clients.append(p2)
            ok, _ = await p2.ok({"joinRoom": {}}, room)
            you2 = ok["snapshot"]["you"]
            self.assertRegex(you2["displayName"], PSEUDONYM)
            self.assertTrue(you2["userId"].startswith("anon:"), you2)
            self.assertNotEqual(you2["userId"], you1["userId"])
            joined = await host.next_event()
            self.assertEqual(kind_of(joined), "membersChanged", joined)
            self.assertEqual(joined["membersChanged"]["joined"][0]["person"]["userId"], you2["userId"])
            self.assertEqual(joined["membersChanged"]["present"], 3)
            # The other participant hears a count, never who.
            presence = await p1.next_presence(lambda p: p.get("present") == 3)
            self.assertEqual({m["person"]["userId"] for m in presence["staff"]}, {"host-1"})
            self.assertNotIn(you2["userId"], json.dumps(presence))

            # p1 asks: pending, seen by staff and the author only.
            text = "How do you keep a support room calm?"
            qid, events = await p1.accepted({"askQuestion": {"text": text}}, room)
            asked = only(events, "questionAsked")
            self.assertEqual(len(asked), 1, f"the asker gets its event before Accepted: {events}")
            self.assertEqual(int(asked[0]["questionAsked"]["id"]), qid, "the question id is Accepted.seq")
            self.assertEqual(asked[0]["questionAsked"]["state"], "QUESTION_STATE_PENDING")

            event = await host.next_event()
            self.assertEqual(kind_of(event), "questionAsked", event)
            question = event["questionAsked"]
            self.assertEqual(int(question["id"]), qid)
            self.assertEqual(question["state"], "QUESTION_STATE_PENDING")
            self.assertEqual(question["text"], text)
            self.assertEqual(question["author"]["userId"], you1["userId"])
            self.assertEqual(int(event["seq"]), qid)

            # The host approves: everyone hears of it.
            seq, events = await host.accepted({"approveQuestion": {"questionId": str(qid)}}, room)
            self.assertGreater(seq, qid)
            updated = only(events, "questionUpdated")
            self.assertEqual(len(updated), 1, events)
            self.assertEqual(updated[0]["questionUpdated"]["state"], "QUESTION_STATE_OPEN")

            for client in (p2, p1):
                # For p2 the first question event is the update: it never saw
                # the pending question.
                event = await client.next_event()
                self.assertEqual(kind_of(event), "questionUpdated", f"{client.label}: {event}")
                self.assertEqual(int(event["questionUpdated"]["id"]), qid)
                self.assertEqual(event["questionUpdated"]["state"], "QUESTION_STATE_OPEN")
                self.assertEqual(event["questionUpdated"]["text"], text)
                self.assertEqual(int(event["seq"]), seq)

            # Votes.
            _, events = await p1.accepted({"voteQuestion": {"questionId": str(qid), "up": True}}, room)
            votes = only(events, "questionVotes")
            self.assertEqual(len(votes), 1, events)
            self.assertEqual(int(votes[0]["questionVotes"]["questionId"]), qid)
            self.assertEqual(votes[0]["questionVotes"]["votes"], 1)
            self.assertEqual(votes[0].get("actor", {}).get("userId", ""), "", "votes are anonymous")

            _, events = await p2.accepted({"voteQuestion": {"questionId": str(qid), "up": True}}, room)
            votes = only(events, "questionVotes")
            self.assertTrue(votes, events)
            self.assertEqual(votes[-1]["questionVotes"]["votes"], 2)

            for expected in (1, 2):
                event = await host.next_event()
                self.assertEqual(kind_of(event), "questionVotes", event)
                self.assertEqual(event["questionVotes"]["votes"], expected)
            event = await p1.next_event()
            self.assertEqual(kind_of(event), "questionVotes", event)
            self.assertEqual(event["questionVotes"]["votes"], 2)

            # A second "up" from p1 is idempotent: accepted, but no change.
            _, events = await p1.accepted({"voteQuestion": {"questionId": str(qid), "up": True}}, room)
            self.assertEqual(only(events, "questionVotes"), [], "a duplicate vote changed nothing")

            # p2 takes its vote back: 1 (it would be 2 if the duplicate had counted).
            _, events = await p2.accepted({"voteQuestion": {"questionId": str(qid), "up": False}}, room)
            votes = only(events, "questionVotes")
            self.assertEqual(len(votes), 1, events)
            self.assertEqual(votes[0]["questionVotes"]["votes"], 1)
            for client in (host, p1):
                event = await client.next_event()
                self.assertEqual(kind_of(event), "questionVotes", f"{client.label}: {event}")
                self.assertEqual(event["questionVotes"]["votes"], 1)

            # Pin, answer, mark answered.
            _, events = await host.accepted({"pinQuestion": {"questionId": str(qid)}}, room)
            pinned = only(events, "questionPinned")
            self.assertEqual(len(pinned), 1, events)
            self.assertEqual(int(pinned[0]["questionPinned"]["questionId"]), qid)
            self.assertEqual(int(pinned[0]["questionPinned"]["previousId"]), 0)
            for client in (p1, p2):
                event = await client.next_event()
                self.assertEqual(kind_of(event), "questionPinned", f"{client.label}: {event}")
                self.assertEqual(int(event["questionPinned"]["questionId"]), qid)

            answer = "Slow mode, clear rules, and kind moderators."
            _, events = await host.accepted({"answerQuestion": {"questionId": str(qid), "text": answer}}, room)
            updated = only(events, "questionUpdated")
            self.assertEqual(len(updated), 1, events)
            self.assertEqual(updated[0]["questionUpdated"]["answer"]["text"], answer)
            self.assertEqual(updated[0]["questionUpdated"]["answer"]["by"]["userId"], "host-1")
            self.assertIs(updated[0]["questionUpdated"]["pinned"], True)

            _, events = await host.accepted({"markAnswered": {"questionId": str(qid)}}, room)
            updated = only(events, "questionUpdated")
            self.assertEqual(len(updated), 1, events)
            self.assertEqual(updated[0]["questionUpdated"]["state"], "QUESTION_STATE_ANSWERED")
            self.assertIs(updated[0]["questionUpdated"]["pinned"], False)

            for client in (p1, p2):
                event = await client.next_event()
                self.assertEqual(kind_of(event), "questionUpdated", f"{client.label}: {event}")
                self.assertEqual(event["questionUpdated"]["answer"]["text"], answer)
                event = await client.next_event()
                self.assertEqual(kind_of(event), "questionUpdated", f"{client.label}: {event}")
                self.assertEqual(event["questionUpdated"]["state"], "QUESTION_STATE_ANSWERED")

            # A late joiner's snapshot has it all.
            late = await Client.connect(self.server, "late")
            clients.append(late)
            ok, _ = await late.ok({"joinRoom": {"displayName": "Latecomer"}}, room)
            snapshot = ok["snapshot"]
            self.assertEqual(snapshot["you"]["displayName"], "Latecomer")
            self.assertEqual(snapshot["present"], 4, snapshot)
            self.assertEqual([m["person"]["role"] for m in snapshot["members"]], ["ROLE_HOST"], snapshot["members"])
            questions = snapshot["questions"]
            self.assertEqual(len(questions), 1, questions)
            final = questions[0]
            self.assertEqual(int(final["id"]), qid)
            self.assertEqual(final["text"], text)
            self.assertEqual(final["votes"], 1)
            self.assertIs(final["votedByMe"], False)
            self.assertEqual(final["answer"]["text"], answer)
            self.assertEqual(final["state"], "QUESTION_STATE_ANSWERED")
            self.assertIs(final["pinned"], False)
            self.assertGreaterEqual(int(snapshot["seq"]), seq)
        finally:
            for client in clients:
                await client.close()


# ---------------------------------------------------------------------------
# 2. Binary frames: protobuf
# ---------------------------------------------------------------------------

class BinaryProtobufTest(ServerTestCase):

    def test_binary_frames(self):
        self.run_async(self._binary_frames())

    async def _binary_frames(self):
        room = "ama-binary"
        clients = []
        try:
            host, _ = await open_ama_room(self.server, room, False, "host-bin")
            clients.append(host)
            binary = await Client.connect(self.server, "binary")
            clients.append(binary)
            ws = binary.ws

            # Ping in protobuf: a binary Pong.
            await ws.send(pb_uint(CM_REQUEST_ID, 7) + pb_bytes(CM_PING, b""))
            frame = await binary.recv_frame()
            self.assertIsInstance(frame, bytes, "a binary frame is answered in binary")
            request_id, ok, error = decode_reply(frame)
            self.assertEqual(request_id, 7)
            self.assertIsNone(error)
            self.assertIn(OK_PONG, ok)

            # A request id above one byte, to exercise multi-byte varints.
            await ws.send(pb_uint(CM_REQUEST_ID, 300000) + pb_bytes(CM_PING, b""))
            frame = await binary.recv_frame()
            self.assertIsInstance(frame, bytes)
            self.assertEqual(decode_reply(frame)[0], 300000)

            # JoinRoom in protobuf: a binary snapshot.
            await ws.send(pb_uint(CM_REQUEST_ID, 8) + pb_bytes(CM_ROOM_ID, room)
                          + pb_bytes(CM_JOIN_ROOM, pb_bytes(JOIN_DISPLAY_NAME, "Binny")))
            frame = await binary.recv_frame()
            self.assertIsInstance(frame, bytes)
            request_id, ok, error = decode_reply(frame)
            self.assertEqual(request_id, 8)
            self.assertIsNone(error, error)
            self.assertIn(OK_SNAPSHOT, ok)
            snapshot = pb_decode(pb_one(ok, OK_SNAPSHOT))
            info = pb_decode(pb_one(snapshot, SNAPSHOT_ROOM))
            self.assertEqual(pb_one(info, ROOMINFO_ROOM_ID), room.encode())
            self.assertEqual(pb_one(info, ROOMINFO_KIND), ROOM_KIND_AMA)
            you = pb_decode(pb_one(snapshot, SNAPSHOT_YOU))
            self.assertEqual(pb_one(you, PERSON_DISPLAY_NAME), b"Binny")
            self.assertTrue(pb_one(you, PERSON_USER_ID, b"").startswith(b"anon:"))
            self.assertEqual(pb_one(you, PERSON_ROLE), ROLE_PARTICIPANT)
            await host.next_event(is_kind("membersChanged"))

            # An error in protobuf.
            await ws.send(pb_uint(CM_REQUEST_ID, 9) + pb_bytes(CM_ROOM_ID, "no-such-room")
                          + pb_bytes(CM_JOIN_ROOM, b""))
            frame = await binary.recv_frame()
            self.assertIsInstance(frame, bytes)
            request_id, ok, error = decode_reply(frame)
            self.assertEqual(request_id, 9)
            self.assertIsNone(ok)
            self.assertEqual(pb_one(error, ERROR_CODE), ROOM_NOT_FOUND)

            # Undecodable bytes: MALFORMED, request id 0, still binary.
            await ws.send(pb_bytes(CM_ROOM_ID, b"abcde")[:4])
            frame = await binary.recv_frame()
            self.assertIsInstance(frame, bytes)
            request_id, ok, error = decode_reply(frame)
            self.assertEqual(request_id, 0)
            self.assertIsNone(ok)
            self.assertEqual(pb_one(error, ERROR_CODE), MALFORMED)

            # Events are pushed in binary while the client's last frame was binary.
            text = "Asked in JSON, delivered in protobuf?"
            await host.accepted({"askQuestion": {"text": text}}, room)
            frame = await binary.recv_frame()
            self.assertIsInstance(frame, bytes, "events follow the encoding of the client's last frame")
            top = pb_decode(frame)
            self.assertIn(SM_EVENT, top)
            event = pb_decode(pb_one(top, SM_EVENT))
            self.assertEqual(pb_one(event, EVENT_ROOM_ID), room.encode())
            question = pb_decode(pb_one(event, EVENT_QUESTION_ASKED))
            self.assertEqual(pb_one(question, QUESTION_TEXT), text.encode())

            # A text frame gets a text reply, and switches pushes to text.
            await binary.ping()
            text2 = "And now in JSON?"
            await host.accepted({"askQuestion": {"text": text2}}, room)
            event = await binary.next_event()
            self.assertEqual(event["questionAsked"]["text"], text2)

            # And back: a binary frame gets a binary reply.
            await ws.send(pb_uint(CM_REQUEST_ID, 10) + pb_bytes(CM_PING, b""))
            frame = await binary.recv_frame()
            self.assertIsInstance(frame, bytes)
            request_id, ok, _ = decode_reply(frame)
            self.assertEqual(request_id, 10)
            self.assertIn(OK_PONG, ok)
        finally:
            for client in clients:
                await client.close()


# ---------------------------------------------------------------------------
# 3. Bad input
# ---------------------------------------------------------------------------

def tamper_signature(token):
    header, payload, signature = token.split(".")
    # Change the first character: the last one may only carry padding bits.
    replacement = "A" if signature[0] != "A" else "B"
    return ".".join([header, payload, replacement + signature[1:]])


def token_expiry(token):
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return int(json.loads(base64.urlsafe_b64decode(payload))["exp"])


class BadInputTest(ServerTestCase):

    def assertErrorCode(self, reply, code, request_id):
        self.assertIn("error", reply, reply)
        self.assertEqual(reply["error"]["code"], code, reply)
        self.assertEqual(reply["requestId"], request_id, reply)

    def test_bad_input(self):
        room = "ama-bad"
        # Minted now so that it has expired by the time it is used.
        expired = self.server.token("participant", room, "Late Larry", "user-expired", ttl="1s")
        self.run_async(self._bad_input(room, expired))

    async def _bad_input(self, room, expired_token):
        clients = []
        try:
            host, _ = await open_ama_room(self.server, room, False, "host-bad")
            clients.append(host)
            offender = await Client.connect(self.server, "offender")
            clients.append(offender)
            await offender.ok({"joinRoom": {}}, room)
            await host.next_event(is_kind("membersChanged"))
            observer = await Client.connect(self.server, "observer")
            clients.append(observer)
            await observer.ok({"joinRoom": {}}, room)
            await host.next_event(is_kind("membersChanged"))
            await offender.next_presence(lambda p: p.get("present") == 3)

            # Malformed JSON: MALFORMED with request id 0 (printed).
            await offender.send_text('{"requestId": 3, "ping": ')
            reply, _ = await offender.await_reply(0)
            self.assertErrorCode(reply, "MALFORMED", 0)
            await offender.ping()

            # No command: UNKNOWN_COMMAND; so is a command this server does not know.
            reply, _ = await offender.request({}, request_id=5)
            self.assertErrorCode(reply, "UNKNOWN_COMMAND", 5)
            await offender.ping()
            request_id = offender.new_request_id()
            reply, _ = await offender.request({"frobnicateRoom": {"level": 11}}, room, request_id)
            self.assertErrorCode(reply, "UNKNOWN_COMMAND", request_id)
            await offender.ping()

            # A room the connection is not in.
            request_id = offender.new_request_id()
            reply, _ = await offender.request({"askQuestion": {"text": "hello?"}}, "ama-elsewhere", request_id)
            self.assertErrorCode(reply, "NOT_IN_ROOM", request_id)
            await offender.ping()

            # A participant may not approve.
            request_id = offender.new_request_id()
            reply, _ = await offender.request({"approveQuestion": {"questionId": "1"}}, room, request_id)
            self.assertErrorCode(reply, "PERMISSION_DENIED", request_id)
            await offender.ping()

            # A question that does not exist.
            request_id = offender.new_request_id()
            reply, _ = await offender.request({"voteQuestion": {"questionId": "987654", "up": True}}, room,
                                              request_id)
            self.assertErrorCode(reply, "QUESTION_NOT_FOUND", request_id)
            await offender.ping()

            # A room that does not exist.
            request_id = offender.new_request_id()
            reply, _ = await offender.request({"joinRoom": {}}, "no-such-room", request_id)
            self.assertErrorCode(reply, "ROOM_NOT_FOUND", request_id)
            await offender.ping()

            # A frame above the 64 KiB limit: discarded unread, so request id 0.
            prefix = '{"requestId": 77, "ping": {}, "padding": "'
            big = prefix + "x" * (70000 - len(prefix) - 2) + '"}'
            self.assertEqual(len(big.encode()), 70000)
            await offender.send_text(big)
            reply, _ = await offender.await_reply(0)
            self.assertErrorCode(reply, "MESSAGE_TOO_LARGE", 0)
            await offender.ping()

            # Tokens, on a connection that is in no room yet.
            stranger = await Client.connect(self.server, "stranger")
            clients.append(stranger)
            good = self.server.token("participant", room, "Sam", "user-sam")
            request_id = stranger.new_request_id()
            reply, _ = await stranger.request({"hello": {"token": tamper_signature(good)}}, None, request_id)
            self.assertErrorCode(reply, "TOKEN_INVALID", request_id)
            await stranger.ping()
            request_id = stranger.new_request_id()
            reply, _ = await stranger.request({"joinRoom": {"token": tamper_signature(good)}}, room, request_id)
            self.assertErrorCode(reply, "TOKEN_INVALID", request_id)
            await stranger.ping()

            # Expiry is a matter of time itself: poll the clock until it has passed.
            expiry = token_expiry(expired_token)
            deadline = time.monotonic() + TIMEOUT
            while time.time() < expiry + 0.05:
                self.assertLess(time.monotonic(), deadline, "token expiry is too far ahead")
                await asyncio.sleep(0.05)
            request_id = stranger.new_request_id()
            reply, _ = await stranger.request({"joinRoom": {"token": expired_token}}, room, request_id)
            self.assertErrorCode(reply, "TOKEN_EXPIRED", request_id)
            await stranger.ping()

            other = self.server.token("participant", "ama-other", "Sam", "user-sam")
            request_id = stranger.new_request_id()
            reply, _ = await stranger.request({"joinRoom": {"token": other}}, room, request_id)
            self.assertErrorCode(reply, "TOKEN_WRONG_ROOM", request_id)
            await stranger.ping()

            # Nobody else heard any of it: the next thing the observer and the
            # host receive is the host's question.
            text = "Is everyone still here?"
            qid, events = await host.accepted({"askQuestion": {"text": text}}, room)
            self.assertEqual([kind_of(e) for e in events], ["questionAsked"], events)
            for client in (observer, offender):
                event = await client.next_event()
                self.assertEqual(kind_of(event), "questionAsked", f"{client.label}: {event}")
                self.assertEqual(int(event["questionAsked"]["id"]), qid)
                self.assertEqual(event["questionAsked"]["text"], text)

            # The stranger can still join with a valid token.
            ok, _ = await stranger.ok({"joinRoom": {"token": good}}, room)
            self.assertEqual(ok["snapshot"]["you"]["userId"], "user-sam")
            self.assertEqual(ok["snapshot"]["you"]["displayName"], "Sam")
        finally:
            for client in clients:
                await client.close()


# ---------------------------------------------------------------------------
# 4. HTTP
# ---------------------------------------------------------------------------

class HttpTest(ServerTestCase):

    def request(self, method, path):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=TIMEOUT)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            return response.status, dict((k.lower(), v) for k, v in response.getheaders()), response.read()
        finally:
            connection.close()

    def test_healthz(self):
        status, headers, body = self.request("GET", "/healthz")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers.get("content-type", "").startswith("application/json"), headers)
        self.assertEqual(json.loads(body)["status"], "ok")

    def test_unknown_path(self):
        status, _, body = self.request("GET", "/nope")
        self.assertEqual(status, 404, body)

    def test_wrong_method(self):
        status, headers, body = self.request("POST", "/healthz")
        self.assertEqual(status, 405, body)
        self.assertIn("GET", headers.get("allow", ""), headers)


# ---------------------------------------------------------------------------
# 5. Shutdown
# ---------------------------------------------------------------------------

class ShutdownTest(ServerTestCase):

    def test_sigterm_closes_clients_with_1001_and_exits_0(self):
        self.run_async(self._sigterm())
        try:
            code = self.server.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail_with_log("hearth-server did not exit after SIGTERM")
        self.assertEqual(code, 0, "exit code after SIGTERM" + self.server.stderr_tail())

    async def _sigterm(self):
        host, _ = await open_ama_room(self.server, "ama-shutdown", False, "host-down")
        idle = await Client.connect(self.server, "idle")
        try:
            await idle.ping()
            self.server.proc.send_signal(signal.SIGTERM)
            for client in (host, idle):
                try:
                    while True:  # a Presence push may still come first
                        frame = await asyncio.wait_for(client.ws.recv(), TIMEOUT)
                        if not (isinstance(frame, str) and frame.startswith('{"presence"')):
                            break
                    self.fail(f"{client.label}: expected a close, got {frame!r}")
                except websockets.exceptions.ConnectionClosed as closed:
                    self.assertIsNotNone(closed.rcvd, f"{client.label}: no close frame from the server: {closed}")
                    self.assertEqual(closed.rcvd.code, 1001, f"{client.label}: {closed}")
                except asyncio.TimeoutError:
                    self.fail(f"{client.label}: no close frame within {TIMEOUT} s")
        finally:
            await host.close()
            await idle.close()


# ---------------------------------------------------------------------------

def main():
    global SERVER_BINARY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="path to the hearth-server binary")
    args, rest = parser.parse_known_args()
    SERVER_BINARY = os.path.abspath(args.server)
    if not os.access(SERVER_BINARY, os.X_OK):
        parser.error(f"not an executable: {SERVER_BINARY}")
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
