# Shared by the tests/cli/0600-window-*.bats files: load window-helper
# Frames from a tiny spec on stdin, one a line (times in seconds after
# 2026-01-01T00:00:00Z):
#   txn SEC ACCOUNT CENTS [MERCHANT]   a TXN
#   trade SEC SYMBOL PRICE QTY         a TRADE
#   wm SEC                             a WATERMARK
# Debian's python3 starts in 40 ms; a pyenv shim takes ten times that.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
export PY

mk() {
	"$PY" -c '
import struct, sys
T0 = 1767225600 * 10**9
out = sys.stdout.buffer
for n, line in enumerate(sys.stdin):
    f = line.split()
    if not f:
        continue
    ts = T0 + round(float(f[1]) * 1e9)
    if f[0] == "wm":
        out.write(struct.pack("<IHBBqqQQ", 36, 0x100, 1, 1, ts, ts, 0, n))
    elif f[0] == "trade":
        body = struct.pack("<12sc3xqqQ8s16x", f[2].encode(), b"B",
                           int(f[3]) * 10**8, int(f[4]), n, b"XNAS")
        out.write(struct.pack("<IHBBqqQQ", 100, 1, 1, 0, ts, ts, 1, n) + body)
    else:
        acc, cents = int(f[2]), int(f[3])
        mer = int(f[4]) if len(f) > 4 else 7
        body = struct.pack("<QQQqHBB4s4s4x", acc, mer, 9, cents * 10**6,
                           5411, 0, 0, b"US", b"USD")
        out.write(struct.pack("<IHBBqqQQ", 84, 5, 1, 0, ts, ts, acc, n) +
                  body)
'
}

# show < frames: one line a record: "agg FLAGS key=K START-END col=v ...",
# "wm SEC", "txn FLAGS SEC key=K", "bar FLAGS key=K START-END o h l c v n".
show() {
	"$PY" -c '
import struct, sys
T0 = 1767225600 * 10**9
data = sys.stdin.buffer.read()
sch, off = {}, 0
def sec(t):
    return ("%.9f" % ((t - T0) / 1e9)).rstrip("0").rstrip(".")
def fl(f):
    s = [n for b, n in ((2, "LATE"), (8, "PARTIAL"), (16, "UPDATE")) if f & b]
    return "|".join(s) or "-"
while off < len(data):
    ln, typ, _v, flags, tse, tsi, key, seq = struct.unpack_from("<IHBBqqQQ", data, off)
    body = data[off + 40: off + 4 + ln]
    off += 4 + ln
    if typ == 0x102:
        ft, nc, sid = struct.unpack_from("<HHI", body)
        names = body[8 + nc:].split(b"\0")[:nc]
        sch[sid] = [(x.decode(), body[8 + i]) for i, x in enumerate(names)]
    elif typ == 0x100:
        print("wm", sec(tse))
    elif typ == 11:
        nc, sid = struct.unpack_from("<II", body)
        cols = []
        for i, (nm, k) in enumerate(sch[sid]):
            v = struct.unpack_from("<d" if k == 6 else "<q", body, 8 + 8 * i)[0]
            if nm.startswith("window_"):
                continue
            cols.append("%s=%s" % (nm, ("%g" % v) if k == 6 else
                        ("%g" % (v / 1e8)) if k == 8 else v))
        ws, we = struct.unpack_from("<qq", body, 8)
        print("agg", fl(flags), "key=%d" % key, sec(ws) + "-" + sec(we), *cols)
    elif typ == 7:
        b = struct.unpack_from("<12s4xqqqqqqqqQ", body)
        print("bar", fl(flags), "key=%d" % key, sec(b[1]) + "-" + sec(b[2]),
              *["%g" % (x / 1e8) for x in b[3:7]], b[7], b[9])
    else:
        print({1: "trade", 5: "txn", 8: "features"}.get(typ, typ), fl(flags),
              sec(tse), "key=%d" % key)
'
}
export -f mk show
