//! Sniffing, header probing and decoding of uploaded images (TIFF, PNG,
//! JPEG, WebP, BMP, GIF), under limits small enough that a page the
//! header allows is quick to decode. Anything but a panic or a crash is
//! fine: every error is an answer the user gets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ocr::decode::{decode_page, probe, Format, Limits};

const LIMITS: Limits = Limits {
    max_pixels: 4_000_000,
    max_side: 4_000,
    max_pages: 8,
};

fuzz_target!(|bytes: &[u8]| {
    let _ = Format::sniff(bytes);
    let Ok(pages) = probe(bytes, &LIMITS) else {
        return;
    };
    assert!(
        pages.len() <= LIMITS.max_pages,
        "probe let {} pages through",
        pages.len()
    );
    for (index, info) in pages.iter().enumerate() {
        assert!(u64::from(info.width) * u64::from(info.height) <= LIMITS.max_pixels);
        if let Ok(page) = decode_page(bytes, index, &LIMITS) {
            // A decoded page is what its header said, and holds its pixels.
            assert_eq!(
                page.gray.len() as u64,
                u64::from(page.width) * u64::from(page.height)
            );
            assert!(u64::from(page.width) * u64::from(page.height) <= LIMITS.max_pixels);
        }
    }
});
