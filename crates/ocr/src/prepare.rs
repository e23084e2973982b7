//! A page made ready for recognition, as phone photos and hand-fed scans
//! need: uneven lighting evened out (Leptonica's background
//! normalization), then text lines turned level (Leptonica's skew search,
//! up to [`MAX_SKEW`] degrees either way). Recognition reads the prepared
//! page; its boxes are turned back into the page's own pixels
//! ([`Straightened::boxes_back`]), so that they land on the words of the
//! page as uploaded.
//!
//! Both are skipped where they cannot help: a page whose paper is evenly
//! lit is not normalized (a cheap measurement before the first reading);
//! the skew is looked for only when the first reading was poor (as the
//! orientation pass is), and a page whose lines are level to within
//! [`MIN_SKEW`] is not turned (Tesseract reads those as well); pages above
//! [`MAX_PIXELS`] are read as they are (each step holds a copy).

use leptonica_sys as lept;
use wire::ocr::{BBox, Block};

use crate::decode::Page;
use crate::leptonica::Pix;

/// Largest skew searched for, in degrees either way.
pub const MAX_SKEW: f32 = 12.0;
/// Smaller skews are left to Tesseract, which reads them as well.
pub const MIN_SKEW: f32 = 0.5;
/// Leptonica's confidence in the skew it found (the ratio of its best
/// alignment score to its worst) needed before a page is turned.
const MIN_SKEW_CONFIDENCE: f32 = 3.0;
/// Pages above this many pixels are not prepared (A4 at 600 dpi is 35 MP).
pub const MAX_PIXELS: u64 = 40_000_000;
/// The paper's brightness, measured on a coarse grid, may vary this much
/// (of 255) before the page is normalized.
const UNEVEN: u8 = 48;

/// Which steps may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    pub normalize: bool,
    pub deskew: bool,
}

/// `page` with its lighting evened out, or `None` when its paper is
/// evenly lit (a measurement on a sample of its pixels, before the first
/// reading).
#[tracing::instrument(skip_all, name = "even_lighting", fields(w = page.width, h = page.height))]
pub fn even_lighting(page: &Page) -> Option<Page> {
    if u64::from(page.width) * u64::from(page.height) > MAX_PIXELS || !uneven(page) {
        return None;
    }
    Pix::from_page(page, 0)?.normalize_background()?.into_page()
}

/// `page` levelled, and the turn (degrees, clockwise) that levelled it, or
/// `None` when its lines are level or no skew is found with confidence.
/// Run on a page whose first reading was poor: a level page pays nothing.
#[tracing::instrument(skip_all, name = "level", fields(w = page.width, h = page.height))]
pub fn level(page: &Page) -> Option<(Page, f32)> {
    if u64::from(page.width) * u64::from(page.height) > MAX_PIXELS {
        return None;
    }
    let pix = Pix::from_page(page, 0)?;
    let degrees = pix.skew().filter(|a| a.abs() >= MIN_SKEW)?;
    let turned = pix.rotate(degrees)?;
    drop(pix);
    tracing::debug!(degrees, "page levelled");
    Some((turned.into_page()?, degrees))
}

/// Whether the paper's brightness varies across the page: the brightest
/// pixels of each cell of an 8 x 8 grid (its paper, where it has any) are
/// compared.
fn uneven(page: &Page) -> bool {
    const GRID: usize = 8;
    let (w, h) = (page.width as usize, page.height as usize);
    if w < GRID * 4 || h < GRID * 4 {
        return false;
    }
    let mut papers = Vec::with_capacity(GRID * GRID);
    for gy in 0..GRID {
        for gx in 0..GRID {
            let (x0, x1) = (gx * w / GRID, (gx + 1) * w / GRID);
            let (y0, y1) = (gy * h / GRID, (gy + 1) * h / GRID);
            // Every 4th pixel of every 4th row is plenty for a histogram.
            let mut histogram = [0u32; 256];
            let mut n = 0u32;
            for y in (y0..y1).step_by(4) {
                for &v in page.gray[y * w + x0..y * w + x1].iter().step_by(4) {
                    histogram[v as usize] += 1;
                    n += 1;
                }
            }
            // The 90th percentile: paper, unless the cell is all ink.
            let mut seen = 0;
            let paper = (0..=255u8)
                .rev()
                .find(|&v| {
                    seen += histogram[v as usize];
                    seen * 10 >= n
                })
                .unwrap_or(0);
            papers.push(paper);
        }
    }
    papers.sort_unstable();
    // The darkest and lightest tenth are left out: a dark photo or a black
    // margin in one corner is not uneven light.
    let cut = papers.len() / 10;
    let kept = &papers[cut..papers.len() - cut];
    kept[kept.len() - 1] - kept[0] >= UNEVEN
}

/// How boxes of a page turned by `degrees` (clockwise, about its centre,
/// keeping its size) map back to the page before the turn.
#[derive(Debug, Clone, Copy)]
pub struct Straightened {
    pub degrees: f32,
    pub size: (u32, u32),
}

impl Straightened {
    /// A point of the turned page, in the page before the turn.
    pub fn point_back(&self, (x, y): (f32, f32)) -> (f32, f32) {
        let (cx, cy) = (self.size.0 as f32 / 2.0, self.size.1 as f32 / 2.0);
        let (sin, cos) = (-self.degrees.to_radians()).sin_cos();
        let (dx, dy) = (x - cx, y - cy);
        // Image coordinates (y down): a positive angle turns clockwise.
        (cx + dx * cos - dy * sin, cy + dx * sin + dy * cos)
    }

    /// The box, in the page before the turn, that holds `bbox`'s corners.
    pub fn box_back(&self, bbox: BBox) -> BBox {
        let [l, t, r, b] = bbox.map(|v| v as f32);
        let corners = [(l, t), (r, t), (l, b), (r, b)].map(|p| self.point_back(p));
        let (w, h) = (self.size.0 as f32, self.size.1 as f32);
        let clamp = |v: f32, hi: f32| v.round().clamp(0.0, hi) as u32;
        let min_x = corners.iter().map(|c| c.0).fold(f32::MAX, f32::min);
        let max_x = corners.iter().map(|c| c.0).fold(f32::MIN, f32::max);
        let min_y = corners.iter().map(|c| c.1).fold(f32::MAX, f32::min);
        let max_y = corners.iter().map(|c| c.1).fold(f32::MIN, f32::max);
        [
            clamp(min_x, w),
            clamp(min_y, h),
            clamp(max_x, w),
            clamp(max_y, h),
        ]
    }

    /// Every block, line and word box turned back.
    pub fn boxes_back(&self, blocks: &mut [Block]) {
        for block in blocks {
            block.bbox = self.box_back(block.bbox);
            for line in &mut block.lines {
                line.bbox = self.box_back(line.bbox);
                for word in &mut line.words {
                    word.bbox = self.box_back(word.bbox);
                }
            }
        }
    }
}

impl Pix {
    /// Uneven lighting evened out (Leptonica's defaults: a background map
    /// of 10 x 15 pixel tiles, brought to 200).
    fn normalize_background(&self) -> Option<Pix> {
        // SAFETY: reads an 8-bit image we own; returns a new one or null.
        Pix::owned(unsafe {
            lept::pixBackgroundNormSimple(self.as_ptr(), std::ptr::null_mut(), std::ptr::null_mut())
        })
    }

    /// The skew of the text lines, in degrees (clockwise positive: the turn
    /// that levels them), when Leptonica finds one with confidence.
    fn skew(&self) -> Option<f32> {
        // SAFETY: thresholds an 8-bit image we own into a new 1-bit one,
        // which the skew search reads; the outputs are plain floats.
        unsafe {
            let binary = Pix::owned(lept::pixConvertTo1(self.as_ptr(), 160))?;
            let (mut angle, mut confidence) = (0.0f32, 0.0f32);
            // Coarse sweep at 1/4 resolution in steps of 1 degree, then a
            // binary search at 1/2 resolution down to 0.01 degree.
            let failed = lept::pixFindSkewSweepAndSearch(
                binary.as_ptr(),
                &mut angle,
                &mut confidence,
                4,
                2,
                MAX_SKEW,
                1.0,
                0.01,
            );
            (failed == 0 && confidence >= MIN_SKEW_CONFIDENCE && angle.is_finite()).then_some(angle)
        }
    }

    /// Turned by `degrees` clockwise about the centre, same size, white
    /// brought in at the corners (area-mapped: no jagged strokes).
    fn rotate(&self, degrees: f32) -> Option<Pix> {
        // SAFETY: reads an image we own; returns a new one or null.
        Pix::owned(unsafe {
            lept::pixRotate(
                self.as_ptr(),
                degrees.to_radians(),
                lept::L_ROTATE_AREA_MAP as i32,
                lept::L_BRING_IN_WHITE as i32,
                0,
                0,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f32, f32), b: (f32, f32)) -> bool {
        (a.0 - b.0).abs() < 0.01 && (a.1 - b.1).abs() < 0.01
    }

    #[test]
    fn the_centre_stays_and_a_quarter_turn_maps_as_expected() {
        let s = Straightened {
            degrees: 90.0,
            size: (200, 100),
        };
        assert!(close(s.point_back((100.0, 50.0)), (100.0, 50.0)));
        // The turned page's point right of the centre was, before a
        // clockwise quarter turn, above it.
        assert!(close(s.point_back((110.0, 50.0)), (100.0, 40.0)));
        assert!(close(s.point_back((100.0, 60.0)), (110.0, 50.0)));
    }

    #[test]
    fn a_box_back_holds_its_turned_corners_and_stays_on_the_page() {
        let s = Straightened {
            degrees: 10.0,
            size: (1000, 1000),
        };
        let back = s.box_back([100, 480, 900, 520]);
        // A wide box turned by 10 degrees spans more height than before.
        assert!(back[3] - back[1] > 40 + 100, "{back:?}");
        assert!(back[0] < 110 && back[2] > 890, "{back:?}");
        let edge = s.box_back([0, 0, 1000, 1000]);
        assert_eq!(edge, [0, 0, 1000, 1000]);
    }

    /// A page of dark horizontal strokes (lines of "text"), turned.
    fn striped(degrees: f32) -> Page {
        let (w, h) = (800u32, 600u32);
        let s = Straightened {
            degrees,
            size: (w, h),
        };
        let mut gray = vec![255u8; (w * h) as usize];
        for y in 0..h {
            for x in 0..w {
                // The unturned page at this pixel: ink in bands of words.
                let (ux, uy) = s.point_back((x as f32, y as f32));
                let band = (uy as i32).rem_euclid(30) < 8;
                let word = (ux as i32).rem_euclid(50) < 40;
                if band && word && (100.0..700.0).contains(&ux) && (100.0..500.0).contains(&uy) {
                    gray[(y * w + x) as usize] = 20;
                }
            }
        }
        Page {
            width: w,
            height: h,
            gray,
        }
    }

    #[test]
    fn a_turned_page_is_levelled_by_the_turn_that_undoes_it() {
        for turned in [-6.0f32, 3.0, 10.0] {
            let page = striped(turned);
            let found = Pix::from_page(&page, 300).unwrap().skew().unwrap();
            assert!(
                (found + turned).abs() < 0.3,
                "turned {turned}, found {found}"
            );
            let (levelled, degrees) = level(&page).unwrap();
            assert_eq!(degrees, found);
            assert_eq!((levelled.width, levelled.height), (page.width, page.height));
        }
        let straight = striped(0.0);
        assert!(level(&straight).is_none(), "nothing to do");
        assert!(even_lighting(&straight).is_none(), "nothing to do");
    }

    #[test]
    fn a_mark_on_the_turned_page_maps_back_to_where_it_was() {
        let (w, h) = (400u32, 300u32);
        let mut gray = vec![255u8; (w * h) as usize];
        for y in 40..60 {
            for x in 300..320 {
                gray[(y * w + x) as usize] = 0;
            }
        }
        let page = Page {
            width: w,
            height: h,
            gray,
        };
        for degrees in [-8.0f32, 5.0] {
            let turned = Pix::from_page(&page, 300).unwrap().rotate(degrees).unwrap();
            let turned = turned.into_page().unwrap();
            // The mark's centre on the turned page.
            let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
            for y in 0..h {
                for x in 0..w {
                    if turned.gray[(y * w + x) as usize] < 128 {
                        (sx, sy, n) = (sx + x as f32, sy + y as f32, n + 1.0);
                    }
                }
            }
            let s = Straightened {
                degrees,
                size: (w, h),
            };
            let (x, y) = s.point_back((sx / n + 0.5, sy / n + 0.5));
            assert!(
                (x - 310.0).abs() < 1.5 && (y - 50.0).abs() < 1.5,
                "{degrees}: ({x}, {y})"
            );
        }
    }

    #[test]
    fn a_page_lit_from_one_side_is_uneven_and_evened_out() {
        let mut page = striped(0.0);
        assert!(!uneven(&page));
        let w = page.width as usize;
        for (i, v) in page.gray.iter_mut().enumerate() {
            // Darker towards the right: paper from 255 down to about 100.
            let shade = 1.0 - 0.6 * (i % w) as f32 / w as f32;
            *v = (*v as f32 * shade) as u8;
        }
        assert!(uneven(&page));
        let even = even_lighting(&page).unwrap();
        assert!(!uneven(&even), "still uneven after normalization");
    }
}
