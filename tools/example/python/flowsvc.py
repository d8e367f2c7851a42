"""flowsvc.py - a flow-service client in Python, with no C library.

It speaks the backend's wire directly: nng's REQ/REP over TCP (the SP
protocol's TCP framing, a handful of bytes) carrying the protobuf
envelopes of proto/flows.proto. Generate the message module first:

    protoc --python_out=DIR -I proto proto/flows.proto   # DIR/flows_pb2.py

and put DIR on sys.path (or PYTHONPATH). Only Debian packages are needed:
python3-protobuf and protobuf-compiler.

What a client of the backend must do, whatever its language (README,
"Clients in other languages"):

- send one Request envelope per call: the method, a request id, an
  absolute wall-clock deadline (deadline_unix_ms) and the method's request
  message, encoded, as payload;
- never send a request twice by itself: nng's REQ resends after a timeout
  or on a new connection, which can run a change twice. This client keeps
  one connection and one call at a time, and when the connection drops or
  the deadline passes it fails the call (UNAVAILABLE / DEADLINE_EXCEEDED)
  and reconnects for the next one: a call runs at most once;
- keep messages under 16 MiB (the backend's limit in both directions);
- read the Reply's code (gRPC numbering), message and violations; the
  method's reply message is in payload when the code is OK.

Watching for changes (Client.watch): Watch is a long poll; the loop calls
it again from the revision each answer is complete up to, and after a
lost connection or a backend restart it reconnects and resumes from the
last revision it handed out, so each change comes exactly once, in
revision order. List, then watch from the list's revision
(Client.last_revision) to miss nothing.
"""

import os
import socket
import struct
import time
import uuid

import flows_pb2 as pb

# Status codes (flows.proto Code).
CODES = {v.number: v.name for v in pb.Code.DESCRIPTOR.values}
OK = pb.OK
MAX_MSG = 16 * 1024 * 1024

# Event types (flows.proto EventType) as CONTRACT §7 names them.
EVENT_TYPES = {pb.ADDED: "added", pb.MODIFIED: "modified",
               pb.DELETED: "deleted", pb.STATUS: "status"}
STATUSES = {pb.NOT_DEPLOYED: "not-deployed", pb.STARTED: "started",
            pb.STOPPED: "stopped"}
# Failures a watch outlives: it waits and calls again from where it was.
# Anything else (OUT_OF_RANGE, INVALID_ARGUMENT, ...) ends it.
_WATCH_RETRY = (pb.UNAVAILABLE, pb.DEADLINE_EXCEEDED, pb.RESOURCE_EXHAUSTED,
                pb.INTERNAL, pb.ABORTED)

# SP over TCP: each side opens with "\0SP\0", its protocol number (REQ is
# 0x30, REP 0x31) and two zero bytes; then every message is a 64-bit
# big-endian length and the message. A REQ message starts with a 32-bit
# request id whose top bit is set, and the REP answer starts with the same
# id.
_SP_REQ, _SP_REP = 0x30, 0x31


class Error(Exception):
    """A call that did not answer OK: code (an int), its name, message and
    violations ({field: [messages]})."""

    def __init__(self, code, message, violations=None, reply=None):
        self.code = code
        self.name = CODES.get(code, str(code))
        self.message = message
        self.violations = violations or {}
        # OUT_OF_RANGE from Watch: the oldest revision the backend keeps
        # (and its current one); None otherwise.
        self.oldest_revision = (reply.oldest_revision if reply is not None
                                and reply.HasField("oldest_revision")
                                else None)
        self.revision = (reply.revision if reply is not None
                         and reply.HasField("revision") else None)
        super().__init__("%s: %s" % (self.name, message))


class Client:
    """One connection to flow-service at a tcp://HOST:PORT URL."""

    def __init__(self, url, timeout_ms=5000):
        if not url.startswith("tcp://"):
            raise ValueError("only tcp://HOST:PORT URLs: %r" % url)
        host, _, port = url[len("tcp://"):].rpartition(":")
        self.addr = (host.strip("[]"), int(port))
        self.timeout_ms = timeout_ms
        self.sock = None
        self.next_id = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
        # The revision the last answer reflected (Reply.revision): after a
        # list, where a watch starts to miss nothing.
        self.last_revision = None

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _connect(self, deadline):
        s = socket.create_connection(self.addr, timeout=_left(deadline))
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(b"\0SP\0" + struct.pack(">H", _SP_REQ) + b"\0\0")
            peer = _read(s, 8, deadline)
            if peer[:4] != b"\0SP\0" or struct.unpack(">H", peer[4:6])[0] != _SP_REP:
                raise Error(pb.UNAVAILABLE, "not a flow-service (SP handshake)")
        except BaseException:
            s.close()
            raise
        self.sock = s

    def call(self, method, request, reply_type, timeout_ms=None):
        """Runs one RPC. method is a pb.Method value (pb.GET, ...), request
        the method's request message, reply_type its reply message class.
        Returns the decoded reply message, or raises Error."""
        timeout_ms = timeout_ms or self.timeout_ms
        deadline = time.monotonic() + timeout_ms / 1000.0
        env = pb.Request()
        env.method = method
        env.request_id = "py-" + uuid.uuid4().hex[:12]
        env.deadline_unix_ms = int(time.time() * 1000) + timeout_ms
        env.payload = request.SerializeToString()
        body = env.SerializeToString()
        if len(body) + 4 > MAX_MSG:
            raise Error(pb.INVALID_ARGUMENT, "request over the 16 MiB limit")
        self.next_id = (self.next_id + 1) & 0x7FFFFFFF
        rid = self.next_id | 0x80000000
        try:
            if self.sock is None:
                self._connect(deadline)
            self.sock.settimeout(_left(deadline))
            self.sock.sendall(struct.pack(">QI", len(body) + 4, rid) + body)
            while True:
                (n,) = struct.unpack(">Q", _read(self.sock, 8, deadline))
                if n < 4 or n > MAX_MSG + 4:
                    raise Error(pb.INTERNAL, "reply of %d bytes" % n)
                msg = _read(self.sock, n, deadline)
                if struct.unpack(">I", msg[:4])[0] == rid:
                    break  # anything else answers an abandoned call
        except socket.timeout:
            self.close()  # its answer may still come: never reuse it
            raise Error(pb.DEADLINE_EXCEEDED, "no answer in %d ms" % timeout_ms)
        except (OSError, EOFError) as e:
            self.close()
            raise Error(pb.UNAVAILABLE, "%s at tcp://%s:%d" % (
                e.strerror if isinstance(e, OSError) and e.strerror else e,
                self.addr[0], self.addr[1]))
        rep = pb.Reply()
        rep.ParseFromString(msg[4:])
        if rep.HasField("revision"):
            self.last_revision = rep.revision
        if rep.code != OK:
            raise Error(rep.code, rep.message,
                        {v.field: list(v.messages) for v in rep.violations},
                        rep)
        out = reply_type()
        out.ParseFromString(rep.payload)
        return out

    # The methods an internal service uses most, by name.
    def create(self, name, kind=pb.FLOW, group=None, input_fields=None,
               output_fields=None, flows=None):
        req = pb.CreateRequest(kind=kind, name=name)
        if group is not None:
            req.group = group
        for field, items in (("input_fields", input_fields),
                             ("output_fields", output_fields),
                             ("flows", flows)):
            if items is not None:
                getattr(req, field).SetInParent()
                getattr(req, field).items.extend(items)
        return self.call(pb.CREATE, req, pb.ComponentReply).component

    def get(self, id, kind=pb.KIND_ANY):
        req = pb.GetRequest(id=id, kind=kind)
        return self.call(pb.GET, req, pb.ComponentReply).component

    def list(self, kind=pb.FLOW, name=None, group=None):
        req = pb.ListRequest(kind=kind)
        if name is not None:
            req.name_iexact = name
        if group is not None:
            req.group_iexact = group
        return list(self.call(pb.LIST, req, pb.ListReply).components)

    def delete(self, id, kind=pb.KIND_ANY):
        self.call(pb.DELETE, pb.IdRequest(id=id, kind=kind), pb.Empty)

    def watch_once(self, since=None, kind=pb.KIND_ANY, group=None,
                   wait_ms=30000, max_events=0):
        """One Watch call: the changes after revision since (None: from
        the backend's current one on), waiting up to wait_ms (at most
        60000) for one. Returns the WatchReply: its events, and revision,
        the one to pass as since next time (also when there are no
        events). Raises Error; OUT_OF_RANGE when since is older than the
        history kept (e.oldest_revision) or newer than the backend's."""
        req = pb.WatchRequest(wait_ms=wait_ms)
        if since is not None:
            req.since_revision = since
        if kind != pb.KIND_ANY:
            req.kind = kind
        if group:
            req.group_iexact = group
        if max_events:
            req.max_events = max_events
        # The call's own time on top of the wait: a long poll that waits
        # its whole wait is no timeout.
        return self.call(pb.WATCH, req, pb.WatchReply,
                         timeout_ms=self.timeout_ms + wait_ms)

    def watch(self, since=None, kind=pb.KIND_ANY, group=None,
              wait_ms=30000, on_retry=None):
        """Yields every change after revision since (None: from now on)
        as a WatchEvent (type, revision, component, status), each exactly
        once, in revision order, for as long as the caller iterates.

        It resumes by itself: when a call fails in a way that trying again
        may fix (the connection lost, the backend restarting or not
        answering in time), it calls on_retry(error, seconds) if given,
        waits (50 ms, doubling to 2 s) and calls again from the last
        revision it handed out. Other errors end it by raising Error:
        OUT_OF_RANGE means the history no longer reaches back there: list
        again and watch from the list's revision."""
        pos = since
        pause = 0.05
        while True:
            try:
                batch = self.watch_once(pos, kind, group, wait_ms)
            except Error as e:
                if e.code not in _WATCH_RETRY:
                    raise
                if on_retry is not None:
                    on_retry(e, pause)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            pause = 0.05
            for ev in batch.events:
                if pos is not None and ev.revision <= pos:
                    continue  # handed out already
                pos = ev.revision
                yield ev
            if pos is None or batch.revision > pos:
                pos = batch.revision


def _left(deadline):
    return max(deadline - time.monotonic(), 0.001)


def _read(sock, n, deadline):
    buf = bytearray()
    while len(buf) < n:
        sock.settimeout(_left(deadline))
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed by the backend")
        buf += chunk
    return bytes(buf)
