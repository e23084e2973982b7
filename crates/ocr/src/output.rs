//! A recognized document as text, hOCR or TSV, each written from the typed
//! pages (`wire::ocr::Page`): every page has them, recognized or taken from
//! a PDF's own text, and positions are whatever the page holds (already in
//! the page's own pixels), so no output is ever edited after the fact.

use std::fmt::Write;

use wire::ocr::{BBox, Document, Page};

/// Plain text, pages separated by form feeds.
pub fn text(doc: &Document) -> String {
    doc.text.clone()
}

/// One XHTML hOCR document holding every page: `ocr_page`, then per block
/// an `ocr_carea` holding one `ocr_par`, its `ocr_line`s and their
/// `ocrx_word`s, each with its `bbox`; words with their confidence
/// (`x_wconf`).
pub fn hocr(doc: &Document) -> String {
    let mut out = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" ",
        "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n",
        "<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n<head>\n",
        "<title>OCR</title>\n",
        "<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n",
        "<meta name=\"ocr-system\" content=\"scriptorium (tesseract)\"/>\n",
        "<meta name=\"ocr-capabilities\" content=\"ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf\"/>\n",
        "</head>\n<body>\n",
    ));
    for page in &doc.pages {
        hocr_page(&mut out, page);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn hocr_page(out: &mut String, page: &Page) {
    let p = page.page;
    let _ = writeln!(
        out,
        " <div class='ocr_page' id='page_{p}' title='bbox 0 0 {} {}; ppageno {}'>",
        page.width,
        page.height,
        p.saturating_sub(1)
    );
    let mut line_no = 0;
    let mut word_no = 0;
    for (b, block) in page.blocks.iter().enumerate() {
        let b = b + 1;
        let _ = writeln!(
            out,
            "  <div class='ocr_carea' id='block_{p}_{b}' title='{}'>",
            bbox(block.bbox)
        );
        let _ = writeln!(
            out,
            "   <p class='ocr_par' id='par_{p}_{b}' title='{}'>",
            bbox(block.bbox)
        );
        for line in &block.lines {
            line_no += 1;
            let _ = write!(
                out,
                "    <span class='ocr_line' id='line_{p}_{line_no}' title='{}'>",
                bbox(line.bbox)
            );
            for (i, word) in line.words.iter().enumerate() {
                word_no += 1;
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(
                    out,
                    "<span class='ocrx_word' id='word_{p}_{word_no}' title='{}; x_wconf {}'>{}</span>",
                    bbox(word.bbox),
                    word.confidence.round() as i32,
                    escaped(&word.text)
                );
            }
            out.push_str("</span>\n");
        }
        out.push_str("   </p>\n  </div>\n");
    }
    out.push_str(" </div>\n");
}

fn bbox([l, t, r, b]: BBox) -> String {
    format!("bbox {l} {t} {r} {b}")
}

/// Text as XML character data (and attribute values).
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Characters XML 1.0 does not allow at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The header line of the TSV, Tesseract's columns.
pub const TSV_HEADER: &str =
    "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n";

/// Tesseract's TSV columns, one row per page (level 1), block (2, with one
/// paragraph, 3, of the same box), line (4) and word (5); `page_num` counts
/// from 1, the others within their parent; `conf` is -1 but for words.
pub fn tsv(doc: &Document) -> String {
    let mut out = String::from(TSV_HEADER);
    for page in &doc.pages {
        tsv_page(&mut out, page);
    }
    out
}

fn tsv_page(out: &mut String, page: &Page) {
    let p = page.page;
    let mut row = |level: u8, numbers: [usize; 4], [l, t, r, b]: BBox, conf: f32, text: &str| {
        let [block, par, line, word] = numbers;
        let (w, h) = (r.saturating_sub(l), b.saturating_sub(t));
        let conf = if level == 5 {
            format!("{conf}")
        } else {
            "-1".into()
        };
        // A tab or line break inside a word would break the table.
        let text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let _ = writeln!(
            out,
            "{level}\t{p}\t{block}\t{par}\t{line}\t{word}\t{l}\t{t}\t{w}\t{h}\t{conf}\t{text}"
        );
    };
    row(1, [0; 4], [0, 0, page.width, page.height], -1.0, "");
    for (b, block) in page.blocks.iter().enumerate() {
        let b = b + 1;
        row(2, [b, 0, 0, 0], block.bbox, -1.0, "");
        row(3, [b, 1, 0, 0], block.bbox, -1.0, "");
        for (l, line) in block.lines.iter().enumerate() {
            let l = l + 1;
            row(4, [b, 1, l, 0], line.bbox, -1.0, "");
            for (w, word) in line.words.iter().enumerate() {
                row(5, [b, 1, l, w + 1], word.bbox, word.confidence, &word.text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsv;
    use wire::ocr::{Block, Line, PageSource, Word};

    fn word(text: &str, bbox: BBox, confidence: f32) -> Word {
        Word {
            text: text.into(),
            bbox,
            confidence,
        }
    }

    fn doc() -> Document {
        let mut first = Page::blank(1);
        (first.width, first.height) = (400, 200);
        first.blocks = vec![Block {
            bbox: [10, 20, 300, 90],
            lines: vec![
                Line {
                    text: "Fish & <chips>".into(),
                    bbox: [10, 20, 300, 50],
                    words: vec![
                        word("Fish", [10, 20, 80, 50], 96.4),
                        word("&", [90, 20, 110, 50], 71.0),
                        word("<chips>", [120, 20, 300, 50], 88.5),
                    ],
                },
                Line {
                    text: "l'été".into(),
                    bbox: [10, 60, 120, 90],
                    words: vec![word("l'été", [10, 60, 120, 90], 91.0)],
                },
            ],
        }];
        let mut second = Page::blank(2);
        (second.width, second.height) = (50, 40);
        second.source = PageSource::TextLayer;
        second.blocks = vec![Block {
            bbox: [1, 2, 30, 12],
            lines: vec![Line {
                text: "deux".into(),
                bbox: [1, 2, 30, 12],
                words: vec![word("deux", [1, 2, 30, 12], 100.0)],
            }],
        }];
        Document::of_pages("fra+eng".into(), vec![first, second])
    }

    #[test]
    fn tsv_reads_back_as_the_same_words() {
        let doc = doc();
        let out = tsv(&doc);
        assert!(out.starts_with(TSV_HEADER));
        for page in &doc.pages {
            let rows: String = out
                .lines()
                .skip(1)
                .filter(|r| r.split('\t').nth(1) == Some(&page.page.to_string()))
                .map(|r| format!("{r}\n"))
                .collect();
            assert_eq!(tsv::parse(&rows), page.blocks, "page {}", page.page);
        }
        assert!(
            out.contains("1\t2\t0\t0\t0\t0\t0\t0\t50\t40\t-1\t\n"),
            "{out}"
        );
        assert!(
            out.contains("5\t1\t1\t1\t1\t2\t90\t20\t20\t30\t71\t&\n"),
            "{out}"
        );
    }

    #[test]
    fn hocr_has_every_page_and_word_in_place_and_escaped() {
        let out = hocr(&doc());
        assert_eq!(out.matches("class='ocr_page'").count(), 2);
        assert!(out.contains("id='page_2' title='bbox 0 0 50 40; ppageno 1'"));
        assert_eq!(out.matches("class='ocrx_word'").count(), 5);
        assert_eq!(out.matches("class='ocr_line'").count(), 3);
        assert!(out.contains("title='bbox 120 20 300 50; x_wconf 89'>&lt;chips&gt;</span>"));
        assert!(out.contains(">&amp;</span>"));
        assert!(out.contains(">l&#39;été</span>"));
        assert!(!out.contains("<chips>"));
        // Every element that opens is closed.
        for tag in ["div", "p", "span"] {
            assert_eq!(
                out.matches(&format!("<{tag} ")).count(),
                out.matches(&format!("</{tag}>")).count(),
                "{tag}"
            );
        }
    }

    #[test]
    fn a_word_with_a_control_character_stays_on_its_row() {
        let mut doc = doc();
        doc.pages[1].blocks[0].lines[0].words[0].text = "a\tb\nc".into();
        let out = tsv(&doc);
        assert!(out.contains("\ta b c\n"), "{out}");
        // The header, 9 rows of page 1 and 5 of page 2.
        assert_eq!(out.lines().count(), 1 + 9 + 5);
    }
}
