#!/usr/bin/env python3
"""Writes a W x H PNG of noise (or one colour with --flat) to stdout: benchmark fixtures
without an imaging library.  usage: png.py W H [seed] [--flat]"""
import random, struct, sys, zlib

w, h = int(sys.argv[1]), int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3].isdigit() else 1
flat = "--flat" in sys.argv
rng = random.Random(seed)
if flat:
    row = b"\x00" + bytes([seed % 256, 80, 160]) * w
    raw = row * h
else:
    raw = b"".join(b"\x00" + rng.randbytes(3 * w) for _ in range(h))

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

sys.stdout.buffer.write(
    b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(raw, 6))
    + chunk(b"IEND", b"")
)
