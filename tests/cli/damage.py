#!/usr/bin/python3
"""damage.py - damaged archives and an independent count of the rows
before the damage, for tests/cli/0310-ingest-hardening.bats.

  damage.py pack KIND TEXT OUT [POS|-LEN]
      Pack the file TEXT as KIND (gz, zst, xz, tar.gz, zip, tar; gz0:
      gzip of stored blocks, the text as it is) into OUT,
      then damage it: POS (a fraction, 0.4) overwrites 3 bytes there with
      0xff; -LEN keeps only the first LEN bytes (truncated).
  damage.py count KIND OUT TEXT HEADER
      Decode OUT with python's zlib / lzma / libzstd (through ctypes), a
      byte at a time up to the error, so every byte the decoder can make
      comes out.  Prints "LO HI": HI the whole lines decoded, LO those of
      them that equal TEXT's lines (the rows before the damage; lines
      after the damage that still decode are garbage), less HEADER lines
      (1 for CSV).  For zip, LO also allows for fs-ingest handing the zip
      reader 512 bytes at a time: the rows decoded from the last 1024
      compressed bytes before the error may be lost.
"""
import ctypes
import io
import lzma
import struct
import sys
import tarfile
import zipfile
import zlib

SLICE = 512


def pack(kind, text, out, how):
    data = open(text, 'rb').read()
    name = text.rsplit('/', 1)[-1]
    if kind in ('gz', 'gz0', 'tar.gz', 'tar'):
        if kind.startswith('tar'):
            b = io.BytesIO()
            with tarfile.open(fileobj=b, mode='w', format=tarfile.USTAR_FORMAT) as t:
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            data = b.getvalue()
        if kind != 'tar':
            c = zlib.compressobj(0 if kind == 'gz0' else 6,
                                 zlib.DEFLATED, 31)
            data = c.compress(data) + c.flush()
    elif kind == 'xz':
        data = lzma.compress(data)
    elif kind == 'zst':
        data = zstd_compress(data)
    elif kind == 'zip':
        b = io.BytesIO()
        with zipfile.ZipFile(b, 'w', zipfile.ZIP_DEFLATED) as z:
            z.writestr(name, data)
        data = b.getvalue()
    data = bytearray(data)
    if how.startswith('-'):
        data = data[:int(how[1:])]
    else:
        p = int(len(data) * float(how))
        data[p:p + 3] = b'\xff\xff\xff'
    open(out, 'wb').write(data)


def zstd_lib():
    lib = ctypes.CDLL('libzstd.so.1')
    lib.ZSTD_createDStream.restype = ctypes.c_void_p
    lib.ZSTD_decompressStream.restype = ctypes.c_size_t
    lib.ZSTD_decompressStream.argtypes = [ctypes.c_void_p] + \
        [ctypes.c_void_p] * 2
    lib.ZSTD_isError.restype = ctypes.c_uint
    lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
    lib.ZSTD_compress.restype = ctypes.c_size_t
    lib.ZSTD_compressBound.restype = ctypes.c_size_t
    lib.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
    return lib


class ZBuf(ctypes.Structure):
    _fields_ = [('p', ctypes.c_void_p), ('size', ctypes.c_size_t),
                ('pos', ctypes.c_size_t)]


def zstd_compress(data):
    lib = zstd_lib()
    cap = lib.ZSTD_compressBound(len(data))
    out = ctypes.create_string_buffer(cap)
    n = lib.ZSTD_compress(out, ctypes.c_size_t(cap), data,
                          ctypes.c_size_t(len(data)), ctypes.c_int(3))
    assert not lib.ZSTD_isError(n)
    return out.raw[:n]


class ZstdDec:
    """libzstd's streaming decoder, driven here a byte at a time."""

    def __init__(self):
        self.lib = zstd_lib()
        self.ds = ctypes.c_void_p(self.lib.ZSTD_createDStream())
        self.obuf = ctypes.create_string_buffer(1 << 17)

    def decompress(self, b):
        src = ctypes.create_string_buffer(b, len(b))
        ib = ZBuf(ctypes.cast(src, ctypes.c_void_p), len(b), 0)
        got = b''
        while True:
            ob = ZBuf(ctypes.cast(self.obuf, ctypes.c_void_p),
                      len(self.obuf), 0)
            r = self.lib.ZSTD_decompressStream(self.ds, ctypes.byref(ob),
                                               ctypes.byref(ib))
            if self.lib.ZSTD_isError(r):
                raise ValueError('zstd error')
            got += self.obuf.raw[:ob.pos]
            if ib.pos == ib.size and ob.pos < ob.size:
                return got


def bytewise(dec, data, start=0, end=None):
    """Feed data[start:end] a byte at a time: the output, and for each
    output length the compressed bytes fed; stops at the error."""
    out = bytearray()
    fed = []
    end = len(data) if end is None else end
    for i in range(start, end):
        try:
            o = dec.decompress(data[i:i + 1])
        except (zlib.error, lzma.LZMAError, ValueError, EOFError):
            break
        out += o
        fed.append((i + 1 - start, len(out)))
    return bytes(out), fed


def zip_member(data):
    """Offset of the first member's data in a zip, from its local
    header."""
    sig, _, _, _, _, _, _, _, _, nlen, xlen = struct.unpack(
        '<IHHHHHIIIHH', data[:30])
    assert sig == 0x04034b50
    return 30 + nlen + xlen


def count(kind, path, text, header):
    data = open(path, 'rb').read()
    orig = open(text, 'rb').read().split(b'\n')
    fed = []
    if kind in ('gz', 'gz0', 'tar.gz'):
        out, fed = bytewise(zlib.decompressobj(31), data)
    elif kind == 'xz':
        out, fed = bytewise(lzma.LZMADecompressor(), data)
    elif kind == 'zst':
        out, fed = bytewise(ZstdDec(), data)
    elif kind == 'zip':
        start = zip_member(data)
        out, fed = bytewise(zlib.decompressobj(-15), data, start)
    else:
        out = data
    if kind.startswith('tar'):
        out = out[512:]	# one USTAR header, then the member's data
    lines = out.split(b'\n')[:-1]
    intact = 0
    while intact < len(lines) and lines[intact] == orig[intact]:
        intact += 1
    lo, hi = intact, len(lines)
    if kind == 'zip' and fed:
        lim = fed[-1][0] - 2 * SLICE
        made = max([m for f, m in fed if f <= lim] or [0])
        lo = min(lo, out[:made].count(b'\n'))
    print(max(lo - header, 0), max(hi - header, 0))


def main():
    if sys.argv[1] == 'pack':
        pack(*sys.argv[2:6])
    else:
        count(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))


main()
