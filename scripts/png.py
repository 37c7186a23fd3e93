#!/usr/bin/env python3
"""Writes a W x H PNG to stdout: benchmark fixtures without an imaging library. The default is
photo-like (colour gradients with grain); --noise is pure noise (the worst case for codecs),
--flat one colour.  usage: png.py W H [seed] [--noise|--flat]"""
import random, struct, sys, zlib

w, h = int(sys.argv[1]), int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3].isdigit() else 1
rng = random.Random(seed)
if "--flat" in sys.argv:
    raw = (b"\x00" + bytes([seed % 256, 80, 160]) * w) * h
elif "--noise" in sys.argv:
    raw = b"".join(b"\x00" + rng.randbytes(3 * w) for _ in range(h))
else:
    grain = rng.randbytes(4096)
    rows = []
    for y in range(h):
        row = bytearray(b"\x00")
        for x in range(w):
            g = grain[(x * 7 + y * 13) % 4096] % 17 - 8
            row += bytes((
                min(255, max(0, x * 255 // w + g)),
                min(255, max(0, y * 255 // h + g)),
                min(255, max(0, (x + y + seed * 40) % 256 + g)),
            ))
        rows.append(bytes(row))
    raw = b"".join(rows)

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

sys.stdout.buffer.write(
    b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(raw, 6))
    + chunk(b"IEND", b"")
)
