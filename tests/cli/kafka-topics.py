#!/usr/bin/python3
"""kafka-topics.py BOOTSTRAP NAME:PARTITIONS... - create topics on real
Kafka brokers without a JVM, for the tests (tests/cli/helper.bash).

Speaks the Kafka protocol itself (no Kafka client library is installed):
a Metadata v1 request finds the brokers and the controller, CreateTopics
v4 (Kafka 2.4 or later) asks the controller for each topic with the
brokers' default replication factor, and Metadata requests to every broker
are repeated until each one lists every partition of every topic with a
leader.  A topic that exists already with the same partition count is
fine.  Exit 0 when all are ready, 1 on any failure (said on stderr), 2
usage.  Within --timeout seconds (default 30)."""

import socket
import struct
import sys
import time

TIMEOUT = 30.0


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, int(port)), timeout=10)
        self.cid = 0

    def call(self, api, ver, body):
        self.cid += 1
        cl = b"fs-tests"
        hdr = struct.pack(">hhih", api, ver, self.cid, len(cl)) + cl
        msg = hdr + body
        self.s.sendall(struct.pack(">i", len(msg)) + msg)
        n, = struct.unpack(">i", self.recv(4))
        b = self.recv(n)
        cid, = struct.unpack_from(">i", b, 0)
        if cid != self.cid:
            raise IOError("correlation id %d, expected %d" % (cid, self.cid))
        return Reader(b, 4)

    def recv(self, n):
        out = b""
        while len(out) < n:
            c = self.s.recv(n - len(out))
            if not c:
                raise IOError("connection closed")
            out += c
        return out

    def close(self):
        self.s.close()


class Reader:
    def __init__(self, b, o):
        self.b, self.o = b, o

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.o)
        self.o += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.b[self.o:self.o + n].decode()
        self.o += n
        return s


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def metadata(c, topics):
    """Metadata v1: (brokers {id: (host, port)}, controller, topics
    {name: (error, {partition: leader})})."""
    body = struct.pack(">i", len(topics)) + b"".join(kstr(t) for t in topics)
    r = c.call(3, 1, body)
    brokers = {}
    for _ in range(r.take(">i")):
        nid = r.take(">i")
        host = r.string()
        port = r.take(">i")
        r.string()			# rack
        brokers[nid] = (host, port)
    ctl = r.take(">i")
    out = {}
    for _ in range(r.take(">i")):
        err = r.take(">h")
        name = r.string()
        r.take(">b")			# is_internal
        parts = {}
        for _ in range(r.take(">i")):
            perr = r.take(">h")
            p = r.take(">i")
            leader = r.take(">i")
            for _ in range(r.take(">i")):
                r.take(">i")
            for _ in range(r.take(">i")):
                r.take(">i")
            parts[p] = leader if perr == 0 else -1
        out[name] = (err, parts)
    return brokers, ctl, out


def create(c, topics):
    """CreateTopics v4; returns {name: (error_code, message)}."""
    body = struct.pack(">i", len(topics))
    for name, np in topics:
        body += kstr(name) + struct.pack(">ihii", np, -1, 0, 0)
    body += struct.pack(">ib", int(TIMEOUT * 1000), 0)
    r = c.call(19, 4, body)
    r.take(">i")				# throttle_time_ms
    out = {}
    for _ in range(r.take(">i")):
        name = r.string()
        err = r.take(">h")
        msg = r.string()
        out[name] = (err, msg)
    return out


def main(argv):
    global TIMEOUT
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--timeout":
        TIMEOUT = float(args[1])
        args = args[2:]
    if len(args) < 2:
        print("usage: kafka-topics.py [--timeout S] BOOTSTRAP NAME:P...",
              file=sys.stderr)
        return 2
    boot = [h.rsplit(":", 1) for h in args[0].split(",")]
    topics = []
    for t in args[1:]:
        name, _, np = t.partition(":")
        if not name or not np.isdigit() or int(np) < 1:
            print("kafka-topics.py: '%s' is not NAME:PARTITIONS" % t,
                  file=sys.stderr)
            return 2
        topics.append((name, int(np)))
    deadline = time.monotonic() + TIMEOUT
    c = Conn(*boot[0])
    brokers, ctl, _ = metadata(c, [])
    c.close()
    if ctl not in brokers:
        print("kafka-topics.py: no controller in the metadata of %s"
              % args[0], file=sys.stderr)
        return 1
    c = Conn(*brokers[ctl])
    res = create(c, topics)
    c.close()
    for name, np in topics:
        err, msg = res.get(name, (-1, "no answer"))
        if err not in (0, 36):		# 36: TOPIC_ALREADY_EXISTS
            print("kafka-topics.py: creating %s:%d: error %d: %s"
                  % (name, np, err, msg), file=sys.stderr)
            return 1
    names = [n for n, _ in topics]
    want = dict(topics)
    while True:
        ok = True
        for host, port in brokers.values():
            c = Conn(host, port)
            _, _, md = metadata(c, names)
            c.close()
            for name in names:
                err, parts = md.get(name, (-1, {}))
                if err != 0 or len(parts) != want[name] or \
                   min(parts.values()) < 0:
                    if err == 0 and len(parts) > want[name]:
                        print("kafka-topics.py: %s exists with %d "
                              "partitions, not %d" % (name, len(parts),
                                                      want[name]),
                              file=sys.stderr)
                        return 1
                    ok = False
        if ok:
            return 0
        if time.monotonic() > deadline:
            print("kafka-topics.py: topics not ready after %g s"
                  % TIMEOUT, file=sys.stderr)
            return 1
        time.sleep(0.05)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, struct.error, ValueError) as e:
        print("kafka-topics.py: %s" % e, file=sys.stderr)
        sys.exit(1)
