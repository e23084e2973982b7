//! Recognition scale: pages whose text is much larger than Tesseract needs
//! are read at a smaller scale, and the positions it reports are put back in
//! the page's own pixels.
//!
//! Tesseract's LSTM reads each text line resized to a fixed height, so large
//! text costs no more to recognize than small text; what grows with the
//! pixel count is everything before it (thresholding, connected components,
//! layout analysis). A 12 pt page scanned at 300 dpi has an x-height of
//! about 27 px; read at half scale it keeps the same character error rate
//! (`bench/ocr.sh`) for about a quarter less CPU time. The scale comes from
//! the text itself (the x-height, estimated from vertical runs of ink), so
//! small print and low-resolution scans are never shrunk.

use crate::decode::Page;
use crate::tsv::{BBox, Block};

/// The line height (as `line_height` measures it), in pixels, that pages
/// with larger text are brought down to: a font of about 25 px, an x-height
/// of about 13 px, above the 10 px under which Tesseract's accuracy falls.
pub const TARGET_LINE_HEIGHT: f32 = 18.0;

/// Never shrink below this factor (a safety net for odd estimates).
const MIN_SCALE: f32 = 0.5;

/// Scales this close to 1 are not worth a resample.
const MAX_SCALE: f32 = 0.85;

/// The factor to read `page` at, below 1 when its text is large.
pub fn factor(page: &Page) -> Option<f32> {
    let s = (TARGET_LINE_HEIGHT / line_height(page)?).max(MIN_SCALE);
    (s <= MAX_SCALE).then_some(s)
}

/// Otsu's threshold over a sample of the page's pixels.
fn threshold(page: &Page) -> u8 {
    let mut hist = [0u64; 256];
    for row in page.gray.chunks_exact(page.width as usize).step_by(2) {
        for &p in row.iter().step_by(2) {
            hist[p as usize] += 1;
        }
    }
    let total: u64 = hist.iter().sum();
    let sum: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &n)| i as f64 * n as f64)
        .sum();
    let (mut best, mut best_t) = (0f64, 128u8);
    let (mut below, mut below_sum) = (0u64, 0f64);
    for (t, &n) in hist.iter().enumerate() {
        below += n;
        below_sum += t as f64 * n as f64;
        let above = total - below;
        if below == 0 || above == 0 {
            continue;
        }
        let m0 = below_sum / below as f64;
        let m1 = (sum - below_sum) / above as f64;
        let between = below as f64 * above as f64 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

/// The height of the page's text lines (about 0.7 of the font size in
/// pixels: within a strip many lines have no descender): the median height of the bands of inked rows
/// between blank ones, taken in vertical strips a few hundred pixels wide so
/// that columns and a slight skew do not merge lines. `None` when there are
/// too few lines to tell (pictures, blank pages, a line or two).
pub fn line_height(page: &Page) -> Option<f32> {
    let (w, h) = (page.width as usize, page.height as usize);
    if w < 8 || h < 8 {
        return None;
    }
    let t = threshold(page);
    // Dark text on a light page; a light-on-dark page counts its light.
    let dark = page.gray.iter().step_by(7).filter(|&&p| p <= t).count();
    let dark_is_ink = dark * 2 <= page.gray.len().div_ceil(7);
    let strips = w.div_ceil(STRIP).max(1);
    let mut heights = Vec::new();
    for strip in 0..strips {
        let (from, to) = (strip * w / strips, (strip + 1) * w / strips);
        let profile: Vec<u32> = page
            .gray
            .chunks_exact(w)
            .map(|row| {
                row[from..to]
                    .iter()
                    .step_by(2)
                    .filter(|&&p| (p <= t) == dark_is_ink)
                    .count() as u32
            })
            .collect();
        let floor = profile.iter().max().copied().unwrap_or(0) / 100;
        let mut run = 0;
        for &p in profile.iter().chain([&0]) {
            if p > floor {
                run += 1;
            } else {
                if run >= 4 {
                    heights.push(run);
                }
                run = 0;
            }
        }
    }
    if heights.len() < 6 {
        return None;
    }
    heights.sort_unstable();
    Some(heights[heights.len() / 2] as f32)
}

/// Width of the strips `line_height` measures in.
const STRIP: usize = 600;

/// `page` resized by `factor` (0.5 to 1), each new pixel the area-weighted
/// mean of the pixels it covers. Also halves large pages for OSD.
pub fn shrink(page: &Page, factor: f32) -> Page {
    let (w, h) = (page.width as usize, page.height as usize);
    let nw = ((w as f32 * factor).round() as usize).max(1);
    let nh = ((h as f32 * factor).round() as usize).max(1);
    let across = taps(w, nw);
    let down = taps(h, nh);
    // Rows first, into a narrower page of full height...
    let mut narrow = vec![0u8; nw * h];
    for (src, dst) in page.gray.chunks_exact(w).zip(narrow.chunks_exact_mut(nw)) {
        for (out, tap) in dst.iter_mut().zip(&across) {
            *out = tap.apply(|i| src[i]);
        }
    }
    // ...then columns.
    let mut gray = vec![0u8; nw * nh];
    for (y, tap) in down.iter().enumerate() {
        let row = &mut gray[y * nw..(y + 1) * nw];
        for (x, out) in row.iter_mut().enumerate() {
            *out = tap.apply(|i| narrow[i * nw + x]);
        }
    }
    Page {
        width: nw as u32,
        height: nh as u32,
        gray,
    }
}

/// The source pixels one destination pixel covers, with their weights in
/// 1/4096ths (they sum to 4096).
struct Tap {
    start: usize,
    weights: [u32; 3],
}

impl Tap {
    fn apply(&self, at: impl Fn(usize) -> u8) -> u8 {
        let mut acc = 2048u32;
        for (k, &wt) in self.weights.iter().enumerate() {
            if wt > 0 {
                acc += wt * u32::from(at(self.start + k));
            }
        }
        (acc >> 12) as u8
    }
}

/// Taps shrinking `src` pixels to `dst` (dst <= src, at most halving).
fn taps(src: usize, dst: usize) -> Vec<Tap> {
    let ratio = src as f64 / dst as f64;
    (0..dst)
        .map(|o| {
            let (a, b) = (o as f64 * ratio, ((o + 1) as f64 * ratio).min(src as f64));
            let start = a.floor() as usize;
            let mut weights = [0u32; 3];
            let mut given = 0;
            for (k, w) in weights.iter_mut().enumerate() {
                let i = (start + k) as f64;
                let cover = (b.min(i + 1.0) - a.max(i)).max(0.0);
                *w = (cover / (b - a) * 4096.0).round() as u32;
                given += *w;
            }
            // Rounding left over goes to the first tap.
            weights[0] = (weights[0] + 4096).saturating_sub(given);
            Tap { start, weights }
        })
        .collect()
}

/// Every box of `blocks` multiplied by `by`, kept inside the page's `size`.
pub fn boxes(blocks: &mut [Block], by: f32, size: (u32, u32)) {
    let scaled = |b: &mut BBox| *b = fit(b.map(|v| (v as f32 * by).round() as u32), size);
    for block in blocks {
        scaled(&mut block.bbox);
        for line in &mut block.lines {
            scaled(&mut line.bbox);
            line.words.iter_mut().for_each(|w| scaled(&mut w.bbox));
        }
    }
}

/// A box (left, top, right, bottom) kept inside a page of `size`.
fn fit([l, t, r, b]: BBox, (w, h): (u32, u32)) -> BBox {
    [l.min(w), t.min(h), r.min(w), b.min(h)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_of(img: image::GrayImage) -> Page {
        Page {
            width: img.width(),
            height: img.height(),
            gray: img.into_raw(),
        }
    }

    fn text_page(px: f32) -> Page {
        let lines = fixtures::sentences(3, 12, 8);
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        page_of(fixtures::render_on(&refs, px, None))
    }

    #[test]
    fn line_height_follows_the_font_size() {
        for px in [16.0f32, 24.0, 36.0, 50.0, 80.0] {
            let got = line_height(&text_page(px)).expect("text is found");
            assert!(
                (0.6 * px..=0.9 * px).contains(&got),
                "font {px} px: line height {got}"
            );
        }
    }

    #[test]
    fn small_text_and_blank_pages_are_left_alone() {
        assert_eq!(factor(&text_page(24.0)), None);
        let blank = Page {
            width: 400,
            height: 300,
            gray: vec![255; 400 * 300],
        };
        assert_eq!(line_height(&blank), None);
        assert_eq!(factor(&blank), None);
    }

    #[test]
    fn large_text_is_brought_to_the_target() {
        let s = factor(&text_page(50.0)).expect("12 pt at 300 dpi is shrunk");
        assert!((0.5..=0.6).contains(&s), "{s}");
        let s = factor(&text_page(120.0)).expect("huge text is shrunk");
        assert_eq!(s, MIN_SCALE);
    }

    #[test]
    fn shrinking_averages_areas() {
        // A 4x2 page of two 2x2 blocks, halved: each block's mean.
        let page = Page {
            width: 4,
            height: 2,
            gray: vec![0, 100, 200, 200, 100, 200, 200, 200],
        };
        let half = shrink(&page, 0.5);
        assert_eq!((half.width, half.height), (2, 1));
        assert_eq!(half.gray, vec![100, 200]);
        let page = Page {
            width: 4,
            height: 2,
            gray: vec![0, 2, 10, 10, 4, 6, 20, 20],
        };
        assert_eq!(shrink(&page, 0.5).gray, vec![3, 15]);
        // Uniform pages stay uniform at any factor, and sizes round.
        let grey = Page {
            width: 301,
            height: 97,
            gray: vec![77; 301 * 97],
        };
        let small = shrink(&grey, 0.63);
        assert_eq!((small.width, small.height), (190, 61));
        assert!(small.gray.iter().all(|&p| p == 77));
    }

    #[test]
    fn positions_are_put_back() {
        let word = |bbox| wire::ocr::Word {
            text: "bonjour".into(),
            bbox,
            confidence: 96.5,
        };
        let mut blocks = vec![Block {
            bbox: [10, 20, 41, 28],
            lines: vec![wire::ocr::Line {
                text: "bonjour".into(),
                bbox: [10, 20, 41, 28],
                words: vec![word([10, 20, 41, 28]), word([40, 20, 60, 30])],
            }],
        }];
        boxes(&mut blocks, 2.0, (101, 49));
        assert_eq!(blocks[0].bbox, [20, 40, 82, 49]);
        assert_eq!(blocks[0].lines[0].bbox, [20, 40, 82, 49]);
        // Kept inside the page.
        assert_eq!(blocks[0].lines[0].words[1].bbox, [80, 40, 101, 49]);
        assert_eq!(blocks[0].lines[0].words[0].text, "bonjour");
    }
}
