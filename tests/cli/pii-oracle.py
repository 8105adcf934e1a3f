#!/usr/bin/python3
# pii-oracle.py - an oracle of PII encryption (libcommon/pii.c), written
# from fs-record(5) "Encrypted records" with python3-cryptography's
# AESGCM, independent of the C code:
#
#   pii-oracle.py subjects PLAIN       the subjects of PLAIN's TXN and
#                                      JSON records, one a line
#   pii-oracle.py json N SEED          N JSON records (keys 1..5) on stdout
#   pii-oracle.py check PLAIN SEALED KEYS OPENED
#       SEALED is PLAIN sealed; KEYS has lines "SUBJECT KEY_ID KEY" (hex
#       key id and key, from pii-tool key) for the subjects whose key
#       exists: each of their records is decrypted here and must give
#       PLAIN's back; subjects not in KEYS are erased: their records in
#       OPENED must be the redacted form.  Other records are unchanged
#       in SEALED and OPENED.  Prints "ok: ..." or exits 1 saying what.
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HDR = struct.Struct("<IHBBqqQQ")
TXN, JSON = 5, 13
ENCRYPTED, ERASED, CONTROL = 0x04, 0x80, 0x01
# PII fields by type: (body offset, size); JSON: the whole body
PII = {TXN: [(0, 8), (16, 8)]}


def frames(path):
    d = open(path, "rb").read()
    o = 0
    out = []
    while o < len(d):
        (n,) = struct.unpack_from("<I", d, o)
        assert (n + 4) % 8 == 0 and n >= 36, "bad frame at %d" % o
        out.append(d[o:o + 4 + n])
        o += 4 + n
    return out


def is_pii(f):
    _, ty, _, fl, _, _, _, _ = HDR.unpack_from(f)
    return ty in (TXN, JSON) and not fl & CONTROL


def subject(f):
    _, ty, _, _, _, _, key, _ = HDR.unpack_from(f)
    if ty == TXN:
        return struct.unpack_from("<Q", f, 40)[0]
    return key


def pad8(n):
    return (n + 7) & ~7


def cleared(f):
    """The plain record's body with its PII zero (fs-record(5))."""
    ty = HDR.unpack_from(f)[1]
    body = bytearray(f[40:])
    if ty == JSON:
        return bytes(8)
    for off, size in PII[ty]:
        body[off:off + size] = bytes(size)
    return bytes(body)


def plaintext(f):
    ty = HDR.unpack_from(f)[1]
    pt = f[24:32]
    if ty == JSON:
        return pt + f[40:]
    for off, size in PII[ty]:
        pt += f[40 + off:40 + off + size]
    return pt


def fail(i, what):
    sys.exit("pii-oracle: record %d: %s" % (i + 1, what))


def check(plain, sealed, keys, opened):
    p, s, o = frames(plain), frames(sealed), frames(opened)
    if not len(p) == len(s) == len(o):
        sys.exit("pii-oracle: %d plain, %d sealed, %d opened records"
                 % (len(p), len(s), len(o)))
    ks = {}
    for line in open(keys):
        subj, kid, key = line.split()
        ks[int(subj)] = (int(kid, 16), bytes.fromhex(key))
    dec = era = 0
    for i, (pf, sf, of) in enumerate(zip(p, s, o)):
        if not is_pii(pf):
            if sf != pf or of != pf:
                fail(i, "a record without PII was changed")
            continue
        n, ty, ver, fl, ts, ing, key, seq = HDR.unpack_from(sf)
        pn, pty, pver, pfl, pts, ping, pkey, pseq = HDR.unpack_from(pf)
        if (ty, ver, ts, ing, seq) != (pty, pver, pts, ping, pseq):
            fail(i, "sealed header fields differ")
        if fl != pfl | ENCRYPTED:
            fail(i, "flags %#x, not %#x" % (fl, pfl | ENCRYPTED))
        foot = sf[-40:]
        kid, = struct.unpack_from("<Q", foot)
        nonce = foot[8:20]
        plen, = struct.unpack_from("<I", foot, 20)
        tag = foot[24:]
        pt = plaintext(pf)
        if plen != len(pt) or kid != key:
            fail(i, "trailer: plen %d (want %d), key id %x, header %x"
                 % (plen, len(pt), kid, key))
        clen = len(sf) - 40 - 40 - pad8(plen)
        body = sf[40:40 + clen]
        if body != cleared(pf):
            fail(i, "the body is not the plain one with PII zero")
        ct = sf[40 + clen:40 + clen + plen]
        if sf[40 + clen + plen:-40] != bytes(pad8(plen) - plen):
            fail(i, "ciphertext padding is not zero")
        subj = subject(pf)
        if subj in ks:
            if ks[subj][0] != kid:
                fail(i, "key id %x is not subject %d's %x"
                     % (kid, subj, ks[subj][0]))
            aad = sf[:40 + clen] + foot[:24]
            try:
                got = AESGCM(ks[subj][1]).decrypt(nonce, ct + tag, aad)
            except InvalidTag:
                fail(i, "AES-GCM tag does not verify")
            if got != pt:
                fail(i, "decrypted PII is not the plain record's")
            if of != pf:
                fail(i, "opened record is not the plain one")
            dec += 1
        else:
            want = HDR.pack(36 + len(body), ty, ver,
                            pfl | ERASED, ts, ing, 0, seq) + body
            if of != want:
                fail(i, "opened record of erased subject %d is not "
                     "the redacted one" % subj)
            era += 1
    print("ok: %d records, %d decrypted, %d erased" % (len(p), dec, era))


def json_records(n, seed):
    out = sys.stdout.buffer
    for i in range(n):
        key = 1 + (i * 7 + seed) % 5
        text = ('{"user":"user-%d","ip":"10.0.%d.%d","i":%d}'
                % (key, seed, i % 250, i)).encode()
        body = struct.pack("<I", len(text)) + text
        body += bytes(-len(body) % 8)
        ts = 1764000000000000000 + i * 1000
        out.write(HDR.pack(36 + len(body), JSON, 1, 0, ts, ts, key, i + 1)
                  + body)


def main():
    cmd = sys.argv[1]
    if cmd == "subjects":
        seen = sorted({subject(f) for f in frames(sys.argv[2]) if is_pii(f)})
        print("\n".join(str(x) for x in seen))
    elif cmd == "json":
        json_records(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "check":
        check(*sys.argv[2:6])
    else:
        sys.exit("pii-oracle: unknown command " + cmd)


main()
