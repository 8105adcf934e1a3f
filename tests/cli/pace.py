#!/usr/bin/python3
"""pace.py RATE: copy stdin to stdout at RATE bytes per second.

A slow link between two stages of a pipeline, for the tests and
benchmarks that need a run to last (a fault injected mid-run): the
bytes pass unchanged, in chunks of at most 16 KiB, each written once
the rate allows it.  Exits 0 at the end of stdin, 1 when stdout closes.
"""
import sys
import time


def main():
    rate = float(sys.argv[1])
    src, dst = sys.stdin.buffer, sys.stdout.buffer
    t0, sent = time.monotonic(), 0
    while True:
        b = src.read1(16384)
        if not b:
            return 0
        try:
            dst.write(b)
            dst.flush()
        except BrokenPipeError:
            return 1
        sent += len(b)
        d = t0 + sent / rate - time.monotonic()
        if d > 0:
            time.sleep(d)


sys.exit(main())
