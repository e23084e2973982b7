//! A recognized page as the document page draws it: each word's box over
//! the uploaded image (when the boxes are in its frame) or over blank
//! paper with the word written in, coloured by confidence; and the boxes a
//! citation or a search hit points at, marked on their page (carried in
//! the link as `mark=x0.y0.x1.y1,…`).

use serde::Serialize;
use wire::ocr::{BBox, Page};

/// Boxes a link marks at most.
const MAX_MARKS: usize = 64;

/// `boxes` as a link's `mark` parameter.
pub(crate) fn marks_param(boxes: &[BBox]) -> String {
    boxes
        .iter()
        .take(MAX_MARKS)
        .map(|[a, b, c, d]| format!("{a}.{b}.{c}.{d}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The boxes of a `mark` parameter; what does not read as a box is left
/// out.
pub(crate) fn parse_marks(param: &str) -> Vec<BBox> {
    param
        .split(',')
        .filter_map(|b| {
            let n: Vec<u32> = b
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            match n[..] {
                [x0, y0, x1, y1] if x0 < x1 && y0 < y1 => Some([x0, y0, x1, y1]),
                _ => None,
            }
        })
        .take(MAX_MARKS)
        .collect()
}

/// A marked box, as the page draws it.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct Mark {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

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

/// One page: its size, text, words, and whether its picture lies under it.
#[derive(Debug, Serialize)]
pub(crate) struct PageView<'a> {
    page: usize,
    width: u32,
    height: u32,
    mean_confidence: i32,
    error: Option<&'a str>,
    text: &'a str,
    /// The page's picture is drawn under the boxes.
    image: bool,
    words: Vec<WordView<'a>>,
    /// Boxes a link points at on this page.
    marks: Vec<Mark>,
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

/// `page` as drawn, over its picture when it was read (the documents
/// API pictures a read page in the frame of its boxes, whatever the
/// original's format or turn); `marks`: boxes to mark on it (those inside
/// the page).
pub(crate) fn page_view<'a>(page: &'a Page, marks: &[BBox]) -> PageView<'a> {
    let marks = marks
        .iter()
        .filter(|[_, _, x1, y1]| *x1 <= page.width && *y1 <= page.height)
        .map(|&[x0, y0, x1, y1]| Mark {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        })
        .collect();
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
        image: page.width > 0 && page.height > 0 && page.error.is_none(),
        words,
        marks,
    }
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
        let v = page_view(&p, &[]);
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
    fn a_turned_page_is_pictured_and_a_page_not_read_is_drawn_on_paper() {
        assert!(page_view(&page(90), &[]).image);
        let mut failed = page(0);
        failed.error = Some("the page could not be decoded".into());
        assert!(!page_view(&failed, &[]).image);
        let mut sizeless = page(0);
        sizeless.width = 0;
        assert!(!page_view(&sizeless, &[]).image);
    }

    #[test]
    fn marks_travel_in_a_link_and_only_boxes_on_the_page_are_drawn() {
        let boxes = [[10, 20, 70, 40], [80, 20, 120, 40], [150, 90, 400, 99]];
        let param = marks_param(&boxes);
        assert_eq!(param, "10.20.70.40,80.20.120.40,150.90.400.99");
        assert_eq!(parse_marks(&param), boxes);
        // Off the 200x100 page: not drawn.
        let p = page(0);
        let v = page_view(&p, &boxes);
        assert_eq!(v.marks.len(), 2);
        assert_eq!(
            v.marks[1],
            Mark {
                x: 80,
                y: 20,
                w: 40,
                h: 20
            }
        );
    }

    #[test]
    fn a_mark_that_is_not_a_box_is_left_out() {
        let parsed = parse_marks("1.2.3.4,nonsense,5.6.7,9.9.1.1,-1.0.2.2,,7.8.9.10");
        assert_eq!(parsed, [[1, 2, 3, 4], [7, 8, 9, 10]]);
        let many = vec!["1.1.2.2"; 500].join(",");
        assert_eq!(parse_marks(&many).len(), MAX_MARKS);
    }
}
