//! The upload reader: a multipart body (the fuzzer's bytes, after a fixed
//! boundary) or a raw one, with the option fields read into the request's
//! options. Every outcome must be a document or an error for the user.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use ocr::routes::{upload, OcrParams};

const LIMIT: usize = 64 * 1024;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fuzz_target!(|bytes: &[u8]| {
    // The first byte picks the framing, so that raw bodies are tried too.
    let Some((&pick, body)) = bytes.split_first() else {
        return;
    };
    let content_type = match pick % 3 {
        0 => "multipart/form-data; boundary=X",
        1 => "multipart/form-data; boundary=\"a b\"",
        _ => "application/octet-stream",
    };
    let req = Request::post("/v1/ocr")
        .header("content-type", content_type)
        .body(Body::from(body.to_vec()))
        .unwrap();
    let mut params = OcrParams::default();
    if let Ok(up) = runtime().block_on(upload(req, LIMIT, &mut params)) {
        assert!(
            up.bytes.len() <= LIMIT,
            "{} bytes over the limit",
            up.bytes.len()
        );
    }
});
