#!/usr/bin/python3
# match-eval.py INPUT MATCHES...: precision and recall of fs-match's
# --matches outputs on fs-gen's labelled txn stream INPUT (label 1 =
# injected fraud).  An event is flagged when a match of any MATCHES
# file holds it (by key and seq).  Prints one line per file and one for
# their union: "NAME flagged=N fraud=N precision=P recall=R", recall
# over every label-1 event.  Events a match holds as variable HOME are
# not flagged: impossible-travel's HOME is the genuine purchase at home
# that the foreign ones are measured from.
import json, struct, sys


def frames(path):
    d = open(path, "rb").read()
    o = 0
    while o < len(d):
        ln, ty, ver, fl = struct.unpack_from("<IHBB", d, o)
        yield ty, fl, d[o:o + 4 + ln]
        o += 4 + ln


ev = {}
for ty, fl, f in frames(sys.argv[1]):
    if ty == 5 and not fl & 1:
        seq, = struct.unpack_from("<Q", f, 32)
        acct, merch, dev, amt, mcc, ch, label, ctry = struct.unpack_from(
            "<QQQqHBB4s", f, 40)
        ev[seq] = (label, ch)
fraud = {s for s, (l, c) in ev.items() if l}
union = set()
for path in sys.argv[2:]:
    got = set()
    var = None
    for ty, fl, f in frames(path):
        if ty == 13:
            n, = struct.unpack_from("<I", f, 40)
            var = json.loads(f[44:44 + n])["var"]
        elif ty == 5 and var != "HOME":
            got.add(struct.unpack_from("<Q", f, 32)[0])
    union |= got
    tp = len(got & fraud)
    print("%s flagged=%d fraud=%d precision=%.3f recall=%.3f" %
          (path, len(got), len(fraud), tp / max(len(got), 1),
           tp / max(len(fraud), 1)))
tp = len(union & fraud)
print("union flagged=%d fraud=%d precision=%.3f recall=%.3f" %
      (len(union), len(fraud), tp / max(len(union), 1),
       tp / max(len(fraud), 1)))
