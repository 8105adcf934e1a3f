#!/usr/bin/env python3
"""kafka-groups.py FRAMES N P: every data record of FRAMES (read from
partition P of a topic of N partitions) has a key whose murmur2 group
is P: Kafka's default partitioner (Utils.murmur2 of the key's 8 bytes,
seed 0x9747b28c, & 0x7fffffff, mod N), an oracle independent of
librdkafka.  Exit 1 naming the first key that is elsewhere, or when
there is no data record."""
import struct
import sys


def murmur2(d):
    m, r, n = 0x5BD1E995, 24, len(d)
    h = (0x9747B28C ^ n) & 0xFFFFFFFF
    for i in range(0, n - n % 4, 4):
        k = struct.unpack_from("<I", d, i)[0]
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    t = n % 4
    i = n - t
    if t >= 3:
        h ^= d[i + 2] << 16
    if t >= 2:
        h ^= d[i + 1] << 8
    if t >= 1:
        h ^= d[i]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def main():
    path, n, p = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    b = open(path, "rb").read()
    o = seen = 0
    while o < len(b):
        ln, typ = struct.unpack_from("<IH", b, o)
        if typ < 0x100:
            key = struct.unpack_from("<Q", b, o + 24)[0]
            g = (murmur2(struct.pack("<Q", key)) & 0x7FFFFFFF) % n
            if g != p:
                sys.exit("key %d of partition %d has group %d" % (key, p, g))
            seen += 1
        o += 4 + ln
    if not seen:
        sys.exit("no data record in %s" % path)


main()
