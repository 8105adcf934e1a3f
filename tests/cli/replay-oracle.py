#!/usr/bin/python3
# replay-oracle.py FILE [--from NS] [--to NS] [--keys K,K] [--types T,T]
#                  [--control]
# The fs-replay oracle, reading frames with the layout of fs-record(5)
# (independent of libcommon): one line per data record of FILE that the
# filters keep, "type ts_event key seq flags body-hex" (ts_ingest left
# out), in file order.  Keys are numbers, types numbers (fs.h).  With
# --control: the control records instead, "type ts_event flags".
import struct, sys

args = sys.argv[1:]
path = args.pop(0)
lo, hi, keys, types, control = -2**63, 2**63 - 1, None, None, False
while args:
    a = args.pop(0)
    if a == "--from":
        lo = int(args.pop(0))
    elif a == "--to":
        hi = int(args.pop(0))
    elif a == "--keys":
        keys = {int(k) for k in args.pop(0).split(",")}
    elif a == "--types":
        types = {int(t) for t in args.pop(0).split(",")}
    elif a == "--control":
        control = True
    else:
        sys.exit("replay-oracle.py: unknown argument " + a)
d = open(path, "rb").read()
o = 0
out = []
while o + 40 <= len(d):
    ln, ty, ver, fl, ts, ing, key, seq = struct.unpack_from("<IHBBqqQQ", d, o)
    if (ln + 4) % 8 or ver != 1 or o + 4 + ln > len(d):
        break
    if control:
        if fl & 1:
            out.append("%d %d %d" % (ty, ts, fl))
    elif not fl & 1 and lo <= ts < hi and (keys is None or key in keys) \
            and (types is None or ty in types):
        out.append("%d %d %d %d %d %s" % (ty, ts, key, seq, fl,
                                         d[o + 40:o + 4 + ln].hex()))
    o += 4 + ln
sys.stdout.write("".join(x + "\n" for x in out))
