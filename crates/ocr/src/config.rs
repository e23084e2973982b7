//! OCR settings (`[ocr]`, `SCRIPTORIUM_OCR__*`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OcrConfig {
    /// Tesseract's `tessdata` folder; unset: the system default.
    pub tessdata: Option<String>,
    /// Languages used when a request names none.
    pub default_languages: String,
    /// Recognition threads; unset: this service's share of the core budget.
    pub workers: Option<usize>,
    /// Pages waiting for a worker before requests get 429.
    pub queue_depth: usize,
    /// Of those, the most one user may have waiting; unset: a quarter of
    /// `queue_depth` (at least one), so that others always find room. 0: no
    /// such limit.
    pub max_queued_pages_per_user: Option<usize>,
    pub max_upload_bytes: usize,
    /// Largest page, in pixels, checked from the header before decoding.
    pub max_pixels: u64,
    /// Longest side of a page in pixels.
    pub max_side: u32,
    pub max_pages: usize,
    /// Highest resolution a PDF may be rendered at (`dpi` above it: 422).
    pub max_dpi: u32,
    /// Bytes of decoded and rendered pages held at once, process-wide: a
    /// page reserves what its decoding needs before decoding and holds its
    /// grey pixels until recognized. 2 GiB: room for the largest page
    /// `max_pixels` allows (250 MP of RGBA plus its grey copy).
    pub decode_budget_bytes: u64,
    /// How long a synchronous request waits for decode budget before a 503.
    pub decode_wait_ms: u64,
    /// `libpdfium.so`; unset: `vendor/pdfium/libpdfium.so` or a system path.
    pub pdfium_library: Option<String>,
    /// Longest recognition of one page, in milliseconds (OCRmyPDF allows 180 s).
    pub page_timeout_ms: u64,
    /// Detect and undo page rotation (Tesseract OSD) unless a request says
    /// `orientation=none`.
    pub detect_orientation: bool,
    /// OSD confidence needed before a page is turned.
    pub orientation_min_confidence: f32,
    /// A page whose first reading is at least this confident (mean word
    /// confidence, 0 to 100) is taken as upright without the orientation
    /// pass; below it, OSD runs and a turned page is read again.
    pub orientation_trust_confidence: i32,
    /// Resolution assumed for images that do not state one.
    pub default_dpi: u32,
    /// Read pages whose text is large (x-height above about 16 px) at a
    /// smaller scale: same text, less CPU (see `scale`).
    pub rescale_large_text: bool,
    /// Level pages whose lines are skewed (0.5 to 12 degrees) before
    /// recognition; boxes stay in the page's own pixels (see `prepare`).
    pub deskew: bool,
    /// Even out uneven lighting (a phone photo of a page) before
    /// recognition, on pages whose paper is not evenly lit.
    pub normalize_background: bool,
}

impl Default for OcrConfig {
    fn default() -> Self {
        Self {
            tessdata: None,
            default_languages: "fra+eng".into(),
            workers: None,
            queue_depth: 64,
            max_queued_pages_per_user: None,
            max_upload_bytes: 64 * 1024 * 1024,
            max_pixels: 250_000_000,
            max_side: 32_767,
            max_pages: 500,
            max_dpi: 600,
            decode_budget_bytes: 2 << 30,
            decode_wait_ms: 10_000,
            default_dpi: 300,
            pdfium_library: None,
            page_timeout_ms: 180_000,
            detect_orientation: true,
            orientation_min_confidence: 2.0,
            orientation_trust_confidence: 80,
            rescale_large_text: true,
            deskew: true,
            normalize_background: true,
        }
    }
}

impl OcrConfig {
    /// `max_queued_pages_per_user` with its default applied; 0 is no limit.
    pub fn queued_pages_per_user(&self) -> usize {
        self.max_queued_pages_per_user
            .unwrap_or_else(|| (self.queue_depth / 4).max(1))
    }
}
