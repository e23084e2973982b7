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
struct Pix(*mut lept::Pix);

impl Drop for Pix {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: allocated by Leptonica, destroyed once.
            unsafe { lept::pixDestroy(&mut self.0) }
        }
    }
}

/// Page `index` (from 0) of the TIFF in `bytes` as 8-bit grey, or `None`
/// when libtiff cannot read it (a damaged page, or an encoding it lacks).
pub fn tiff_page(bytes: &[u8], index: usize) -> Option<Page> {
    quiet();
    let index = i32::try_from(index).ok()?;
    // SAFETY: Leptonica reads `bytes` (not kept past the call) and returns
    // a new image or null; every image is destroyed by `Pix`. The 8-bit
    // image's data is `wpl` 32-bit words per row for `h` rows.
    unsafe {
        let read = Pix(lept::pixReadMemTiff(bytes.as_ptr(), bytes.len(), index));
        if read.0.is_null() {
            return None;
        }
        // 1-bit (ink 0), palette, 16-bit grey and colour to 8-bit grey.
        let grey = Pix(lept::pixConvertTo8(read.0, 0));
        drop(read);
        if grey.0.is_null() || lept::pixGetDepth(grey.0) != 8 {
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
            // Leptonica keeps the leftmost pixel of a word in its most
            // significant byte.
            gray.extend(row.iter().flat_map(|word| word.to_be_bytes()).take(w));
        }
        Some(Page {
            width: w as u32,
            height: h as u32,
            gray,
        })
    }
}
