#!/usr/bin/env python3
"""Draws the Previz Studio icon: writes previz-studio.svg and previz-studio.png (256x256) here.

    python3 packaging/icons/make-icon.py

One list of shapes (rounded rectangles, polygons, circles; a group may be rotated) is written
both as SVG and, rasterised with 4x4 supersampling, as an RGBA PNG, with the standard library
only, so the two files cannot drift apart. Run it again after changing a shape; the output is
byte-for-byte reproducible.
"""
import math
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZE = 256

NAVY = "#22303c"
INK = "#11181f"
PAPER = "#f3efe4"
TEAL = "#4fb3bf"
AMBER = "#f0a830"


def stripes(y0, y1, x_starts, lean):
    """Parallelogram stripes between y0 and y1; `lean` > 0 leans right going down."""
    out = []
    for x in x_starts:
        if lean > 0:
            pts = [(x, y0), (x + 16, y0), (x + 16 + lean, y1), (x + lean, y1)]
        else:
            pts = [(x - lean, y0), (x + 16 - lean, y0), (x + 16, y1), (x, y1)]
        out.append(("poly", pts, PAPER))
    return out


# The clapperboard: an open hinged stick over the slate, whose face is a storyboard page.
SHAPES = [
    ("rrect", (16, 16, 224, 224, 44), NAVY),
    # The slate.
    ("rrect", (44, 104, 168, 112, 12), PAPER),
    ("rrect", (44, 104, 168, 24, 6), INK),
    *stripes(104, 128, [56 + 32 * i for i in range(5)], -12),
    # The stick, opened about its hinge.
    ("group", ("rotate", -16, 48, 100), [
        ("rrect", (44, 78, 168, 22, 6), INK),
        *stripes(78, 100, [52 + 32 * i for i in range(5)], 12),
    ]),
    ("circle", (50, 102, 6), AMBER),
    # Two storyboard panels with their captions.
    ("rrect", (58, 140, 66, 46, 3), TEAL),
    ("circle", (78, 155, 7), AMBER),
    ("poly", [(58, 186), (82, 163), (97, 175), (109, 167), (124, 186)], INK),
    ("rrect", (132, 140, 66, 46, 3), TEAL),
    ("circle", (165, 157, 7), INK),
    ("poly", [(150, 186), (154, 171), (176, 171), (180, 186)], INK),
    ("rrect", (58, 194, 44, 5, 2.5), INK),
    ("rrect", (58, 203, 28, 5, 2.5), INK),
    ("rrect", (132, 194, 52, 5, 2.5), INK),
    ("rrect", (132, 203, 36, 5, 2.5), INK),
]


# ---- SVG ---------------------------------------------------------------------------------

def fmt(v):
    return f"{v:g}"


def svg_shape(shape, indent):
    kind, geom, fill = shape
    pad = "  " * indent
    if kind == "rrect":
        x, y, w, h, r = geom
        return f'{pad}<rect x="{fmt(x)}" y="{fmt(y)}" width="{fmt(w)}" height="{fmt(h)}" rx="{fmt(r)}" fill="{fill}"/>'
    if kind == "circle":
        cx, cy, r = geom
        return f'{pad}<circle cx="{fmt(cx)}" cy="{fmt(cy)}" r="{fmt(r)}" fill="{fill}"/>'
    if kind == "poly":
        pts = " ".join(f"{fmt(x)},{fmt(y)}" for x, y in geom)
        return f'{pad}<polygon points="{pts}" fill="{fill}"/>'
    if kind == "group":
        _, angle, cx, cy = geom
        inner = "\n".join(svg_shape(s, indent + 1) for s in fill)
        return f'{pad}<g transform="rotate({fmt(angle)} {fmt(cx)} {fmt(cy)})">\n{inner}\n{pad}</g>'
    raise ValueError(kind)


def write_svg(path):
    body = "\n".join(svg_shape(s, 1) for s in SHAPES)
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" viewBox="0 0 {SIZE} {SIZE}">\n'
        "  <title>Previz Studio</title>\n"
        f"{body}\n"
        "</svg>\n"
    )


# ---- Raster ------------------------------------------------------------------------------

def rrect_points(x, y, w, h, r, steps=24):
    pts = []
    corners = [(x + w - r, y + r, -90), (x + w - r, y + h - r, 0), (x + r, y + h - r, 90), (x + r, y + r, 180)]
    for cx, cy, start in corners:
        for i in range(steps + 1):
            a = math.radians(start + 90 * i / steps)
            pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return pts


def circle_points(cx, cy, r, steps=96):
    return [(cx + r * math.cos(2 * math.pi * i / steps), cy + r * math.sin(2 * math.pi * i / steps)) for i in range(steps)]


def flatten(shapes, transform=None):
    """(polygon, fill) pairs in drawing order, transforms applied."""
    for kind, geom, fill in shapes:
        if kind == "group":
            _, angle, cx, cy = geom
            a = math.radians(angle)
            c, s = math.cos(a), math.sin(a)

            def rot(p, cx=cx, cy=cy, c=c, s=s, outer=transform):
                dx, dy = p[0] - cx, p[1] - cy
                q = (cx + dx * c - dy * s, cy + dx * s + dy * c)
                return outer(q) if outer else q
            yield from flatten(fill, rot)
            continue
        if kind == "rrect":
            pts = rrect_points(*geom)
        elif kind == "circle":
            pts = circle_points(*geom)
        else:
            pts = list(geom)
        if transform:
            pts = [transform(p) for p in pts]
        yield pts, fill


def coverage(pts, sub=4):
    """Fraction of each pixel inside the polygon (even-odd), sub x sub samples per pixel."""
    cov = [[0.0] * SIZE for _ in range(SIZE)]
    edges = list(zip(pts, pts[1:] + pts[:1]))
    weight = 1.0 / (sub * sub)
    for sy in range(SIZE * sub):
        y = (sy + 0.5) / sub
        xs = []
        for (x0, y0), (x1, y1) in edges:
            if (y0 <= y < y1) or (y1 <= y < y0):
                xs.append(x0 + (y - y0) * (x1 - x0) / (y1 - y0))
        xs.sort()
        row = cov[sy // sub]
        for xa, xb in zip(xs[::2], xs[1::2]):
            # Sample columns whose centres fall in [xa, xb).
            first = max(0, math.ceil(xa * sub - 0.5))
            last = min(SIZE * sub, math.ceil(xb * sub - 0.5))
            for sx in range(first, last):
                row[sx // sub] += weight
    return cov


def rgb(hex_colour):
    return tuple(int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))


def rasterise():
    # Premultiplied RGBA, transparent to start.
    px = [[[0.0, 0.0, 0.0, 0.0] for _ in range(SIZE)] for _ in range(SIZE)]
    for pts, fill in flatten(SHAPES):
        r, g, b = rgb(fill)
        cov = coverage(pts)
        for y in range(SIZE):
            for x in range(SIZE):
                c = min(1.0, cov[y][x])
                if c == 0.0:
                    continue
                p = px[y][x]
                k = 1.0 - c
                p[0] = c * r + k * p[0]
                p[1] = c * g + k * p[1]
                p[2] = c * b + k * p[2]
                p[3] = c + k * p[3]
    rows = []
    for y in range(SIZE):
        row = bytearray()
        for p in px[y]:
            a = p[3]
            if a <= 0.0:
                row += b"\0\0\0\0"
            else:
                row += bytes(min(255, round(v / a * 255)) for v in p[:3]) + bytes([round(a * 255)])
        rows.append(bytes(row))
    return rows


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filtered(rows, bpp=4):
    """Each row with the PNG filter that minimises the sum of absolute differences."""
    out = bytearray()
    prev = bytes(len(rows[0]))
    for row in rows:
        candidates = []
        for ftype in range(5):
            f = bytearray(len(row))
            for i, v in enumerate(row):
                a = row[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                pred = (0, a, b, (a + b) // 2, paeth(a, b, c))[ftype]
                f[i] = (v - pred) & 0xFF
            score = sum(v if v < 128 else 256 - v for v in f)
            candidates.append((score, ftype, f))
        _, ftype, f = min(candidates, key=lambda t: (t[0], t[1]))
        out.append(ftype)
        out += f
        prev = row
    return bytes(out)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, rows):
    ihdr = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    data = zlib.compress(filtered(rows), 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


if __name__ == "__main__":
    write_svg(HERE / "previz-studio.svg")
    write_png(HERE / "previz-studio.png", rasterise())
    for name in ("previz-studio.svg", "previz-studio.png"):
        print(f"{HERE / name}: {(HERE / name).stat().st_size} bytes")
