"""Check that PNG files exist, decode, and are not blank; standard library only.

Usage: `python3 packaging/check_png.py IMAGE.png [...]`. For each image prints its size and the
spread of its pixel values; exits 1 when one is missing, undecodable, or (nearly) one flat colour.
Reads 8-bit, non-interlaced greyscale, RGB and RGBA PNGs (what Studio writes).
"""

from __future__ import annotations

import statistics
import struct
import sys
import zlib
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
MIN_SPREAD = 2.0


def _chunks(data: bytes):
    pos = len(SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        yield kind, data[pos + 8 : pos + 8 + length]
        pos += 12 + length


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> bytearray:
    stride = width * bpp
    out = bytearray()
    previous = bytearray(stride)
    pos = 0
    for _ in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            add = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            line[i] = (line[i] + add) & 0xFF
        out += line
        previous = line
    return out


def pixels(path: Path) -> tuple[int, int, int, bytearray]:
    """Width, height, channels and the raw 8-bit samples of the PNG at `path`."""
    data = path.read_bytes()
    if not data.startswith(SIGNATURE):
        raise ValueError("it is not a PNG file")
    chunks = list(_chunks(data))
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or colour not in CHANNELS or interlace:
        raise ValueError(f"bit depth {depth}, colour type {colour}, interlace {interlace}")
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    channels = CHANNELS[colour]
    return width, height, channels, _unfilter(raw, width, height, channels)


def check(path: Path) -> str | None:
    """None when `path` is a decodable PNG with visible content, else what is wrong."""
    if not path.is_file():
        return f"{path}: missing"
    try:
        width, height, channels, samples = pixels(path)
    except (ValueError, struct.error, zlib.error, IndexError) as exc:
        return f"{path}: not a readable PNG ({exc})"
    colour = channels if channels in (1, 3) else channels - 1
    spread = max(statistics.pstdev(samples[c::channels]) for c in range(colour))
    print(f"{path}: {width}x{height}, {channels} channels, largest channel spread {spread:.1f}")
    if spread < MIN_SPREAD:
        return f"{path}: blank (every pixel nearly the same colour)"
    return None


def main() -> int:
    problems = [p for p in (check(Path(a)) for a in sys.argv[1:]) if p]
    for problem in problems:
        print(f"check_png: {problem}", file=sys.stderr)
    return 1 if problems or len(sys.argv) < 2 else 0


if __name__ == "__main__":
    sys.exit(main())
