//! A recognized page as the document page draws it: each word's box over
//! the uploaded image (when the boxes are in its frame) or over blank
//! paper with the word written in, coloured by confidence.

use serde::Serialize;
use wire::ocr::Page;

/// A word's box and what the page says of it.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct WordView<'a> {
    text: &'a str,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    confidence: i32,
    /// `high` (80 and up), `mid` (50 and up) or `low`.
    class: &'static str,
}

/// One page: its size, text, words, and whether the original lies under it.
#[derive(Debug, Serialize)]
pub(crate) struct PageView<'a> {
    page: usize,
    width: u32,
    height: u32,
    mean_confidence: i32,
    error: Option<&'a str>,
    text: &'a str,
    /// The uploaded image is drawn under the boxes.
    image: bool,
    words: Vec<WordView<'a>>,
}

fn class(confidence: f32) -> &'static str {
    if confidence >= 80.0 {
        "high"
    } else if confidence >= 50.0 {
        "mid"
    } else {
        "low"
    }
}

/// `page` as drawn; `original_is_image`: the original is one image a
/// browser shows, which lies under the boxes when the page was not turned.
pub(crate) fn page_view(page: &Page, original_is_image: bool) -> PageView<'_> {
    let words = page
        .blocks
        .iter()
        .flat_map(|b| &b.lines)
        .flat_map(|l| &l.words)
        .map(|w| {
            let [x0, y0, x1, y1] = w.bbox;
            WordView {
                text: &w.text,
                x: x0,
                y: y0,
                w: x1.saturating_sub(x0),
                h: y1.saturating_sub(y0),
                confidence: w.confidence.round() as i32,
                class: class(w.confidence),
            }
        })
        .collect();
    PageView {
        page: page.page,
        width: page.width,
        height: page.height,
        mean_confidence: page.mean_confidence,
        error: page.error.as_deref(),
        text: &page.text,
        image: original_is_image && page.rotation == 0,
        words,
    }
}

/// Whether browsers show an original of this media type as an image.
pub(crate) fn browser_image(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or("").trim();
    matches!(
        essence,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::ocr::{Block, Line, Word};

    fn page(rotation: u32) -> Page {
        let mut p = Page::blank(1);
        p.width = 200;
        p.height = 100;
        p.rotation = rotation;
        let words = vec![
            Word {
                text: "Invoice".into(),
                bbox: [10, 20, 70, 40],
                confidence: 91.4,
            },
            Word {
                text: "4711".into(),
                bbox: [80, 20, 120, 40],
                confidence: 42.0,
            },
        ];
        p.blocks = vec![Block {
            bbox: [10, 20, 120, 40],
            lines: vec![Line {
                text: "Invoice 4711".into(),
                bbox: [10, 20, 120, 40],
                words,
            }],
        }];
        p
    }

    #[test]
    fn every_word_is_drawn_in_its_box_with_its_confidence() {
        let p = page(0);
        let v = page_view(&p, true);
        assert!(v.image);
        assert_eq!(
            v.words,
            vec![
                WordView {
                    text: "Invoice",
                    x: 10,
                    y: 20,
                    w: 60,
                    h: 20,
                    confidence: 91,
                    class: "high",
                },
                WordView {
                    text: "4711",
                    x: 80,
                    y: 20,
                    w: 40,
                    h: 20,
                    confidence: 42,
                    class: "low",
                },
            ]
        );
    }

    #[test]
    fn a_turned_page_or_a_pdf_is_drawn_on_paper() {
        assert!(!page_view(&page(90), true).image);
        assert!(!page_view(&page(0), false).image);
    }

    #[test]
    fn only_images_browsers_show_lie_under_the_words() {
        assert!(browser_image("image/png"));
        assert!(browser_image("image/jpeg; charset=binary"));
        assert!(!browser_image("image/tiff"));
        assert!(!browser_image("application/pdf"));
    }
}
