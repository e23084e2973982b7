//! The OCR service: uploads (PNG, JPEG, TIFF with every page, WebP, BMP,
//! GIF) decoded under strict limits, recognized by a pool of Tesseract
//! engines, answered as JSON (blocks, lines, words with boxes and
//! confidences), text, hOCR or TSV.

pub mod budget;
pub mod compact;
pub mod config;
pub mod decode;
pub mod engine;
pub mod error;
pub mod invisible_text;
pub mod languages;
pub mod layout;
pub mod leptonica;
pub mod osd;
pub mod output;
pub mod pdf;
pub mod prepare;
pub mod routes;
pub mod scale;
pub mod searchable;
pub mod service;
pub mod tess;
pub mod tsv;

pub use config::OcrConfig;
pub use routes::{openapi, router, ApiDoc, OcrState};
pub use service::Ocr;
