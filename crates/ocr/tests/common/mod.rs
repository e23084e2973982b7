//! The OCR service alone, on a port of its own: its router, its engines,
//! and a verifier of tokens signed by the test.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ocr::{Ocr, OcrConfig, OcrState};
use reqwest::multipart::{Form, Part};
use testkit::{Issuer, Served};

pub struct TestOcr {
    pub served: Served,
    pub ocr: Ocr,
    pub issuer: Arc<Issuer>,
    /// The token of the test's user.
    pub token: String,
}

/// PDFium as `scripts/deps.sh` installs it.
pub const PDFIUM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../vendor/pdfium/libpdfium.so"
);

/// The service with the default configuration as `tweak` changes it, its
/// engines warm.
pub async fn start(tweak: impl FnOnce(&mut OcrConfig)) -> TestOcr {
    // The process's recorder, so that tests can read the metrics.
    kit::metrics::handle();
    let mut config = OcrConfig {
        pdfium_library: Some(PDFIUM.into()),
        ..OcrConfig::default()
    };
    tweak(&mut config);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ocr = Ocr::start(config, cores);
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Err(e) = ocr.ready() {
        assert!(Instant::now() < deadline, "never ready: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let issuer = Issuer::new();
    let served = Served::start(ocr::router(OcrState {
        ocr: ocr.clone(),
        verifier: issuer.verifier(),
    }))
    .await;
    TestOcr {
        token: issuer.token("ocr-user"),
        served,
        ocr,
        issuer,
    }
}

impl TestOcr {
    pub fn url(&self, path: &str) -> String {
        self.served.url(path)
    }

    /// `POST /v1/ocr{query}` with `bytes` as the multipart field `file`.
    pub async fn multipart(&self, bytes: Vec<u8>, query: &str) -> reqwest::Response {
        let form = Form::new().part("file", Part::bytes(bytes).file_name("upload"));
        self.served
            .client
            .post(self.url(&format!("/v1/ocr{query}")))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/ocr` with `bytes` as the body.
    pub async fn raw(&self, bytes: Vec<u8>, content_type: &str) -> reqwest::Response {
        self.raw_query(bytes, content_type, "").await
    }

    /// `POST /v1/ocr{query}` with `bytes` as the body.
    pub async fn raw_query(
        &self,
        bytes: Vec<u8>,
        content_type: &str,
        query: &str,
    ) -> reqwest::Response {
        self.served
            .client
            .post(self.url(&format!("/v1/ocr{query}")))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    /// What `/metrics` would show: the process's recorder.
    pub fn metrics(&self) -> String {
        kit::metrics::handle().render()
    }
}
