//! Words, lines and blocks of a born-digital page, from its characters and
//! their boxes (PDFium's), so a text-layer page has word positions like a
//! recognized one.

use wire::ocr::{BBox, Block, Line, Word};

/// One character of a page's text, its box in page pixels when it has one.
#[derive(Debug, Clone, Copy)]
pub struct Glyph {
    pub c: char,
    pub bbox: Option<BBox>,
}

/// Group characters into words (split at white space), lines (at a line
/// break, or when a character sits on another line) and blocks (at a gap
/// between lines taller than a line).
pub fn blocks(glyphs: impl IntoIterator<Item = Glyph>) -> Vec<Block> {
    let mut lines: Vec<Line> = Vec::new();
    let mut line: Vec<Word> = Vec::new();
    let mut word: Option<(String, BBox)> = None;
    for glyph in glyphs {
        let Some(bbox) = glyph.bbox.filter(|_| !glyph.c.is_whitespace()) else {
            end_word(&mut word, &mut line);
            if matches!(glyph.c, '\n' | '\r' | '\u{2028}' | '\u{2029}') {
                end_line(&mut line, &mut lines);
            }
            continue;
        };
        if let Some(last) = line.last().map(|w| w.bbox).or(word.as_ref().map(|w| w.1)) {
            if !same_line(last, bbox) {
                end_word(&mut word, &mut line);
                end_line(&mut line, &mut lines);
            }
        }
        match &mut word {
            Some((text, b)) => {
                text.push(glyph.c);
                *b = union(*b, bbox);
            }
            None => word = Some((glyph.c.to_string(), bbox)),
        }
    }
    end_word(&mut word, &mut line);
    end_line(&mut line, &mut lines);
    group(lines)
}

fn end_word(word: &mut Option<(String, BBox)>, line: &mut Vec<Word>) {
    if let Some((text, bbox)) = word.take() {
        line.push(Word {
            text,
            bbox,
            confidence: 100.0,
        });
    }
}

fn end_line(line: &mut Vec<Word>, lines: &mut Vec<Line>) {
    if line.is_empty() {
        return;
    }
    let words = std::mem::take(line);
    let bbox = words
        .iter()
        .map(|w| w.bbox)
        .reduce(union)
        .unwrap_or_default();
    let text = words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    lines.push(Line { text, bbox, words });
}

/// Lines into blocks: a new block where the gap above a line is taller
/// than the line itself.
fn group(lines: Vec<Line>) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for line in lines {
        let gap = blocks
            .last()
            .and_then(|b| b.lines.last())
            .map(|above| i64::from(line.bbox[1]) - i64::from(above.bbox[3]));
        let height = i64::from(line.bbox[3].saturating_sub(line.bbox[1]));
        match (blocks.last_mut(), gap) {
            (Some(block), Some(gap)) if gap <= height.max(1) => {
                block.bbox = union(block.bbox, line.bbox);
                block.lines.push(line);
            }
            _ => blocks.push(Block {
                bbox: line.bbox,
                lines: vec![line],
            }),
        }
    }
    blocks
}

/// Whether `b` is on the same line as `a`: its vertical middle within
/// `a`'s height.
fn same_line(a: BBox, b: BBox) -> bool {
    let middle = (b[1] + b[3]) / 2;
    middle >= a[1] && middle <= a[3]
}

fn union(a: BBox, b: BBox) -> BBox {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Characters of `text` 10 px wide on line `row` (20 px tall), spaces and
    /// line breaks without a box, as PDFium gives generated ones.
    fn glyphs(rows: &[(u32, &str)]) -> Vec<Glyph> {
        let mut out = Vec::new();
        for (row, text) in rows {
            let top = row * 20;
            for (i, c) in text.chars().enumerate() {
                let left = i as u32 * 10;
                let bbox = (!c.is_whitespace()).then_some([left, top, left + 8, top + 16]);
                out.push(Glyph { c, bbox });
            }
            out.push(Glyph {
                c: '\n',
                bbox: None,
            });
        }
        out
    }

    #[test]
    fn words_have_the_union_of_their_characters_boxes() {
        let blocks = blocks(glyphs(&[(0, "Bonjour le  monde")]));
        assert_eq!(blocks.len(), 1);
        let line = &blocks[0].lines[0];
        let words: Vec<_> = line
            .words
            .iter()
            .map(|w| (w.text.as_str(), w.bbox))
            .collect();
        assert_eq!(
            words,
            [
                ("Bonjour", [0, 0, 68, 16]),
                ("le", [80, 0, 98, 16]),
                ("monde", [120, 0, 168, 16])
            ]
        );
        assert_eq!(line.text, "Bonjour le monde");
        assert_eq!(line.bbox, [0, 0, 168, 16]);
    }

    #[test]
    fn a_character_on_another_line_starts_a_line_even_without_a_break() {
        let mut g = glyphs(&[(0, "haut")]);
        g.pop();
        g.extend(glyphs(&[(1, "bas")]));
        let blocks = blocks(g);
        let lines: Vec<_> = blocks
            .iter()
            .flat_map(|b| &b.lines)
            .map(|l| l.text.as_str())
            .collect();
        assert_eq!(lines, ["haut", "bas"]);
    }

    #[test]
    fn a_tall_gap_between_lines_starts_a_block() {
        let blocks = blocks(glyphs(&[(0, "one"), (1, "two"), (4, "three")]));
        let shape: Vec<Vec<_>> = blocks
            .iter()
            .map(|b| b.lines.iter().map(|l| l.text.as_str()).collect())
            .collect();
        assert_eq!(shape, [vec!["one", "two"], vec!["three"]]);
        assert_eq!(blocks[0].bbox, [0, 0, 28, 36]);
    }

    #[test]
    fn nothing_but_white_space_is_no_block() {
        assert!(blocks(glyphs(&[(0, "   "), (1, "")])).is_empty());
    }
}
