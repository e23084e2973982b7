//! The PDF entry: PDFium opens what was uploaded, checks its page count
//! and sizes, and renders each page (at a low resolution, so that an
//! iteration stays quick), as `/v1/ocr` does in `force` mode.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ocr::decode::Limits;
use ocr::pdf::{PdfMode, PdfPage, PdfReader};

const LIMITS: Limits = Limits {
    max_pixels: 1_000_000,
    max_side: 2_000,
    max_pages: 4,
};

fn reader() -> &'static (tokio::runtime::Runtime, PdfReader) {
    static READER: OnceLock<(tokio::runtime::Runtime, PdfReader)> = OnceLock::new();
    READER.get_or_init(|| {
        let pdfium = concat!(env!("CARGO_MANIFEST_DIR"), "/../vendor/pdfium/libpdfium.so");
        let reader = PdfReader::start(Some(pdfium), 1);
        assert!(reader.problem().is_none(), "PDFium: {:?}", reader.problem());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        (runtime, reader)
    })
}

fuzz_target!(|bytes: &[u8]| {
    let (runtime, reader) = reader();
    runtime.block_on(async {
        let doc = reader
            .open(bytes.to_vec().into(), 36, PdfMode::Force, LIMITS)
            .await;
        let Ok(doc) = doc else { return };
        for index in 0..LIMITS.max_pages {
            if let PdfPage::Image(page) = doc.page(index).await {
                assert_eq!(
                    page.gray.len() as u64,
                    u64::from(page.width) * u64::from(page.height)
                );
            }
        }
    });
});
