//! What OCR answers: pages of blocks, lines and words with boxes and
//! confidences (`/v1/ocr` and a library document's `json`).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// How to read a document (`/v1/ocr` and `/v1/documents` query or
/// multipart fields); the OCR service validates them against what it has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OcrOptions {
    /// Tesseract languages joined with `+` (default `fra+eng`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<String>,
    /// Page segmentation mode (1, 3-13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psm: Option<i32>,
    /// Resolution for images that do not state one (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpi: Option<u32>,
    /// `json` (default), `text`, `hocr` or `tsv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// PDFs: `auto` (text layer where present, else OCR), `force` or `text-only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `auto` (default): detect a page turned by 90, 180 or 270 degrees and
    /// turn it back; `none`: take pages as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation: Option<String>,
}

/// One page of a document to read (`/v1/ocr?page=N`): only that page is
/// decoded and recognized, as the library reads a document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageSelection {
    /// 1-based; every page when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1)]
    pub page: Option<usize>,
}

/// A page to picture (`/v1/ocr/image`), turned as it was when read so the
/// picture is in the frame of the page's word boxes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageImage {
    /// 1-based.
    #[param(minimum = 1)]
    pub page: usize,
    /// Degrees the reading turned the page counter-clockwise (its
    /// `rotation`): 0, 90, 180 or 270.
    #[serde(default)]
    pub rotation: u32,
}

/// A document checked as `/v1/ocr` checks one, and its page count
/// (`/v1/ocr/count`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PageCount {
    pub pages: usize,
    /// The languages it will be read in, validated.
    pub languages: String,
}

/// `[left, top, right, bottom]` in page pixels.
pub type BBox = [u32; 4];

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Word {
    pub text: String,
    #[schema(value_type = Vec<u32>, min_items = 4, max_items = 4)]
    pub bbox: BBox,
    /// 0 to 100.
    pub confidence: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Line {
    pub text: String,
    #[schema(value_type = Vec<u32>, min_items = 4, max_items = 4)]
    pub bbox: BBox,
    pub words: Vec<Word>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Block {
    #[schema(value_type = Vec<u32>, min_items = 4, max_items = 4)]
    pub bbox: BBox,
    pub lines: Vec<Line>,
}

/// Where a page's text came from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PageSource {
    /// Recognized by Tesseract.
    Ocr,
    /// A PDF page's own text.
    TextLayer,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Page {
    /// 1-based.
    pub page: usize,
    pub width: u32,
    pub height: u32,
    pub text: String,
    pub mean_confidence: i32,
    pub seconds: f64,
    /// Clockwise rotation (0, 90, 180, 270) detected and undone; `width`,
    /// `height` and boxes refer to the page after it was turned back.
    pub rotation: u32,
    pub source: PageSource,
    /// Set when this page could not be read; the other pages still are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub blocks: Vec<Block>,
}

impl Page {
    /// Page `number` before anything was read of it.
    pub fn blank(number: usize) -> Self {
        Self {
            page: number,
            width: 0,
            height: 0,
            text: String::new(),
            mean_confidence: 0,
            seconds: 0.0,
            rotation: 0,
            source: PageSource::Ocr,
            error: None,
            blocks: Vec::new(),
        }
    }

    /// Every word of the page, in reading order.
    pub fn words(&self) -> impl Iterator<Item = &Word> {
        self.blocks
            .iter()
            .flat_map(|b| &b.lines)
            .flat_map(|l| &l.words)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Document {
    pub languages: String,
    /// All pages' text, separated by form feeds.
    pub text: String,
    pub pages: Vec<Page>,
}

impl Document {
    /// The document of these pages, their text joined by form feeds.
    pub fn of_pages(languages: String, pages: Vec<Page>) -> Self {
        let text = pages
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join("\u{c}");
        Self {
            languages,
            text,
            pages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_reads_back_what_it_wrote() {
        let mut page = Page::blank(2);
        page.source = PageSource::TextLayer;
        page.blocks.push(Block {
            bbox: [0, 0, 10, 10],
            lines: vec![Line {
                text: "a b".into(),
                bbox: [0, 0, 10, 10],
                words: vec![
                    Word {
                        text: "a".into(),
                        bbox: [0, 0, 4, 10],
                        confidence: 90.0,
                    },
                    Word {
                        text: "b".into(),
                        bbox: [6, 0, 10, 10],
                        confidence: 80.0,
                    },
                ],
            }],
        });
        let json = serde_json::to_string(&page).unwrap();
        assert!(json.contains(r#""source":"text-layer""#), "{json}");
        assert!(!json.contains("error"), "{json}");
        let back: Page = serde_json::from_str(&json).unwrap();
        assert_eq!(back, page);
        let words: Vec<_> = back.words().map(|w| w.text.as_str()).collect();
        assert_eq!(words, ["a", "b"]);
    }
}
