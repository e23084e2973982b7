//! Orientation detection with Tesseract's OSD model (`osd.traineddata`),
//! and the rotation that undoes it. The safe wrappers of the bindings do not
//! cover OSD, so this module calls the C API directly.

use std::ffi::CString;
use std::os::raw::{c_char, c_int};

use tesseract_sys as sys;

use crate::decode::Page;
use crate::leptonica::Pix;
use crate::scale;

/// An engine loaded with the OSD model. Owned by one worker thread.
pub struct Osd(*mut sys::TessBaseAPI);

// SAFETY: the handle is used by one thread at a time (its worker).
unsafe impl Send for Osd {}

impl Drop for Osd {
    fn drop(&mut self) {
        // SAFETY: the handle came from TessBaseAPICreate and is dropped once.
        unsafe { sys::TessBaseAPIDelete(self.0) }
    }
}

impl Osd {
    pub fn new(tessdata: Option<&str>) -> Option<Self> {
        let data = tessdata.map(CString::new).transpose().ok()?;
        let lang = CString::new("osd").ok()?;
        // SAFETY: plain C calls on a handle we own; strings outlive the call.
        unsafe {
            let handle = sys::TessBaseAPICreate();
            let data_ptr = data.as_ref().map_or(std::ptr::null(), |d| d.as_ptr());
            if sys::TessBaseAPIInit3(handle, data_ptr, lang.as_ptr()) != 0 {
                sys::TessBaseAPIDelete(handle);
                return None;
            }
            Some(Self(handle))
        }
    }

    /// Clockwise rotation of the page's text (0, 90, 180 or 270 degrees)
    /// and Tesseract's confidence, or `None` when there is too little text.
    pub fn detect(&mut self, page: &Page, dpi: u32) -> Option<(u32, f32)> {
        // Orientation needs far fewer pixels than recognition: large pages
        // are halved first (a quarter of the work, same answer on text of
        // any readable size).
        if page.width > 1600 && page.height > 1600 {
            let half = scale::shrink(page, 0.5);
            return self.detect_exact(&half, dpi / 2);
        }
        self.detect_exact(page, dpi)
    }

    fn detect_exact(&mut self, page: &Page, dpi: u32) -> Option<(u32, f32)> {
        // Tesseract's orientation pass reads the resolution from its binarized
        // copy of the image, which inherits it from the image and never sees
        // `SetSourceResolution`: given a bare buffer it warns "Invalid
        // resolution 0 dpi" and tunes its line finding for 70 dpi.
        let pix = Pix::from_page(page, dpi)?;
        let mut degrees: c_int = 0;
        let mut confidence: f32 = 0.0;
        let mut script: *const c_char = std::ptr::null();
        let mut script_confidence: f32 = 0.0;
        // SAFETY: Tesseract copies the image; `pix` outlives both calls.
        let found = unsafe {
            sys::TessBaseAPISetImage2(self.0, pix.as_ptr());
            sys::TessBaseAPISetSourceResolution(self.0, dpi as c_int);
            sys::TessBaseAPIDetectOrientationScript(
                self.0,
                &mut degrees,
                &mut confidence,
                &mut script,
                &mut script_confidence,
            )
        };
        // SAFETY: clears the image set above.
        unsafe { sys::TessBaseAPIClear(self.0) };
        (found != 0).then_some((degrees.rem_euclid(360) as u32, confidence))
    }
}

/// Rotate a page counter-clockwise by `degrees` (a multiple of 90), which
/// undoes a clockwise rotation of that size.
pub fn rotate_ccw(page: &Page, degrees: u32) -> Page {
    let (w, h) = (page.width as usize, page.height as usize);
    let src = &page.gray;
    match degrees % 360 {
        90 => {
            // New size h x w; new (x, y) = old (w - 1 - y, x).
            let mut out = vec![0u8; w * h];
            for y in 0..w {
                for x in 0..h {
                    out[y * h + x] = src[x * w + (w - 1 - y)];
                }
            }
            Page {
                width: h as u32,
                height: w as u32,
                gray: out,
            }
        }
        180 => Page {
            width: page.width,
            height: page.height,
            gray: src.iter().rev().copied().collect(),
        },
        270 => {
            let mut out = vec![0u8; w * h];
            for y in 0..w {
                for x in 0..h {
                    out[y * h + x] = src[(h - 1 - x) * w + y];
                }
            }
            Page {
                width: h as u32,
                height: w as u32,
                gray: out,
            }
        }
        _ => page.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Page {
        // 3 x 2:  1 2 3 / 4 5 6
        Page {
            width: 3,
            height: 2,
            gray: vec![1, 2, 3, 4, 5, 6],
        }
    }

    #[test]
    fn rotations_compose_to_identity() {
        let p = page();
        let r90 = rotate_ccw(&p, 90);
        assert_eq!((r90.width, r90.height), (2, 3));
        // Counter-clockwise: the right column becomes the top row.
        assert_eq!(r90.gray, vec![3, 6, 2, 5, 1, 4]);
        assert_eq!(rotate_ccw(&rotate_ccw(&p, 90), 270).gray, p.gray);
        assert_eq!(rotate_ccw(&rotate_ccw(&p, 180), 180).gray, p.gray);
        assert_eq!(rotate_ccw(&p, 0).gray, p.gray);
    }
}
