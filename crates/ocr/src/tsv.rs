//! Tesseract's TSV output turned into pages, blocks, lines and words with
//! bounding boxes and confidences.

pub use wire::ocr::{BBox, Block, Line, Word};

fn bbox(f: &[&str]) -> Option<BBox> {
    let n: Vec<u32> = f[6..10]
        .iter()
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    Some([n[0], n[1], n[0] + n[2], n[1] + n[3]])
}

/// Whether most lines of a page run down the page rather than across:
/// Tesseract reads text turned by 90 or 270 degrees as vertical lines,
/// well, which says the page is turned although it read well.
pub fn mostly_vertical(blocks: &[Block]) -> bool {
    let lines = blocks.iter().flat_map(|b| &b.lines);
    let (vertical, all) = lines.fold((0usize, 0usize), |(v, n), l| {
        let [left, top, right, bottom] = l.bbox;
        (
            v + usize::from(bottom.saturating_sub(top) > right.saturating_sub(left)),
            n + 1,
        )
    });
    all > 0 && vertical * 2 > all
}

/// Parse one page's TSV (levels: 1 page, 2 block, 3 paragraph, 4 line, 5 word).
pub fn parse(tsv: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for row in tsv.lines() {
        let f: Vec<&str> = row.split('\t').collect();
        if f.len() < 12 {
            continue;
        }
        let Some(b) = bbox(&f) else { continue };
        match f[0] {
            "2" => blocks.push(Block {
                bbox: b,
                lines: Vec::new(),
            }),
            "4" => {
                if let Some(block) = blocks.last_mut() {
                    block.lines.push(Line {
                        text: String::new(),
                        bbox: b,
                        words: Vec::new(),
                    });
                }
            }
            "5" => {
                let text = f[11..].join("\t");
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                let confidence = f[10].parse::<f32>().unwrap_or(0.0).max(0.0);
                if let Some(line) = blocks.last_mut().and_then(|bl| bl.lines.last_mut()) {
                    if !line.text.is_empty() {
                        line.text.push(' ');
                    }
                    line.text.push_str(text);
                    line.words.push(Word {
                        text: text.to_owned(),
                        bbox: b,
                        confidence,
                    });
                }
            }
            _ => {}
        }
    }
    for block in &mut blocks {
        block.lines.retain(|l| !l.words.is_empty());
    }
    blocks.retain(|b| !b.lines.is_empty());
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels_into_a_tree() {
        let tsv = "1\t1\t0\t0\t0\t0\t0\t0\t100\t50\t-1\t\n\
                   2\t1\t1\t0\t0\t0\t5\t5\t90\t40\t-1\t\n\
                   3\t1\t1\t1\t0\t0\t5\t5\t90\t40\t-1\t\n\
                   4\t1\t1\t1\t1\t0\t5\t5\t90\t20\t-1\t\n\
                   5\t1\t1\t1\t1\t1\t5\t5\t40\t20\t96.5\tBonjour\n\
                   5\t1\t1\t1\t1\t2\t50\t5\t45\t20\t91\tmonde\n";
        let blocks = parse(tsv);
        assert_eq!(blocks.len(), 1);
        let line = &blocks[0].lines[0];
        assert_eq!(line.text, "Bonjour monde");
        assert_eq!(line.words[1].bbox, [50, 5, 95, 25]);
        assert!((line.words[0].confidence - 96.5).abs() < 1e-6);
    }

    #[test]
    fn lines_running_down_the_page_are_vertical() {
        let line = |[l, t, w, h]: [u32; 4]| Line {
            text: String::new(),
            bbox: [l, t, l + w, t + h],
            words: Vec::new(),
        };
        let block = |lines| Block {
            bbox: [0, 0, 1000, 1000],
            lines,
        };
        let across = [block(vec![
            line([10, 10, 900, 40]),
            line([10, 60, 700, 40]),
        ])];
        let down = [
            block(vec![line([10, 10, 40, 900]), line([60, 10, 40, 700])]),
            block(vec![line([0, 0, 90, 30])]),
        ];
        assert!(!mostly_vertical(&across));
        assert!(mostly_vertical(&down));
        assert!(!mostly_vertical(&[]));
        assert!(!mostly_vertical(&[block(Vec::new())]));
    }
}
