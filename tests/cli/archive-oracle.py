#!/usr/bin/python3
"""archive-oracle.py - an independent reading of fs-archive segments and
proofs for tests/cli/1300-archive.bats, written from fs-archive(1) FORMAT
and RFC 6962 / RFC 9162 with hashlib; no finstream code.

  archive-oracle.py check DIR [INPUT]
      Decompress each seg-*.tar.zst with the zstd program, read the tar
      with tarfile; check member order, the RFC 6962 root of the frames
      against manifest.json, the chain (prev_manifest_sha256), counts,
      time ranges and the names.  With INPUT, the frames of all segments
      in order must be INPUT byte for byte.  Prints "SEGMENTS RECORDS
      ROOT-OF-LAST".
  archive-oracle.py proof FILE ROOT
      Verify an inclusion or consistency proof (fs-archive prove) against
      ROOT with RFC 9162 2.1.3.2 / 2.1.4.2; exit 0 valid, 1 invalid.  An
      inclusion proof's ROOT is its segment's root or the archive's head
      (then the manifest's path to the head is checked too).
"""
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile


def leaf(d):
    return hashlib.sha256(b"\0" + d).digest()


def node(a, b):
    return hashlib.sha256(b"\1" + a + b).digest()


def mth(leaves):
    """RFC 6962 2.1 MTH over a list of leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def frames(b):
    out, off = [], 0
    while off < len(b):
        n = int.from_bytes(b[off:off + 4], "little") + 4
        assert off + n <= len(b), "torn frame at %d" % off
        out.append(b[off:off + n])
        off += n
    return out


def check(d, inp=None):
    names = sorted(f for f in os.listdir(d) if f.startswith("seg-"))
    prev = bytes(32)
    allb = io.BytesIO()
    total = 0
    root = b""
    for i, f in enumerate(names):
        m = re.fullmatch(r"seg-(\d{8,})-(n?\d+)-(n?\d+)\.tar\.zst", f)
        assert m, f
        raw = subprocess.run(["zstd", "-dc", os.path.join(d, f)],
                             check=True, capture_output=True).stdout
        t = tarfile.open(fileobj=io.BytesIO(raw))
        mem = t.getmembers()
        assert [x.name for x in mem] == ["manifest.json", "index.bin",
                                         "frames.fsr"], f
        man_b = t.extractfile(mem[0]).read()
        man = json.loads(man_b)
        idx = t.extractfile(mem[1]).read()
        fb = t.extractfile(mem[2]).read()
        fr = frames(fb)
        assert int(man["segment"]) == int(m.group(1)) == i + 1, f
        assert int(man["records"]) == len(fr), f
        assert int(man["frames_bytes"]) == len(fb), f
        assert bytes.fromhex(man["prev_manifest_sha256"]) == prev, f
        assert hashlib.sha256(idx).hexdigest() == man["index_sha256"], f
        assert len(idx) == 80 * ((len(fr) + 1023) // 1024), f
        root = mth([leaf(x) for x in fr])
        assert root.hex() == man["root"], f
        ts = [int.from_bytes(x[8:16], "little", signed=True) for x in fr]

        def name_ts(s):
            return -int(s[1:]) if s.startswith("n") else int(s)
        assert min(ts) == int(man["min_ts_event"]) == name_ts(m.group(2))
        assert max(ts) == int(man["max_ts_event"]) == name_ts(m.group(3))
        prev = hashlib.sha256(man_b).digest()
        allb.write(fb)
        total += len(fr)
    if inp is not None:
        with open(inp, "rb") as fh:
            assert fh.read() == allb.getvalue(), "frames differ from input"
    print(len(names), total, root.hex())


def verify_inclusion(m, n, lh, path, root):
    if m >= n:
        return False
    fn, sn, r = m, n - 1, lh
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m, n, r1, r2, path):
    if m > n:
        return False
    if m == n:
        return not path and r1 == r2
    if m == 0:
        return not path
    if not path:
        return False
    if m & (m - 1) == 0:
        path = [r1] + path
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == r1 and sr == r2


def proof(f, root):
    p = json.load(open(f))
    root = bytes.fromhex(root)
    path = [bytes.fromhex(x) for x in p["path"]]
    if p["type"] == "inclusion":
        lh = leaf(bytes.fromhex(p["frame"]))
        seg_root = bytes.fromhex(p["root"])
        ok = (lh.hex() == p["leaf_hash"] and
              verify_inclusion(p["leaf_index"], p["tree_size"], lh, path,
                               seg_root))
        if ok and root != seg_root:
            # Against the archive's head: the manifest holds the root
            # and is leaf segment - 1 of the head's tree.
            man = p["manifest"].encode()
            ok = (json.loads(man)["root"] == p["root"] and
                  verify_inclusion(int(json.loads(man)["segment"]) - 1,
                                   p["head_size"], leaf(man),
                                   [bytes.fromhex(x)
                                    for x in p["head_path"]], root))
    else:
        ok = verify_consistency(p["first_size"], p["second_size"],
                                bytes.fromhex(p["first_root"]), root, path)
    print("valid" if ok else "invalid")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    if sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    else:
        proof(sys.argv[2], sys.argv[3])
