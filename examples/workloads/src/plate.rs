//! The license-plate-style pass: blur, Otsu threshold, 8-connected components,
//! and the components shaped like characters of one text line.

use crate::image::Image;
use std::fmt::Write as _;

/// A component's bounding box and pixel count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundingBox {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
    pub area: usize,
}

/// What [`analyze`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlateResult {
    pub width: usize,
    pub height: usize,
    /// Otsu's threshold: pixels `<= threshold` are the dark class.
    pub threshold: u8,
    /// Whether the foreground (the smaller class) is the dark one.
    pub dark_foreground: bool,
    pub foreground_pixels: usize,
    pub components: usize,
    /// The character candidates, left to right.
    pub characters: Vec<BoundingBox>,
}

/// Blurs a gray image, thresholds it with Otsu's method, labels the
/// foreground's 8-connected components and keeps the character-like ones.
pub fn analyze(gray: &Image) -> PlateResult {
    assert_eq!(gray.channels, 1, "analyze wants a gray image");
    let (w, h) = (gray.width, gray.height);
    let smooth = box_blur3(&gray.data, w, h);
    let hist = histogram(&smooth);
    let threshold = otsu(&hist);
    let dark: usize = hist[..=usize::from(threshold)].iter().sum();
    let dark_foreground = dark * 2 <= w * h;
    let mask: Vec<bool> = smooth
        .iter()
        .map(|&v| (v <= threshold) == dark_foreground)
        .collect();
    let foreground_pixels = mask.iter().map(|&m| usize::from(m)).sum();
    let boxes = components(&mask, w, h);
    let characters = character_boxes(&boxes, h);
    PlateResult {
        width: w,
        height: h,
        threshold,
        dark_foreground,
        foreground_pixels,
        components: boxes.len(),
        characters,
    }
}

impl PlateResult {
    /// The result as one line of JSON (fixed key order), newline-terminated.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(128 + 64 * self.characters.len());
        let _ = write!(
            s,
            "{{\"width\":{},\"height\":{},\"threshold\":{},\"foreground\":\"{}\",\"foreground_pixels\":{},\"components\":{},\"characters\":{}",
            self.width,
            self.height,
            self.threshold,
            if self.dark_foreground {
                "dark"
            } else {
                "light"
            },
            self.foreground_pixels,
            self.components,
            self.characters.len()
        );
        match union_box(&self.characters) {
            Some(b) => {
                let _ = write!(
                    s,
                    ",\"line\":{{\"x\":{},\"y\":{},\"w\":{},\"h\":{}}}",
                    b.x, b.y, b.w, b.h
                );
            }
            None => s.push_str(",\"line\":null"),
        }
        s.push_str(",\"boxes\":[");
        for (i, b) in self.characters.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                "{{\"x\":{},\"y\":{},\"w\":{},\"h\":{},\"area\":{}}}",
                b.x, b.y, b.w, b.h, b.area
            );
        }
        s.push_str("]}\n");
        s
    }
}

fn union_box(boxes: &[BoundingBox]) -> Option<BoundingBox> {
    let first = boxes.first()?;
    let (mut x0, mut y0) = (first.x, first.y);
    let (mut x1, mut y1) = (first.x + first.w, first.y + first.h);
    let mut area = 0;
    for b in boxes {
        x0 = x0.min(b.x);
        y0 = y0.min(b.y);
        x1 = x1.max(b.x + b.w);
        y1 = y1.max(b.y + b.h);
        area += b.area;
    }
    Some(BoundingBox {
        x: x0,
        y: y0,
        w: x1 - x0,
        h: y1 - y0,
        area,
    })
}

/// 3x3 box blur with replicated edges, rounded: (sum + 4) / 9.
pub fn box_blur3(src: &[u8], w: usize, h: usize) -> Vec<u8> {
    assert_eq!(src.len(), w * h);
    if w == 0 || h == 0 {
        return Vec::new();
    }
    // Horizontal sums of three, one row per input row.
    let mut hsum = vec![0u16; w * h];
    for (row, out) in src.chunks_exact(w).zip(hsum.chunks_exact_mut(w)) {
        if w == 1 {
            out[0] = 3 * u16::from(row[0]);
            continue;
        }
        out[0] = 2 * u16::from(row[0]) + u16::from(row[1]);
        for (o, t) in out[1..w - 1].iter_mut().zip(row.windows(3)) {
            *o = u16::from(t[0]) + u16::from(t[1]) + u16::from(t[2]);
        }
        out[w - 1] = u16::from(row[w - 2]) + 2 * u16::from(row[w - 1]);
    }
    // Vertical sums of three rows of those, divided by 9.
    let mut out = vec![0u8; w * h];
    for (y, dst) in out.chunks_exact_mut(w).enumerate() {
        let up = &hsum[y.saturating_sub(1) * w..][..w];
        let mid = &hsum[y * w..][..w];
        let down = &hsum[(y + 1).min(h - 1) * w..][..w];
        for (((d, &a), &b), &c) in dst.iter_mut().zip(up).zip(mid).zip(down) {
            let sum = u32::from(a) + u32::from(b) + u32::from(c);
            // (sum + 4) / 9 for sum < 2^16, as a multiply and shift
            *d = (((sum + 4) * 7282) >> 16) as u8;
        }
    }
    out
}

/// The 256-bin histogram of 8-bit samples.
pub fn histogram(px: &[u8]) -> [usize; 256] {
    // Four partial histograms break the store-to-load dependency on runs of
    // equal values.
    let mut parts = [[0u32; 256]; 4];
    let mut chunks = px.chunks_exact(4);
    for c in &mut chunks {
        parts[0][usize::from(c[0])] += 1;
        parts[1][usize::from(c[1])] += 1;
        parts[2][usize::from(c[2])] += 1;
        parts[3][usize::from(c[3])] += 1;
    }
    for &v in chunks.remainder() {
        parts[0][usize::from(v)] += 1;
    }
    let mut hist = [0usize; 256];
    for (i, slot) in hist.iter_mut().enumerate() {
        *slot = parts.iter().map(|p| p[i] as usize).sum();
    }
    hist
}

/// Otsu's threshold: the `t` maximizing the between-class variance of
/// `{v <= t}` and `{v > t}` (the first such `t` on ties).
pub fn otsu(hist: &[usize; 256]) -> u8 {
    let total: u64 = hist.iter().map(|&c| c as u64).sum();
    let sum: u64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as u64 * c as u64)
        .sum();
    let (mut w0, mut sum0) = (0u64, 0u64);
    let (mut best, mut best_t) = (-1.0f64, 0u8);
    for (t, &c) in hist.iter().enumerate() {
        w0 += c as u64;
        sum0 += t as u64 * c as u64;
        let w1 = total - w0;
        if w0 == 0 || w1 == 0 {
            continue;
        }
        // sigma_b^2 * total^2 = (total*sum0 - sum*w0)^2 / (w0*w1)
        let diff = (total as f64) * (sum0 as f64) - (sum as f64) * (w0 as f64);
        let var = diff * diff / ((w0 as f64) * (w1 as f64));
        if var > best {
            best = var;
            best_t = t as u8;
        }
    }
    best_t
}

/// Bounding boxes of the 8-connected components of `mask`, in order of each
/// component's first pixel in raster order.
///
/// Works on runs (horizontal spans of foreground): a run joins every run of
/// the row above that overlaps it or touches it diagonally, through
/// union-find on run labels, so the cost is a scan of the mask plus a little
/// work per run rather than per pixel.
pub fn components(mask: &[bool], w: usize, h: usize) -> Vec<BoundingBox> {
    assert_eq!(mask.len(), w * h);
    struct Run {
        y: usize,
        x0: usize,
        x1: usize, // inclusive
        label: u32,
    }
    let mut runs: Vec<Run> = Vec::new();
    // Label 0 is "none"; a root is always the smallest label of its set.
    let mut parent: Vec<u32> = vec![0];
    let mut above = 0..0;
    for (y, row) in mask.chunks_exact(w.max(1)).take(h).enumerate() {
        let first = runs.len();
        let mut x = 0;
        while let Some(skip) = row[x..].iter().position(|&m| m) {
            let x0 = x + skip;
            let len = row[x0..].iter().position(|&m| !m).unwrap_or(w - x0);
            x = x0 + len;
            runs.push(Run {
                y,
                x0,
                x1: x - 1,
                label: 0,
            });
        }
        // Join each run with the runs above it: those with x1 >= x0 - 1 and
        // x0 <= x1 + 1. Both rows are sorted, so one pointer sweeps the row
        // above.
        let mut j = above.start;
        for i in first..runs.len() {
            let (x0, x1) = (runs[i].x0, runs[i].x1);
            while j < above.end && runs[j].x1 + 1 < x0 {
                j += 1;
            }
            let mut label = 0;
            let mut k = j;
            while k < above.end && runs[k].x0 <= x1 + 1 {
                label = merge(&mut parent, label, runs[k].label);
                k += 1;
            }
            if label == 0 {
                label = parent.len() as u32;
                parent.push(label);
            }
            runs[i].label = label;
        }
        above = first..runs.len();
    }
    // Flatten: parents precede children, so one forward pass finds roots.
    for i in 1..parent.len() {
        let p = parent[i] as usize;
        parent[i] = parent[p];
    }
    // Number the roots in order of their first run and collect their boxes.
    let mut index = vec![u32::MAX; parent.len()];
    let mut boxes: Vec<(usize, usize, usize, usize, usize)> = Vec::new();
    for run in &runs {
        let root = parent[run.label as usize] as usize;
        if index[root] == u32::MAX {
            index[root] = boxes.len() as u32;
            boxes.push((run.x0, run.y, run.x1, run.y, 0));
        }
        let b = &mut boxes[index[root] as usize];
        b.0 = b.0.min(run.x0);
        b.2 = b.2.max(run.x1);
        b.3 = run.y;
        b.4 += run.x1 - run.x0 + 1;
    }
    boxes
        .into_iter()
        .map(|(x0, y0, x1, y1, area)| BoundingBox {
            x: x0,
            y: y0,
            w: x1 - x0 + 1,
            h: y1 - y0 + 1,
            area,
        })
        .collect()
}

/// Joins the sets of two labels (0 = none) and returns the joint root.
fn merge(parent: &mut [u32], a: u32, b: u32) -> u32 {
    if b == 0 {
        return a;
    }
    let rb = find(parent, b);
    if a == 0 {
        return rb;
    }
    let ra = find(parent, a);
    let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
    parent[hi as usize] = lo;
    lo
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[x as usize];
        parent[x as usize] = parent[p as usize];
        x = p;
    }
    x
}

/// The components shaped like characters: at least 8 pixels and at most 95%
/// of the image tall, 1 to 6 times as tall as wide, at least 15% filled; then only
/// those within 35% of their median height (one text line), left to right.
pub fn character_boxes(boxes: &[BoundingBox], image_height: usize) -> Vec<BoundingBox> {
    let mut cands: Vec<BoundingBox> = boxes
        .iter()
        .copied()
        .filter(|b| {
            let fill = b.area * 100 / (b.w * b.h);
            b.h >= 8 && b.h * 100 <= image_height * 95 && b.h >= b.w && b.h <= 6 * b.w && fill >= 15
        })
        .collect();
    if cands.is_empty() {
        return cands;
    }
    let mut heights: Vec<usize> = cands.iter().map(|b| b.h).collect();
    heights.sort_unstable();
    let median = heights[heights.len() / 2];
    cands.retain(|b| b.h * 100 >= median * 65 && b.h * 100 <= median * 135);
    cands.sort_by_key(|b| (b.x, b.y));
    cands
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a picture: '#' foreground, '.' background.
    fn picture(rows: &[&str]) -> (Vec<bool>, usize, usize) {
        let w = rows[0].len();
        let mask = rows
            .iter()
            .flat_map(|r| r.bytes().map(|c| c == b'#'))
            .collect();
        (mask, w, rows.len())
    }

    #[test]
    fn components_are_eight_connected() {
        let (mask, w, h) = picture(&[
            "##....#...",
            "#....#....",
            "....#...##",
            "........##",
            "#.#.......",
            "###......#",
        ]);
        let boxes = components(&mask, w, h);
        let b = |x, y, w, h, area| BoundingBox { x, y, w, h, area };
        assert_eq!(
            boxes,
            vec![
                b(0, 0, 2, 2, 3), // an L
                b(4, 0, 3, 3, 3), // a diagonal, joined through corners
                b(8, 2, 2, 2, 4), // a square
                b(0, 4, 3, 2, 5), // a U: two arms merged by the row below
                b(9, 5, 1, 1, 1), // a speck
            ]
        );
    }

    /// Reference labeling: flood fill from each unvisited pixel in raster order.
    fn flood(mask: &[bool], w: usize, h: usize) -> Vec<BoundingBox> {
        let mut seen = vec![false; w * h];
        let mut out = Vec::new();
        for start in 0..w * h {
            if !mask[start] || seen[start] {
                continue;
            }
            let (mut x0, mut y0, mut x1, mut y1, mut area) = (w, h, 0, 0, 0);
            let mut stack = vec![start];
            seen[start] = true;
            while let Some(p) = stack.pop() {
                let (x, y) = (p % w, p / w);
                (x0, y0, x1, y1, area) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y), area + 1);
                for dy in -1isize..=1 {
                    for dx in -1isize..=1 {
                        let (nx, ny) = (x as isize + dx, y as isize + dy);
                        if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                            continue;
                        }
                        let q = ny as usize * w + nx as usize;
                        if mask[q] && !seen[q] {
                            seen[q] = true;
                            stack.push(q);
                        }
                    }
                }
            }
            out.push(BoundingBox {
                x: x0,
                y: y0,
                w: x1 - x0 + 1,
                h: y1 - y0 + 1,
                area,
            });
        }
        out
    }

    #[test]
    fn components_match_a_flood_fill() {
        let mut seed = 12345u32;
        for (w, h, density) in [
            (1, 1, 50),
            (7, 1, 50),
            (1, 9, 50),
            (23, 17, 40),
            (40, 30, 55),
            (64, 8, 70),
        ] {
            let mask: Vec<bool> = (0..w * h)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) % 100 < density
                })
                .collect();
            assert_eq!(components(&mask, w, h), flood(&mask, w, h), "{w}x{h}");
        }
    }

    #[test]
    fn merging_labels_keeps_one_component() {
        // a W shape: three provisional labels merged on the last row
        let (mask, w, h) = picture(&["#.#.#", "#.#.#", "#####"]);
        let boxes = components(&mask, w, h);
        assert_eq!(boxes.len(), 1);
        assert_eq!((boxes[0].w, boxes[0].h, boxes[0].area), (5, 3, 11));
    }

    #[test]
    fn otsu_splits_two_levels() {
        let mut hist = [0usize; 256];
        hist[40] = 30;
        hist[50] = 10;
        hist[200] = 60;
        hist[210] = 20;
        let t = otsu(&hist);
        assert_eq!(t, 50, "first threshold of the best split");
    }

    #[test]
    fn blur_of_constant_is_constant_and_rounds() {
        assert_eq!(box_blur3(&[77; 12], 4, 3), vec![77; 12]);
        // one bright pixel in a dark 3x3: the center averages 255/9 = 28.3
        let mut px = vec![0u8; 9];
        px[4] = 255;
        assert_eq!(box_blur3(&px, 3, 3)[4], 28);
        for sum in 0..=(9 * 255u32) {
            assert_eq!(((sum + 4) * 7282) >> 16, (sum + 4) / 9, "sum {sum}");
        }
    }

    #[test]
    fn finds_two_dark_bars_on_a_light_image() {
        // 24x16 light gray with two dark 3x10 bars and a dark 3x3 speck
        let (w, h) = (24, 16);
        let mut px = vec![210u8; w * h];
        for y in 3..13 {
            for x in (4..7).chain(14..17) {
                px[y * w + x] = 30;
            }
        }
        for y in 1..4 {
            for x in 19..22 {
                px[y * w + x] = 30;
            }
        }
        let r = analyze(&Image::from_data(w, h, 1, px));
        assert!(r.dark_foreground);
        assert!((30..210).contains(&r.threshold));
        assert_eq!(r.components, 3);
        assert_eq!(r.characters.len(), 2);
        assert_eq!((r.characters[0].x, r.characters[1].x), (4, 14));
        assert!(r.characters.iter().all(|b| b.h == 10 && b.w == 3));
        let json = r.to_json();
        assert!(json.contains("\"characters\":2"), "{json}");
    }

    #[test]
    fn sample_plate_has_seven_characters() {
        let img = crate::image::decode_png(crate::PLATE_SAMPLE).unwrap();
        let r = analyze(&img.to_gray());
        assert_eq!(r.characters.len(), 7, "{}", r.to_json());
    }
}
