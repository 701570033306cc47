//! Inference of the digit classifier trained by `train/train.py`:
//!
//! ```text
//! 1x28x28 → conv3x3(16, pad 1) → relu → maxpool 2 → 16x14x14
//!         → conv3x3(32, pad 1) → relu → maxpool 2 → 32x7x7
//!         → dense 1568→128 → relu → dense 128→10 → softmax
//! ```
//!
//! Planes are stored with two extra zero columns per row (and a zero row above
//! and below), so a 3x3 convolution is nine shifted multiply-adds over one
//! long contiguous slice per plane: no per-pixel bounds handling, and loops
//! the compiler vectorizes on x86_64 (SSE2) and wasm (simd128) alike. Every
//! sum is taken in one fixed order, so the scores are bit-identical on both.

use crate::image::Image;
use crate::resize::{Filter, resize};
use std::fmt::Write as _;
use std::sync::OnceLock;

/// Side of the network's square input.
pub const SIDE: usize = 28;
/// Number of classes (the digits 0-9).
pub const CLASSES: usize = 10;

const C1: usize = 16;
const C2: usize = 32;
const HIDDEN: usize = 128;
const FLAT: usize = C2 * 7 * 7;

/// The trained weights (format: see `train/train.py`, `write_weights`).
static WEIGHTS: &[u8] = include_bytes!("../model/digits-cnn.bin");

/// The network's parameters. Convolution weights are kept in
/// [`block_kernels`] order, dense weights `[in][out]`.
pub struct Net {
    c1w: Vec<f32>,
    c1b: Vec<f32>,
    c2w: Vec<f32>,
    c2b: Vec<f32>,
    f1w: Vec<f32>,
    f1b: Vec<f32>,
    f2w: Vec<f32>,
    f2b: Vec<f32>,
}

impl Net {
    /// Parses a weights file, checking every tensor's shape.
    pub fn parse(bytes: &[u8]) -> Result<Net, String> {
        let mut rest = bytes.strip_prefix(b"WISPCNN1").ok_or("bad weights magic")?;
        let u32_le = |rest: &mut &[u8]| -> Result<u32, String> {
            let (head, tail) = rest.split_first_chunk::<4>().ok_or("truncated weights")?;
            *rest = tail;
            Ok(u32::from_le_bytes(*head))
        };
        let count = u32_le(&mut rest)?;
        let shapes: [&[u32]; 8] = [
            &[C1 as u32, 1, 3, 3],
            &[C1 as u32],
            &[C2 as u32, C1 as u32, 3, 3],
            &[C2 as u32],
            &[FLAT as u32, HIDDEN as u32],
            &[HIDDEN as u32],
            &[HIDDEN as u32, CLASSES as u32],
            &[CLASSES as u32],
        ];
        if count as usize != shapes.len() {
            return Err(format!("weights hold {count} tensors, expected 8"));
        }
        let mut tensors = Vec::with_capacity(shapes.len());
        for (i, shape) in shapes.iter().enumerate() {
            let rank = u32_le(&mut rest)? as usize;
            let mut dims = Vec::with_capacity(rank);
            for _ in 0..rank {
                dims.push(u32_le(&mut rest)?);
            }
            if dims != *shape {
                return Err(format!("tensor {i} has shape {dims:?}, expected {shape:?}"));
            }
            let n: usize = dims.iter().map(|&d| d as usize).product();
            if rest.len() < 4 * n {
                return Err("truncated weights".into());
            }
            let (data, tail) = rest.split_at(4 * n);
            rest = tail;
            tensors.push(
                data.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect::<Vec<f32>>(),
            );
        }
        if !rest.is_empty() {
            return Err("trailing bytes after weights".into());
        }
        let mut t = tensors.into_iter();
        let mut next = || t.next().expect("eight tensors");
        Ok(Net {
            c1w: block_kernels(&next(), C1, 1),
            c1b: next(),
            c2w: block_kernels(&next(), C2, C1),
            c2b: next(),
            f1w: next(),
            f1b: next(),
            f2w: next(),
            f2b: next(),
        })
    }

    /// The embedded network, parsed once.
    pub fn embedded() -> &'static Net {
        static NET: OnceLock<Net> = OnceLock::new();
        NET.get_or_init(|| Net::parse(WEIGHTS).expect("embedded weights are valid"))
    }

    /// The logits for a 28x28 gray image (light digit on dark, 0-255).
    pub fn logits(&self, pixels: &[u8; SIDE * SIDE]) -> [f32; CLASSES] {
        // Layer 1: 28x28 input, padded planes 30 rows of 30.
        const P1: usize = SIDE + 2;
        let mut input = vec![0f32; P1 * P1];
        for (dst, src) in input[P1 + 1..]
            .chunks_mut(P1)
            .zip(pixels.chunks_exact(SIDE))
        {
            for (d, &s) in dst[..SIDE].iter_mut().zip(src) {
                *d = f32::from(s) / 255.0;
            }
        }
        let mut conv1 = vec![0f32; C1 * SIDE * P1];
        conv3x3::<SIDE, SIDE>(&input, 1, &self.c1w, &self.c1b, &mut conv1);

        // Layer 2: 14x14, padded planes 16 rows of 16.
        const S2: usize = SIDE / 2;
        const P2: usize = S2 + 2;
        let mut pooled1 = vec![0f32; C1 * P2 * P2];
        for (src, dst) in conv1
            .chunks_exact(SIDE * P1)
            .zip(pooled1.chunks_exact_mut(P2 * P2))
        {
            relu_pool(src, SIDE, SIDE, P1, &mut dst[P2 + 1..], P2);
        }
        let mut conv2 = vec![0f32; C2 * S2 * P2];
        conv3x3::<S2, S2>(&pooled1, C1, &self.c2w, &self.c2b, &mut conv2);

        // Flatten (channel, row, column) after the second pool: 32x7x7.
        const S3: usize = S2 / 2;
        let mut flat = vec![0f32; FLAT];
        for (src, dst) in conv2
            .chunks_exact(S2 * P2)
            .zip(flat.chunks_exact_mut(S3 * S3))
        {
            relu_pool(src, S2, S2, P2, dst, S3);
        }

        let mut hidden = [0f32; HIDDEN];
        hidden.copy_from_slice(&self.f1b);
        dense(&flat, &self.f1w, &mut hidden);
        for h in &mut hidden {
            *h = max(*h, 0.0);
        }
        let mut out = [0f32; CLASSES];
        out.copy_from_slice(&self.f2b);
        dense(&hidden, &self.f2w, &mut out);
        out
    }
}

/// Output channels computed together by [`conv3x3`].
const OB: usize = 4;
/// Output positions computed together by [`conv3x3`] (two 4-lane vectors).
const PB: usize = 8;

/// Reorders convolution weights from `[out][in][3][3]` to the layout
/// [`conv3x3`] reads: `[out / OB][in][3][3][OB][4]`, each weight repeated
/// four times so it loads as a ready 4-lane vector.
fn block_kernels(weights: &[f32], outs: usize, ins: usize) -> Vec<f32> {
    assert_eq!(weights.len(), outs * ins * 9);
    assert_eq!(outs % OB, 0, "output channels in blocks of {OB}");
    let mut blocked = Vec::with_capacity(weights.len() * 4);
    for ob in (0..outs).step_by(OB) {
        for ci in 0..ins {
            for t in 0..9 {
                for j in 0..OB {
                    blocked.extend([weights[((ob + j) * ins + ci) * 9 + t]; 4]);
                }
            }
        }
    }
    blocked
}

/// 3x3 convolution, zero padding 1, of `c` planes of H x W stored padded
/// (H + 2 rows of W + 2, data from row 1 column 1) into `bias.len()` planes
/// of H rows of W + 2 (the last two columns of each row are scratch).
/// `kernels` are in [`block_kernels`] order.
///
/// Output position `p` of a plane reads input positions `p + offset` for the
/// nine tap offsets (constants, as H and W are), so a tile of OB channels x
/// PB consecutive positions is OB x PB accumulators (eight vectors) updated
/// from one PB-wide load per tap and input channel. Each output is `bias +
/// sum over (channel, tap)` in that order.
fn conv3x3<const H: usize, const W: usize>(
    input: &[f32],
    c: usize,
    kernels: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    let pw = W + 2;
    let plane_in = (H + 2) * pw;
    let plane_out = H * pw;
    // The last row's two scratch columns are skipped, so every tap stays
    // inside its input plane.
    let n = plane_out - 2;
    let offsets = [0, 1, 2, pw, pw + 1, pw + 2, 2 * pw, 2 * pw + 1, 2 * pw + 2];
    let span = 2 * pw + 2 + PB;
    assert_eq!(input.len(), c * plane_in);
    assert_eq!(kernels.len(), bias.len() * c * 9 * 4);
    assert_eq!(out.len(), bias.len() * plane_out);
    assert_eq!(bias.len() % OB, 0);
    for ((outs, bias), kern) in out
        .chunks_exact_mut(OB * plane_out)
        .zip(bias.chunks_exact(OB))
        .zip(kernels.chunks_exact(OB * c * 9 * 4))
    {
        let mut p = 0;
        while p + PB <= n {
            let mut acc = [[0f32; PB]; OB];
            for (a, &b) in acc.iter_mut().zip(bias) {
                *a = [b; PB];
            }
            for (plane, k) in input
                .chunks_exact(plane_in)
                .zip(kern.chunks_exact(9 * OB * 4))
            {
                let window = &plane[p..p + span];
                for (&off, kt) in offsets.iter().zip(k.chunks_exact(OB * 4)) {
                    let x = &window[off..off + PB];
                    for (a, w4) in acc.iter_mut().zip(kt.chunks_exact(4)) {
                        for (l, (al, &xl)) in a.iter_mut().zip(x).enumerate() {
                            *al += w4[l % 4] * xl;
                        }
                    }
                }
            }
            for (j, a) in acc.iter().enumerate() {
                outs[j * plane_out + p..][..PB].copy_from_slice(a);
            }
            p += PB;
        }
        // The last positions, one at a time, in the same order.
        for p in p..n {
            let mut acc = [0f32; OB];
            acc.copy_from_slice(bias);
            for (plane, k) in input
                .chunks_exact(plane_in)
                .zip(kern.chunks_exact(9 * OB * 4))
            {
                for (&off, kt) in offsets.iter().zip(k.chunks_exact(OB * 4)) {
                    let x = plane[p + off];
                    for (a, w4) in acc.iter_mut().zip(kt.chunks_exact(4)) {
                        *a += w4[0] * x;
                    }
                }
            }
            for (j, &a) in acc.iter().enumerate() {
                outs[j * plane_out + p] = a;
            }
        }
    }
}

/// ReLU and 2x2 max pooling of one `h` x `w` plane (row stride `stride`,
/// `w` at most 32) into rows of `w / 2` values at row stride `out_stride` of
/// `out`: first the maxima of row pairs (contiguous, vectorized), then of
/// column pairs.
fn relu_pool(plane: &[f32], h: usize, w: usize, stride: usize, out: &mut [f32], out_stride: usize) {
    let mut rows = [0f32; 32];
    let rows = &mut rows[..w];
    for y in 0..h / 2 {
        let top = &plane[2 * y * stride..][..w];
        let bottom = &plane[(2 * y + 1) * stride..][..w];
        for ((m, &t), &b) in rows.iter_mut().zip(top).zip(bottom) {
            *m = max(t, b);
        }
        let dst = &mut out[y * out_stride..][..w / 2];
        for (d, pair) in dst.iter_mut().zip(rows.chunks_exact(2)) {
            *d = max(max(pair[0], pair[1]), 0.0);
        }
    }
}

/// The larger of two numbers (neither is NaN here), as `a < b ? b : a`.
/// `f32::max` would be a call to `fmaxf` on wasm (its `f32.max` treats NaN
/// differently); this form is a compare and select, and on vectors a single
/// instruction on both targets (x86 `maxps`, wasm `f32x4.pmax`).
#[inline(always)]
fn max(a: f32, b: f32) -> f32 {
    if a < b { b } else { a }
}

/// `out += x · weights` for weights stored `[input][output]`: one contiguous
/// multiply-add of N (a constant: the loop unrolls) per input, skipping the
/// zeros ReLU left. (Not inlined: in a function of its own the loop keeps its
/// pointers in registers under Cranelift too.)
#[inline(never)]
fn dense<const N: usize>(x: &[f32], weights: &[f32], out: &mut [f32; N]) {
    assert_eq!(weights.len(), x.len() * N);
    for (&v, row) in x.iter().zip(weights.chunks_exact(N)) {
        if v == 0.0 {
            continue;
        }
        for (o, &w) in out.iter_mut().zip(row) {
            *o += v * w;
        }
    }
}

/// e^x for the softmax, from `+ - * /` only (no platform libm): x = k ln2 + r
/// with |r| <= ln2/2, a degree-12 Taylor polynomial for e^r (error < 1e-15),
/// and 2^k built from its bits.
pub fn exp(x: f64) -> f64 {
    if x < -708.0 {
        return 0.0;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    let k = (x * LOG2E + 0.5).floor();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    const INV: [f64; 12] = [
        1.0,
        1.0 / 2.0,
        1.0 / 3.0,
        1.0 / 4.0,
        1.0 / 5.0,
        1.0 / 6.0,
        1.0 / 7.0,
        1.0 / 8.0,
        1.0 / 9.0,
        1.0 / 10.0,
        1.0 / 11.0,
        1.0 / 12.0,
    ];
    let mut p = 1.0;
    for inv in INV.iter().rev() {
        p = 1.0 + p * r * inv;
    }
    let bits = ((k as i64 + 1023) as u64) << 52;
    p * f64::from_bits(bits)
}

/// The class, and the softmax of the logits.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub class: usize,
    pub scores: [f32; CLASSES],
}

impl Prediction {
    pub fn from_logits(logits: &[f32; CLASSES]) -> Prediction {
        let mut class = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[class] {
                class = i;
            }
        }
        let top = f64::from(logits[class]);
        let mut e = [0f64; CLASSES];
        let mut sum = 0.0;
        for (ei, &l) in e.iter_mut().zip(logits) {
            *ei = exp(f64::from(l) - top);
            sum += *ei;
        }
        let mut scores = [0f32; CLASSES];
        for (s, ei) in scores.iter_mut().zip(e) {
            *s = (ei / sum) as f32;
        }
        Prediction { class, scores }
    }

    /// One line of JSON, newline-terminated: the confidence with 6 decimals,
    /// the scores with 5 significant digits.
    pub fn to_json(&self) -> String {
        let mut s = format!(
            "{{\"class\":{},\"label\":\"{}\",\"confidence\":{:.6},\"scores\":[",
            self.class, self.class, self.scores[self.class]
        );
        for (i, v) in self.scores.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{v:.4e}");
        }
        s.push_str("]}\n");
        s
    }
}

/// Brings any image to the network's input: gray, resized to 28x28 with the
/// triangle filter if needed, inverted if the background is light (mean above
/// 127), since the network was trained on light digits on dark.
pub fn prepare(img: &Image) -> [u8; SIDE * SIDE] {
    let mut gray = img.to_gray();
    if gray.width != SIDE || gray.height != SIDE {
        gray = resize(&gray, SIDE, SIDE, Filter::Triangle);
    }
    let sum: usize = gray.data.iter().map(|&v| usize::from(v)).sum();
    let invert = sum > 127 * SIDE * SIDE;
    let mut out = [0u8; SIDE * SIDE];
    for (o, &v) in out.iter_mut().zip(&gray.data) {
        *o = if invert { 255 - v } else { v };
    }
    out
}

/// Classifies an image with the embedded network.
pub fn classify_image(img: &Image) -> Prediction {
    let net = Net::embedded();
    Prediction::from_logits(&net.logits(&prepare(img)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::decode_png;

    fn sample(d: usize) -> Vec<u8> {
        let path = format!("{}/data/digit-{d}.png", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn classifies_every_shipped_sample() {
        for d in 0..10 {
            let p = classify_image(&decode_png(&sample(d)).unwrap());
            assert_eq!(p.class, d, "digit-{d}.png: {}", p.to_json());
            let total: f32 = p.scores.iter().sum();
            assert!((total - 1.0).abs() < 1e-4, "scores sum to {total}");
        }
    }

    #[test]
    fn dark_on_light_and_other_sizes_are_accepted() {
        let img = decode_png(&sample(3)).unwrap().to_gray();
        let inverted = Image::from_data(28, 28, 1, img.data.iter().map(|v| 255 - v).collect());
        assert_eq!(classify_image(&inverted).class, 3);
        let big = resize(&img, 56, 56, Filter::Triangle);
        assert_eq!(classify_image(&big).class, 3);
    }

    #[test]
    fn exp_is_accurate() {
        for i in -400..=100 {
            let x = f64::from(i) / 7.0;
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 1e-14, "exp({x}): {} vs {}", exp(x), x.exp());
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), 0.0);
    }

    #[test]
    fn convolution_matches_a_direct_sum() {
        // 2 input planes of 5x3 (n = 19: two tiles of 8 and 3 single
        // positions), 4 output planes, against a naive reference.
        let (c, h, w, o) = (2, 3, 5, 4);
        let pw = w + 2;
        let mut input = vec![0f32; c * (h + 2) * pw];
        let at = |ci: usize, y: usize, x: usize| ((ci * 7 + y * 5 + x * 3) % 11) as f32 - 5.0;
        for ci in 0..c {
            for y in 0..h {
                for x in 0..w {
                    input[ci * (h + 2) * pw + (y + 1) * pw + x + 1] = at(ci, y, x);
                }
            }
        }
        let weights: Vec<f32> = (0..o * c * 9)
            .map(|i| ((i * 5 % 17) as f32 - 8.0) / 4.0)
            .collect();
        let bias = [0.5, -1.0, 0.25, 2.0];
        let mut out = vec![0f32; o * h * pw];
        conv3x3::<3, 5>(&input, c, &block_kernels(&weights, o, c), &bias, &mut out);
        for oc in 0..o {
            for y in 0..h {
                for x in 0..w {
                    let mut want = bias[oc];
                    for ci in 0..c {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (yy, xx) = (y as isize + ky - 1, x as isize + kx - 1);
                                if (0..h as isize).contains(&yy) && (0..w as isize).contains(&xx) {
                                    want += weights[(oc * c + ci) * 9 + (ky * 3 + kx) as usize]
                                        * at(ci, yy as usize, xx as usize);
                                }
                            }
                        }
                    }
                    assert_eq!(out[oc * h * pw + y * pw + x], want, "({oc},{y},{x})");
                }
            }
        }
    }
}
