//! The writers of OCR's results (text, hOCR, TSV) over any recognized
//! document a client could send back (the JSON shape), and the TSV reader
//! over anything: no input may make them panic, and the TSV they write is
//! read back into as many words.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(doc) = serde_json::from_slice::<wire::ocr::Document>(bytes) {
        let _ = ocr::output::text(&doc);
        let _ = ocr::output::hocr(&doc);
        let _ = ocr::tsv::parse(&ocr::output::tsv(&doc));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = ocr::tsv::parse(text);
    }
});
