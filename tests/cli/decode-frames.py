#!/usr/bin/python3
# decode-frames.py - frames on stdin, one line each on stdout:
# "TYPE ts= key= seq= ing= field=value ...", decoded with the layouts
# of fs.h (an oracle independent of fs-cat).  ing=ok when ts_ingest lies
# within the last 10 minutes.  Used by the fs-ingest bats files as $DEC.
import struct, sys, time, math
L = {1: ("trade", "<12sc3xqqQ8sQQ",
         "symbol side price qty trade_id venue account order_id"),
     2: ("quote", "<12s4xqqqq", "symbol bid ask bid_size ask_size"),
     3: ("book", "<12scc2xQqq", "symbol action side order_id price qty"),
     6: ("position", "<12s4xQqq4s4x", "symbol portfolio qty price currency"),
     7: ("bar", "<12s4xqqqqqqqqQ", "symbol window_start window_end open "
         "high low close volume vwap count"),
     4: ("order", "<12scc2xQQqq",
         "symbol side ord_type order_id account price qty"),
     5: ("txn", "<QQQqHBB4s4s4x",
         "account merchant device amount mcc channel label country currency")}
d = sys.stdin.buffer.read()
o = 0
now = time.time_ns()
while o < len(d):
    ln, ty, ver, fl, ts, ing, key, seq = struct.unpack_from("<IHBBqqQQ", d, o)
    assert (ln + 4) % 8 == 0 and ver == 1, "bad frame"
    b = d[o + 40:o + 4 + ln]
    ok = "ok" if now - 600 * 10**9 < ing <= now else str(ing)
    out = ["ts=%d" % ts, "key=%d" % key, "seq=%d" % seq, "ing=" + ok]
    if ty in L:
        name, fmt, names = L[ty]
        for n, v in zip(names.split(), struct.unpack_from(fmt, b)):
            if isinstance(v, bytes):
                v = v.rstrip(b"\0").decode().replace("\r", "\\r")
                v = v.replace("\n", "\\n")
            out.append("%s=%s" % (n, v))
    elif ty == 8:
        name = "features"
        nc, sid = struct.unpack_from("<II", b)
        fs = struct.unpack_from("<%df" % nc, b, 8)
        out.append("sid=%d" % sid)
        out.append("f=" + ",".join("nan" if math.isnan(x) else repr(x)
                                   for x in fs))
    elif ty == 0x102:
        name = "schema"
        ft, nc, sid = struct.unpack_from("<HHI", b)
        kinds = list(b[8:8 + nc])
        names = b[8 + nc:].split(b"\0")[:nc]
        out.append("flags=%d for=%d sid=%d kinds=%s names=%s" % (fl, ft, sid,
                   kinds, b",".join(names).decode()))
    elif ty == 13:
        name = "json"
        n, = struct.unpack_from("<I", b)
        out.append("text=" + b[4:4 + n].decode())
    else:
        name = "type%d" % ty
    print(name, " ".join(out))
    o += 4 + ln
