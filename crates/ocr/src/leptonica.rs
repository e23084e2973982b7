//! TIFF pages read by Leptonica, with libtiff underneath: every compression
//! and pixel layout scanners and fax servers write (1-bit of either
//! photometric, CCITT G3/G4, LZW, PackBits, Deflate, JPEG, tiled or
//! striped, grey of 8 or 16 bits, RGB, CMYK, palette), which the `tiff`
//! crate does not all read. The `tiff` crate still walks the directories
//! (tags only) for the limits, before this reads a pixel.

use std::sync::Once;

use leptonica_sys as lept;

use crate::decode::Page;

/// TIFF compression schemes by their tag value, and whether this build of
/// libtiff (Debian's) decodes them.
const COMPRESSIONS: &[(u16, &str, bool)] = &[
    (1, "none", true),
    (2, "CCITT modified Huffman", true),
    (3, "CCITT Group 3", true),
    (4, "CCITT Group 4", true),
    (5, "LZW", true),
    (6, "old-style JPEG", true),
    (7, "JPEG", true),
    (8, "Deflate", true),
    (32773, "PackBits", true),
    (32946, "Deflate", true),
    (34661, "JBIG", true),
    (34676, "SGI LogLuv", false),
    (34677, "SGI LogLuv 24", false),
    (34712, "JPEG 2000", false),
    (34887, "LERC", true),
    (34925, "LZMA", true),
    (50000, "Zstandard", true),
    (50001, "WebP", true),
    (50002, "JPEG XL", false),
];

/// The name of TIFF compression `code`, and whether it can be read here.
pub fn compression(code: u16) -> (String, bool) {
    match COMPRESSIONS.iter().find(|c| c.0 == code) {
        Some(&(_, name, readable)) => (name.to_owned(), readable),
        None => (format!("unknown compression {code}"), false),
    }
}

/// Leptonica reports errors on stderr; here they come back as values.
fn quiet() {
    static QUIET: Once = Once::new();
    // SAFETY: sets one global severity level.
    QUIET.call_once(|| unsafe {
        lept::setMsgSeverity(lept::L_SEVERITY_NONE as i32);
    });
}

/// An image Leptonica allocated, destroyed once.
pub(crate) struct Pix(*mut lept::Pix);

impl Drop for Pix {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: allocated by Leptonica, destroyed once.
            unsafe { lept::pixDestroy(&mut self.0) }
        }
    }
}

impl Pix {
    /// An image Leptonica returned, or `None` for its null.
    pub(crate) fn owned(pix: *mut lept::Pix) -> Option<Self> {
        (!pix.is_null()).then_some(Self(pix))
    }

    /// For a Leptonica call that reads it; valid while `self` lives.
    pub(crate) fn as_ptr(&self) -> *mut lept::Pix {
        self.0
    }

    /// `page` as an 8-bit Leptonica image that carries its resolution
    /// (`dpi`; 0 for none).
    pub(crate) fn from_page(page: &Page, dpi: u32) -> Option<Self> {
        quiet();
        let (w, h) = (page.width as usize, page.height as usize);
        if w == 0 || h == 0 || page.gray.len() < w * h {
            return None;
        }
        let (wi, hi) = (i32::try_from(w).ok()?, i32::try_from(h).ok()?);
        // SAFETY: a fresh 8-bit image of w x h; its data is `wpl` 32-bit
        // words per row for h rows, written only within that.
        unsafe {
            let pix = Self::owned(lept::pixCreate(wi, hi, 8))?;
            lept::pixSetResolution(pix.0, dpi as i32, dpi as i32);
            let wpl = lept::pixGetWpl(pix.0) as usize;
            let data = std::slice::from_raw_parts_mut(lept::pixGetData(pix.0), wpl * h);
            for (row, words) in page.gray.chunks_exact(w).zip(data.chunks_exact_mut(wpl)) {
                // Leptonica keeps the leftmost pixel of a word in its most
                // significant byte.
                for (word, px) in words.iter_mut().zip(row.chunks(4)) {
                    let mut bytes = [0u8; 4];
                    bytes[..px.len()].copy_from_slice(px);
                    *word = u32::from_be_bytes(bytes);
                }
            }
            Some(pix)
        }
    }

    /// The image as an 8-bit grey page (converted first if it is not one,
    /// and dropped before the page is copied out).
    pub(crate) fn into_page(self) -> Option<Page> {
        // SAFETY: Leptonica converts an image we own into a new one (or a
        // clone of an 8-bit one); its data is `wpl` 32-bit words per row for
        // `h` rows, read only within that.
        unsafe {
            // 1-bit (ink 0), palette, 16-bit grey and colour to 8-bit grey.
            let grey = Self::owned(lept::pixConvertTo8(self.0, 0))?;
            drop(self);
            if lept::pixGetDepth(grey.0) != 8 {
                return None;
            }
            let w = usize::try_from(lept::pixGetWidth(grey.0)).ok()?;
            let h = usize::try_from(lept::pixGetHeight(grey.0)).ok()?;
            let wpl = usize::try_from(lept::pixGetWpl(grey.0)).ok()?;
            let data = lept::pixGetData(grey.0);
            if w == 0 || h == 0 || data.is_null() || wpl * 4 < w {
                return None;
            }
            let words = std::slice::from_raw_parts(data, wpl * h);
            let mut gray = Vec::with_capacity(w * h);
            for row in words.chunks_exact(wpl) {
                gray.extend(row.iter().flat_map(|word| word.to_be_bytes()).take(w));
            }
            Some(Page {
                width: w as u32,
                height: h as u32,
                gray,
            })
        }
    }
}

/// Page `index` (from 0) of the TIFF in `bytes` as 8-bit grey, or `None`
/// when libtiff cannot read it (a damaged page, or an encoding it lacks).
pub fn tiff_page(bytes: &[u8], index: usize) -> Option<Page> {
    quiet();
    let index = i32::try_from(index).ok()?;
    // SAFETY: Leptonica reads `bytes` (not kept past the call) and returns
    // a new image or null, destroyed by `Pix`.
    let read = Pix::owned(unsafe { lept::pixReadMemTiff(bytes.as_ptr(), bytes.len(), index) })?;
    read.into_page()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leptonica_copy_has_every_pixel_and_the_resolution() {
        // 5 wide: a row is two words, the second padded.
        let p = Page {
            width: 5,
            height: 3,
            gray: (0..15).map(|v| v * 10).collect(),
        };
        let pix = Pix::from_page(&p, 150).expect("a pix");
        let mut got = Vec::new();
        for y in 0..3 {
            for x in 0..5 {
                let mut v = 0u32;
                // SAFETY: (x, y) lies inside the 5 x 3 image.
                unsafe { lept::pixGetPixel(pix.0, x, y, &mut v) };
                got.push(v as u8);
            }
        }
        assert_eq!(got, p.gray);
        // SAFETY: a valid image.
        assert_eq!(unsafe { lept::pixGetXRes(pix.0) }, 150);
        let short = Page {
            gray: vec![0; 4],
            ..p.clone()
        };
        assert!(Pix::from_page(&short, 150).is_none());
        // And back, pixel for pixel.
        assert_eq!(
            pix.into_page().expect("a page").gray,
            (0..15).map(|v| v * 10).collect::<Vec<u8>>()
        );
    }
}
