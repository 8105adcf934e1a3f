#!/usr/bin/python3
"""kafka-verify.py OUT.fsr < kcat output: keep what committed.

Reads messages that kcat printed with -f '%p %o %S %h\\n%s' (the
independent client's view of a topic a transactional finstream sink
wrote, finstream(7) Checkpoints) and writes OUT.fsr: the frames of the
records whose transaction ("fs-txn" header GENERATION.SEQ) has a COMMIT
marker (fs-record(5), type 0x103) somewhere in the topic, in partition
then offset order; COMMIT markers left out.  On a real broker, whose
read_committed consumers never see aborted transactions, every record
has one; on librdkafka's mock (no transactions) the records of aborted
transactions are dropped here.  Prints "kept N", "orphans N",
"markers N" on stdout.
"""
import struct
import sys

COMMIT = 0x103


def messages(f):
    while True:
        line = f.readline()
        if not line:
            return
        p, o, n, *h = line.rstrip(b"\n").split(b" ")
        v = f.read(int(n))
        hdr = dict(x.split(b"=", 1) for x in h if b"=" in x)
        yield int(p), int(o), hdr.get(b"fs-txn"), v


def main():
    recs, committed = [], set()
    for p, o, txn, v in messages(sys.stdin.buffer):
        typ, = struct.unpack_from("<H", v, 0)
        if typ == COMMIT:
            _, gen, seq = struct.unpack_from("<QQQ", v, 36)
            committed.add(b"%d.%d" % (gen, seq))
        else:
            recs.append((p, o, txn, v))
    recs.sort(key=lambda r: (r[0], r[1]))
    kept = [r for r in recs if r[2] in committed]
    with open(sys.argv[1], "wb") as out:
        for r in kept:
            out.write(struct.pack("<I", len(r[3])) + r[3])
    print("kept", len(kept))
    print("orphans", len(recs) - len(kept))
    print("markers", len(committed))
    print("kept %d records, %d orphans (no committed marker), %d "
          "transactions" % (len(kept), len(recs) - len(kept),
                            len(committed)), file=sys.stderr)


main()
