#!/usr/bin/env python3
"""Generates the sample inputs of the plate and resize workloads (numpy only).

    ../data/plate.png   200x60 RGB: a license-plate-like image, dark characters
                        "WSP 4821" on a light plate with a border, two screw
                        holes, specks and sensor noise
    ../data/photo.png   256x256 RGB: a photo-like scene (sky, sun, hills,
                        water, soft texture and noise)

The digit samples (../data/digit-N.png) are written by train.py.
"""

import os

import numpy as np

import synth

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def smooth(img):
    """3x3 box blur of an (H, W) or (H, W, C) float image, edges replicated."""
    pad = ((1, 1), (1, 1)) + ((0, 0),) * (img.ndim - 2)
    p = np.pad(img, pad, mode="edge")
    h, w = img.shape[0], img.shape[1]
    return sum(p[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0


def plate(rng):
    h, w = 60, 200
    y = np.arange(h, dtype=np.float32)[:, None, None]
    base = np.array([236.0, 232.0, 214.0], np.float32)
    img = np.broadcast_to(base - 0.35 * y, (h, w, 3)).copy()
    ink = np.array([24.0, 26.0, 40.0], np.float32)
    # border, 2 px wide, inset 2 px
    mask = np.zeros((h, w), bool)
    mask[2:4, 2 : w - 2] = True
    mask[h - 4 : h - 2, 2 : w - 2] = True
    mask[2 : h - 2, 2:4] = True
    mask[2 : h - 2, w - 4 : w - 2] = True
    # characters, 5x7 font at 4x, advance 24 px, a space of 12 px
    text = "WSP 4821"
    scale, adv, space = 4, 24, 12
    total = sum(space if c == " " else adv for c in text) - 4
    x = (w - total) // 2
    top = (h - 7 * scale) // 2
    for c in text:
        if c == " ":
            x += space
            continue
        g = np.kron(synth.glyph(c), np.ones((scale, scale), np.float32)) > 0.5
        mask[top : top + 7 * scale, x : x + 5 * scale] |= g
        x += adv
    # screw holes and specks: small dark blobs the character filter must reject
    yy, xx = np.mgrid[0:h, 0:w]
    for cx in (14, w - 15):
        mask |= (yy - 9) ** 2 + (xx - cx) ** 2 <= 6
    for _ in range(6):
        sy, sx = rng.integers(6, h - 8), rng.integers(6, w - 8)
        if not mask[sy - 3 : sy + 5, sx - 3 : sx + 5].any():
            mask[sy : sy + 2, sx : sx + 2] = True
    cover = smooth(mask.astype(np.float32))[:, :, None]
    img = img * (1.0 - cover) + ink * cover
    img += rng.normal(0.0, 5.0, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def photo(rng):
    n = 256
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    t = yy / (n - 1)
    sky = np.stack([90 + 80 * t, 140 + 70 * t, 230 - 20 * t], -1)
    img = sky.copy()
    # sun with a soft halo
    d = np.sqrt((xx - 190) ** 2 + (yy - 60) ** 2)
    halo = np.clip(1.0 - d / 70.0, 0, 1)[..., None] ** 2
    img = img * (1 - halo) + np.array([255, 240, 190]) * halo
    img[d < 22] = [255, 250, 220]
    # two rows of hills
    far = 150 + 12 * np.sin(xx / 23.0) + 8 * np.sin(xx / 9.0 + 1.0)
    near = 178 + 18 * np.sin(xx / 41.0 + 2.0) + 5 * np.sin(xx / 7.0)
    img[yy > far] = (np.array([70, 110, 90]) + 0 * yy[..., None])[yy > far]
    grass = np.stack([60 + 40 * np.sin(xx / 5.0) * np.sin(yy / 7.0), 130 + 25 * np.sin(xx / 11.0 + yy / 13.0), 50 + 0 * xx], -1)
    img[yy > near] = grass[yy > near]
    # a lake with ripples
    lake = ((xx - 80) / 70.0) ** 2 + ((yy - 225) / 18.0) ** 2 < 1.0
    water = np.stack([40 + 20 * np.sin(yy * 1.3), 90 + 25 * np.sin(yy * 1.3 + xx / 17.0), 170 + 0 * xx], -1)
    img[lake] = water[lake]
    # a house: wall, roof, window
    img[196:226, 170:215] = [200, 170, 140]
    for r in range(16):
        img[180 + r, 167 + 16 - r : 218 - 16 + r] = [150, 40, 35]
    img[204:216, 180:192] = [60, 80, 120]
    img = smooth(img)
    img += rng.normal(0.0, 1.5, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def main():
    rng = np.random.default_rng(7)
    os.makedirs(DATA, exist_ok=True)
    for name, pixels in (("plate.png", plate(rng)), ("photo.png", photo(rng))):
        path = os.path.join(DATA, name)
        synth.write_png(path, pixels)
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
