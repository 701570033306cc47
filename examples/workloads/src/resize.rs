//! Separable image resampling with fixed-point weights.
//!
//! Each output coordinate gets a window of input samples and integer weights
//! (scaled by 2^14, summing to exactly 2^14), computed once per axis; the
//! passes are then integer multiply-adds, identical on every platform. When
//! shrinking, the filter is widened by the scale factor so it also averages
//! (antialiases).
//!
//! Both passes are the same kernel, which filters columns a whole row at a
//! time (contiguous multiply-adds that vectorize on every target): columns
//! first, into an intermediate 8-bit image, then the rows of that image
//! transposed, and the result transposed back.

use crate::image::Image;

/// Longest side of the `resize` workload's thumbnail.
pub const THUMB_SIDE: usize = 160;

const BITS: u32 = 14;
const ONE: i32 = 1 << BITS;
const HALF: i32 = 1 << (BITS - 1);

/// A resampling filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Linear interpolation (a tent of radius 1): bilinear in two dimensions.
    Triangle,
    /// The Lanczos window of radius 3.
    Lanczos3,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Triangle => 1.0,
            Filter::Lanczos3 => 3.0,
        }
    }

    fn eval(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Filter::Triangle => (1.0 - x).max(0.0),
            Filter::Lanczos3 => {
                if x >= 3.0 {
                    0.0
                } else if x < 1e-8 {
                    1.0
                } else {
                    // sinc(x) sinc(x/3) = 3 sin(pi x) sin(pi x / 3) / (pi x)^2
                    let px = std::f64::consts::PI * x;
                    3.0 * sin_pi(x) * sin_pi(x / 3.0) / (px * px)
                }
            }
        }
    }
}

/// sin(pi t) from `+ - * /` and floor only (no platform libm): t is reduced to
/// u in [-1/2, 1/2] with sin(pi t) = ±sin(pi u), then a Taylor polynomial of
/// degree 19 in pi u (error < 1e-15).
pub fn sin_pi(t: f64) -> f64 {
    let n = floor(t + 0.5);
    let u = t - n as f64;
    let x = std::f64::consts::PI * u;
    let x2 = x * x;
    // x - x^3/3! + x^5/5! - ... , Horner from the x^19 term, with the
    // factors 1/((2k)(2k+1)) folded into constants at compile time.
    const INV: [f64; 9] = [
        1.0 / 6.0,
        1.0 / 20.0,
        1.0 / 42.0,
        1.0 / 72.0,
        1.0 / 110.0,
        1.0 / 156.0,
        1.0 / 210.0,
        1.0 / 272.0,
        1.0 / 342.0,
    ];
    let mut p = 0.0;
    for inv in INV.iter().rev() {
        p = -x2 * inv * (1.0 + p);
    }
    let s = x * (1.0 + p);
    if n & 1 == 1 { -s } else { s }
}

/// The largest integer not above `v` (|v| < 2^62), without a libm call
/// (x86_64's baseline has no rounding instruction).
fn floor(v: f64) -> i64 {
    let i = v as i64;
    if (i as f64) > v { i - 1 } else { i }
}

/// The windows of one axis: output `i` reads inputs `start[i]..start[i] +
/// len[i]` with weights `weights[i * taps..][..len[i]]` (16 bits: a product
/// with an 8-bit sample is one widening multiply on x86_64 and wasm alike).
struct Axis {
    taps: usize,
    start: Vec<usize>,
    len: Vec<usize>,
    weights: Vec<i16>,
}

fn axis(in_size: usize, out_size: usize, filter: Filter) -> Axis {
    let scale = in_size as f64 / out_size as f64;
    let widen = scale.max(1.0);
    let support = filter.support() * widen;
    let taps = (support.ceil() as usize) * 2 + 1;
    let mut ax = Axis {
        taps,
        start: Vec::with_capacity(out_size),
        len: Vec::with_capacity(out_size),
        weights: vec![0; taps * out_size],
    };
    let mut w = vec![0f64; taps];
    let mut fixed = vec![0i32; taps];
    for (i, out) in ax.weights.chunks_exact_mut(taps).enumerate() {
        let center = (i as f64 + 0.5) * scale;
        let lo = (floor(center - support + 0.5).max(0) as usize).min(in_size - 1);
        let hi = (floor(center + support + 0.5).max(0) as usize).clamp(lo + 1, in_size);
        let hi = hi.min(lo + taps);
        let n = hi - lo;
        let mut total = 0.0;
        for (j, wj) in w[..n].iter_mut().enumerate() {
            *wj = filter.eval(((lo + j) as f64 + 0.5 - center) / widen);
            total += *wj;
        }
        // Normalize, round to fixed point, and put the rounding error on the
        // largest weight so the weights sum to exactly ONE.
        let mut sum = 0;
        for (f, &wj) in fixed[..n].iter_mut().zip(&w[..n]) {
            let v = if total != 0.0 {
                wj / total
            } else {
                1.0 / n as f64
            };
            *f = floor(v * f64::from(ONE) + 0.5) as i32;
            sum += *f;
        }
        let largest = (0..n).fold(0, |b, j| if fixed[j] > fixed[b] { j } else { b });
        fixed[largest] += ONE - sum;
        for (o, &f) in out.iter_mut().zip(&fixed[..n]) {
            *o = i16::try_from(f).expect("a weight within 2 (fixed point 2^14)");
        }
        ax.start.push(lo);
        ax.len.push(n);
    }
    ax
}

#[inline]
fn to_u8(acc: i32) -> u8 {
    (acc >> BITS).clamp(0, 255) as u8
}

/// Filters the columns of `src` (rows of `stride` bytes) into `out_h` rows.
fn vertical(src: &[u8], stride: usize, ax: &Axis, out_h: usize) -> Vec<u8> {
    let mut out = vec![0u8; stride * out_h];
    let mut acc = vec![0i32; stride];
    for (((dst, &start), &len), weights) in out
        .chunks_exact_mut(stride)
        .zip(&ax.start)
        .zip(&ax.len)
        .zip(ax.weights.chunks_exact(ax.taps))
    {
        acc.fill(HALF);
        for (row, &wt) in src[start * stride..][..len * stride]
            .chunks_exact(stride)
            .zip(&weights[..len])
        {
            for (a, &s) in acc.iter_mut().zip(row) {
                // both factors are 16-bit: one widening multiply (SSE2 pmullw/pmulhw, wasm extmul)
                *a += i32::from(wt) * i32::from(i16::from(s));
            }
        }
        for (d, &a) in dst.iter_mut().zip(&acc) {
            *d = to_u8(a);
        }
    }
    out
}

/// Transposes `h` rows of `w` pixels of CH bytes into `w` rows of `h`
/// pixels, in 16x16 tiles.
fn transpose<const CH: usize>(src: &[u8], w: usize, h: usize) -> Vec<u8> {
    const TILE: usize = 16;
    assert_eq!(src.len(), w * h * CH);
    let mut out = vec![0u8; src.len()];
    for y0 in (0..h).step_by(TILE) {
        for x0 in (0..w).step_by(TILE) {
            for y in y0..(y0 + TILE).min(h) {
                let row = &src[(y * w + x0) * CH..(y * w + (x0 + TILE).min(w)) * CH];
                for (x, px) in (x0..).zip(row.chunks_exact(CH)) {
                    out[(x * h + y) * CH..][..CH].copy_from_slice(px);
                }
            }
        }
    }
    out
}

fn resize_ch<const CH: usize>(img: &Image, width: usize, height: usize, filter: Filter) -> Vec<u8> {
    let (iw, ih) = (img.width, img.height);
    let cols = vertical(&img.data, iw * CH, &axis(ih, height, filter), height);
    let turned = transpose::<CH>(&cols, iw, height);
    let rows = vertical(&turned, height * CH, &axis(iw, width, filter), width);
    transpose::<CH>(&rows, height, width)
}

/// Resizes `img` to `width` x `height` (both at least 1) with `filter`.
pub fn resize(img: &Image, width: usize, height: usize, filter: Filter) -> Image {
    assert!(width > 0 && height > 0 && img.width > 0 && img.height > 0);
    let data = match img.channels {
        1 => resize_ch::<1>(img, width, height, filter),
        2 => resize_ch::<2>(img, width, height, filter),
        3 => resize_ch::<3>(img, width, height, filter),
        4 => resize_ch::<4>(img, width, height, filter),
        c => panic!("resize: {c} channels"),
    };
    Image::from_data(width, height, img.channels, data)
}

/// The size that fits `width` x `height` in a `side` x `side` box, keeping the
/// aspect ratio (rounded, at least 1).
pub fn fit(width: usize, height: usize, side: usize) -> (usize, usize) {
    let long = width.max(height);
    let scaled = |v: usize| ((v * side + long / 2) / long).max(1);
    (scaled(width), scaled(height))
}

/// Resizes so the longer side is `side` pixels, with Lanczos-3.
pub fn thumbnail(img: &Image, side: usize) -> Image {
    let (w, h) = fit(img.width, img.height, side);
    resize(img, w, h, Filter::Lanczos3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{decode_png, encode_png};

    #[test]
    fn bilinear_known_pixels() {
        // 2x1 [0, 255] to 4x1: output centers at input x = -0.25, 0.25,
        // 0.75, 1.25 (pixel centers at 0.5 offsets), weights clipped to the
        // image and renormalized.
        let img = Image::from_data(2, 1, 1, vec![0, 255]);
        let out = resize(&img, 4, 1, Filter::Triangle);
        assert_eq!(out.data, vec![0, 64, 191, 255]);
        // 3x3 RGB, shrink 3x: one output pixel averaging a tent over the image.
        let img = Image::from_data(1, 3, 3, vec![0, 0, 0, 90, 90, 90, 180, 180, 180]);
        let out = resize(&img, 1, 1, Filter::Triangle);
        assert_eq!(out.data, vec![90, 90, 90]);
    }

    #[test]
    fn constant_image_stays_constant() {
        for filter in [Filter::Triangle, Filter::Lanczos3] {
            for (w, h) in [(7, 5), (64, 3), (1, 1), (200, 120)] {
                let img = Image::from_data(31, 17, 3, vec![123; 31 * 17 * 3]);
                let out = resize(&img, w, h, filter);
                assert_eq!((out.width, out.height, out.channels), (w, h, 3));
                assert!(out.data.iter().all(|&v| v == 123), "{filter:?} {w}x{h}");
            }
        }
    }

    #[test]
    fn weights_sum_to_one() {
        for (i, o) in [(256, 160), (160, 256), (28, 28), (5, 1), (1, 9), (1000, 3)] {
            for f in [Filter::Triangle, Filter::Lanczos3] {
                let ax = axis(i, o, f);
                for (k, w) in ax.weights.chunks_exact(ax.taps).enumerate() {
                    assert_eq!(
                        w[..ax.len[k]].iter().map(|&v| i32::from(v)).sum::<i32>(),
                        ONE
                    );
                    assert!(ax.start[k] + ax.len[k] <= i);
                }
            }
        }
    }

    #[test]
    fn sin_pi_is_accurate() {
        for i in -400..=400 {
            let t = f64::from(i) / 97.0;
            let want = (std::f64::consts::PI * t).sin();
            assert!((sin_pi(t) - want).abs() < 1e-12, "sin_pi({t})");
        }
        assert_eq!(sin_pi(0.0), 0.0);
        assert!(Filter::Lanczos3.eval(1.0).abs() < 1e-15);
    }

    #[test]
    fn thumbnail_of_the_sample_photo() {
        let img = decode_png(crate::PHOTO_SAMPLE).unwrap();
        assert_eq!((img.width, img.height, img.channels), (256, 256, 3));
        let thumb = thumbnail(&img, THUMB_SIDE);
        assert_eq!((thumb.width, thumb.height), (160, 160));
        let png = encode_png(&thumb).unwrap();
        assert_eq!(decode_png(&png).unwrap(), thumb);
        assert_eq!(fit(300, 100, 160), (160, 53));
        assert_eq!(fit(10, 2000, 160), (1, 160));
    }
}
