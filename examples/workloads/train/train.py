#!/usr/bin/env python3
"""Trains the small CNN of wisp's `classify` workload, with numpy only.

Data: synthetic 28x28 digits (synth.render_digits) at fixed seeds.
Network (the same one workloads/src/classify.rs runs):

    input 1x28x28 (pixel / 255)
    conv3x3 16, zero padding 1 -> relu -> maxpool 2x2   16x14x14
    conv3x3 32, zero padding 1 -> relu -> maxpool 2x2   32x7x7
    flatten (channel, row, column) -> dense 128 -> relu
    dense 10 -> softmax

Writes ../model/digits-cnn.bin (format in write_weights) and
../data/digit-0.png .. digit-9.png, and prints the test accuracy.

    python3 train.py            # about a minute on two cores
"""

import argparse
import os
import struct
import time

import numpy as np

import synth

HERE = os.path.dirname(os.path.abspath(__file__))


def conv_forward(x, w, b):
    """3x3 convolution with zero padding 1. x (N,C,H,W), w (O,C,3,3) -> (N,O,H,W)."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * wd, c * 9)
    out = cols @ w.reshape(w.shape[0], -1).T + b
    return out.reshape(n, h, wd, -1).transpose(0, 3, 1, 2), cols


def conv_backward(dout, cols, x_shape, w, need_dx=True):
    n, c, h, wd = x_shape
    o = w.shape[0]
    d = dout.transpose(0, 2, 3, 1).reshape(-1, o)
    dw = (d.T @ cols).reshape(w.shape)
    db = d.sum(0)
    if not need_dx:
        return None, dw, db
    dcols = (d @ w.reshape(o, -1)).reshape(n, h, wd, c, 3, 3)
    dxp = np.zeros((n, c, h + 2, wd + 2), np.float32)
    for ki in range(3):
        for kj in range(3):
            dxp[:, :, ki : ki + h, kj : kj + wd] += dcols[:, :, :, :, ki, kj].transpose(0, 3, 1, 2)
    return dxp[:, :, 1:-1, 1:-1], dw, db


def pool_forward(x):
    n, c, h, w = x.shape
    r = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    a = r.argmax(-1)
    return np.take_along_axis(r, a[..., None], -1)[..., 0], a


def pool_backward(dout, a, shape):
    n, c, h, w = shape
    d = np.zeros((n, c, h // 2, w // 2, 4), np.float32)
    np.put_along_axis(d, a[..., None], dout[..., None], -1)
    return d.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(shape)


def init_params(rng):
    def he(shape, fan_in):
        return (rng.normal(0.0, 1.0, shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    return {
        "c1w": he((16, 1, 3, 3), 9),
        "c1b": np.zeros(16, np.float32),
        "c2w": he((32, 16, 3, 3), 144),
        "c2b": np.zeros(32, np.float32),
        "f1w": he((1568, 128), 1568),  # (inputs, outputs)
        "f1b": np.zeros(128, np.float32),
        "f2w": he((128, 10), 128),
        "f2b": np.zeros(10, np.float32),
    }


def forward(p, x, train=False):
    c1, cols1 = conv_forward(x, p["c1w"], p["c1b"])
    r1 = np.maximum(c1, 0.0)
    p1, a1 = pool_forward(r1)
    c2, cols2 = conv_forward(p1, p["c2w"], p["c2b"])
    r2 = np.maximum(c2, 0.0)
    p2, a2 = pool_forward(r2)
    f = p2.reshape(len(x), -1)
    h = np.maximum(f @ p["f1w"] + p["f1b"], 0.0)
    logits = h @ p["f2w"] + p["f2b"]
    if not train:
        return logits
    return logits, (x, c1, cols1, r1, a1, p1, c2, cols2, r2, a2, f, h)


def backward(p, cache, dlogits):
    x, c1, cols1, r1, a1, p1, c2, cols2, r2, a2, f, h = cache
    g = {}
    g["f2w"] = h.T @ dlogits
    g["f2b"] = dlogits.sum(0)
    dh = (dlogits @ p["f2w"].T) * (h > 0)
    g["f1w"] = f.T @ dh
    g["f1b"] = dh.sum(0)
    df = (dh @ p["f1w"].T).reshape(r2.shape[0], 32, 7, 7)
    dr2 = pool_backward(df, a2, r2.shape)
    dc2 = dr2 * (c2 > 0)
    dp1, g["c2w"], g["c2b"] = conv_backward(dc2, cols2, p1.shape, p["c2w"])
    dr1 = pool_backward(dp1, a1, r1.shape)
    dc1 = dr1 * (c1 > 0)
    _, g["c1w"], g["c1b"] = conv_backward(dc1, cols1, x.shape, p["c1w"], need_dx=False)
    return g


def softmax_xent(logits, labels):
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    prob = e / e.sum(1, keepdims=True)
    loss = -np.log(prob[np.arange(len(labels)), labels] + 1e-12).mean()
    d = prob
    d[np.arange(len(labels)), labels] -= 1.0
    return loss, d / len(labels)


def predict(p, x, batch=1000):
    return np.concatenate([forward(p, x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


def to_input(imgs):
    return (imgs.astype(np.float32) / 255.0)[:, None]


ORDER = ["c1w", "c1b", "c2w", "c2b", "f1w", "f1b", "f2w", "f2b"]


def write_weights(path, p):
    """Format: b"WISPCNN1", u32 tensor count, then per tensor (in ORDER):
    u32 rank, u32 dims, float32 values (row-major); all little-endian."""
    with open(path, "wb") as fh:
        fh.write(b"WISPCNN1")
        fh.write(struct.pack("<I", len(ORDER)))
        for name in ORDER:
            t = np.ascontiguousarray(p[name], dtype="<f4")
            fh.write(struct.pack("<I", t.ndim))
            fh.write(struct.pack("<%dI" % t.ndim, *t.shape))
            fh.write(t.tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=30000, help="training images")
    ap.add_argument("--test", type=int, default=5000, help="test images")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "model", "digits-cnn.bin"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "data"))
    args = ap.parse_args()

    t0 = time.time()
    rng = np.random.default_rng(args.seed)
    y_train = rng.integers(0, 10, args.train)
    x_train = synth.render_digits(y_train, rng)
    y_test = np.random.default_rng(args.seed + 1).integers(0, 10, args.test)
    x_test = synth.render_digits(y_test, np.random.default_rng(args.seed + 2))
    print(f"data: {args.train} train / {args.test} test images in {time.time() - t0:.1f}s")

    p = init_params(rng)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(t) for k, t in p.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    step = 0
    xin = to_input(x_train)
    n_batches = args.train // args.batch
    total_steps = args.epochs * n_batches
    for epoch in range(args.epochs):
        order = rng.permutation(args.train)
        losses = []
        for bi in range(n_batches):
            sel = order[bi * args.batch : (bi + 1) * args.batch]
            logits, cache = forward(p, xin[sel], train=True)
            loss, dlogits = softmax_xent(logits, y_train[sel])
            losses.append(loss)
            g = backward(p, cache, dlogits)
            step += 1
            lr = args.lr * 0.5 * (1.0 + np.cos(np.pi * step / total_steps))  # cosine decay
            for k in p:
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                v[k] = b2 * v[k] + (1 - b2) * g[k] * g[k]
                mh = m[k] / (1 - b1**step)
                vh = v[k] / (1 - b2**step)
                p[k] = (p[k] - lr * mh / (np.sqrt(vh) + eps)).astype(np.float32)
        acc = (predict(p, to_input(x_test)) == y_test).mean()
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}  test accuracy {acc * 100:.2f}%  ({time.time() - t0:.0f}s)")

    acc = (predict(p, to_input(x_test)) == y_test).mean()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    write_weights(args.out, p)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")

    # One sample image per class from an unseen seed, for the workload's inputs.
    srng = np.random.default_rng(args.seed + 3)
    labels = np.arange(10)
    samples = synth.render_digits(labels, srng)
    pred = predict(p, to_input(samples))
    os.makedirs(args.data, exist_ok=True)
    for d in range(10):
        synth.write_png(os.path.join(args.data, f"digit-{d}.png"), samples[d])
    print(f"samples: digit-0.png .. digit-9.png, predicted {pred.tolist()}")
    print(f"final test accuracy: {acc * 100:.2f}% on {args.test} images; {time.time() - t0:.0f}s in all")


if __name__ == "__main__":
    main()
