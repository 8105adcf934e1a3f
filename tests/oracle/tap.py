"""Minimal TAP output for the python oracle checks.

Each oracle script calls check(name, ok, detail) per assertion and
done() at the end; tests/run counts the "ok"/"not ok" lines.
"""
import os
import sys

_n = 0
_failed = 0
TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("B", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(TOP, BUILD)
BIN = os.path.join(BUILD, "bin")
os.environ["PATH"] = BIN + os.pathsep + os.environ.get("PATH", "")


def check(name, ok, detail=""):
    global _n, _failed
    _n += 1
    if ok:
        print(f"ok {_n} - {name}")
    else:
        _failed += 1
        print(f"not ok {_n} - {name}")
        for line in str(detail).splitlines():
            print(f"# {line}")
    sys.stdout.flush()


def skip(name, why):
    global _n
    _n += 1
    print(f"ok {_n} - {name} # SKIP {why}")


def done():
    print(f"1..{_n}")
    sys.exit(1 if _failed else 0)
