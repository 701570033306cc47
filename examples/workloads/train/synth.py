"""Synthetic images for wisp's benchmark workloads, made with numpy only.

- a 5x7 bitmap font (digits and the few letters the sample plate uses)
- `render_digits`: digits drawn with random scale, shift, rotation, shear,
  stroke width, blur, contrast and noise (the classifier's data set)
- `write_png`: a minimal PNG writer (zlib + struct), so no imaging library
  is needed
"""

import struct
import zlib

import numpy as np

FONT = {
    "0": [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
    "1": ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
    "2": [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
    "3": ["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."],
    "4": ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
    "5": ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
    "6": ["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."],
    "7": ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
    "8": [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
    "9": [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."],
    "W": ["#...#", "#...#", "#...#", "#.#.#", "#.#.#", "##.##", "#...#"],
    "S": [".####", "#....", "#....", ".###.", "....#", "....#", "####."],
    "P": ["####.", "#...#", "#...#", "####.", "#....", "#....", "#...."],
    "K": ["#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"],
}


def glyph(ch):
    """The 7x5 bitmap of a character as a float32 array of 0/1."""
    return np.array([[c == "#" for c in row] for row in FONT[ch]], dtype=np.float32)


def dilate(img, r):
    """Binary dilation with a (2r+1)^2 square, by shifted maxima."""
    if r <= 0:
        return img
    h, w = img.shape
    p = np.pad(img, r)
    out = np.zeros_like(img)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out = np.maximum(out, p[dy : dy + h, dx : dx + w])
    return out


SUPER = 8  # glyph supersampling factor
CANVAS = 88  # side of the square canvas holding one supersampled glyph


def glyph_bank():
    """Supersampled digit glyphs at four stroke widths: shape (10, 4, CANVAS, CANVAS)."""
    bank = np.zeros((10, 4, CANVAS, CANVAS), dtype=np.float32)
    for d in range(10):
        g = np.kron(glyph(str(d)), np.ones((SUPER, SUPER), dtype=np.float32))
        # thin the strokes first so width 0 is a thin line, then grow them back
        g = 1.0 - dilate(1.0 - g, 1)
        for t in range(4):
            gt = dilate(g, t)
            h, w = gt.shape
            y0 = (CANVAS - h) // 2
            x0 = (CANVAS - w) // 2
            bank[d, t, y0 : y0 + h, x0 : x0 + w] = gt
    return bank


def bilinear_sample(src, idx, ys, xs):
    """Samples src[idx[n]] at float coordinates (ys, xs) of shape (n, H, W); 0 outside."""
    hh, ww = src.shape[1], src.shape[2]
    y0 = np.floor(ys).astype(np.int64)
    x0 = np.floor(xs).astype(np.int64)
    fy = (ys - y0).astype(np.float32)
    fx = (xs - x0).astype(np.float32)
    out = np.zeros(ys.shape, dtype=np.float32)
    ii = idx[:, None, None]
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            yy = y0 + dy
            xx = x0 + dx
            ok = (yy >= 0) & (yy < hh) & (xx >= 0) & (xx < ww)
            v = src[ii, np.clip(yy, 0, hh - 1), np.clip(xx, 0, ww - 1)]
            out += np.where(ok, v, 0.0) * wy * wx
    return out


def box_blur(imgs):
    """3x3 box blur of a batch (n, H, W), edges replicated."""
    p = np.pad(imgs, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = imgs.shape[1], imgs.shape[2]
    acc = np.zeros_like(imgs)
    for dy in range(3):
        for dx in range(3):
            acc += p[:, dy : dy + h, dx : dx + w]
    return acc / 9.0


def render_digits(labels, rng, size=28):
    """Renders digits `labels` as uint8 images (n, size, size), light digit on dark."""
    bank = glyph_bank().reshape(40, CANVAS, CANVAS)
    n = len(labels)
    thick = rng.integers(0, 4, n)
    idx = labels * 4 + thick
    # output pixel -> glyph canvas: inverse of scale * rotate * shear, plus shift
    height = rng.uniform(15.0, 22.0, n)  # glyph height in output pixels
    scale = height / (7.0 * SUPER)  # output pixels per canvas pixel
    sx = scale * rng.uniform(0.85, 1.2, n)
    sy = scale
    ang = np.deg2rad(rng.uniform(-12.0, 12.0, n))
    shear = rng.uniform(-0.25, 0.25, n)
    cx = (size - 1) / 2.0 + rng.uniform(-2.5, 2.5, n)
    cy = (size - 1) / 2.0 + rng.uniform(-2.5, 2.5, n)
    j, i = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    u = j[None] - cx[:, None, None]
    v = i[None] - cy[:, None, None]
    c = np.cos(ang)[:, None, None]
    s = np.sin(ang)[:, None, None]
    ur = c * u + s * v
    vr = -s * u + c * v
    ur = ur - shear[:, None, None] * vr
    xs = ur / sx[:, None, None] + (CANVAS - 1) / 2.0
    ys = vr / sy[:, None, None] + (CANVAS - 1) / 2.0
    img = bilinear_sample(bank, idx, ys, xs)
    blur = rng.random(n) < 0.5
    if blur.any():
        img[blur] = box_blur(img[blur])
    fg = rng.uniform(150.0, 255.0, n)[:, None, None]
    bg = rng.uniform(0.0, 60.0, n)[:, None, None]
    img = bg + (fg - bg) * img
    img += rng.normal(0.0, 1.0, img.shape).astype(np.float32) * rng.uniform(0.0, 18.0, n)[:, None, None]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_png(path, pixels):
    """Writes an 8-bit grayscale (H, W) or RGB (H, W, 3) array as a PNG file."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = pixels.shape[0], pixels.shape[1]
    color = 0 if pixels.ndim == 2 else 2
    bpp = 1 if pixels.ndim == 2 else 3
    rows = pixels.reshape(h, -1)
    # PNG filter type 1 (Sub): each byte minus the same byte of the pixel to its left
    sub = rows.copy()
    sub[:, bpp:] = rows[:, bpp:] - rows[:, :-bpp]
    raw = b"".join(b"\x01" + sub[y].tobytes() for y in range(h))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)
