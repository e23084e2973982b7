//! A page cut into passages (its paragraphs, a long one in pieces), and
//! which of them answer a question best: the words of the question each
//! passage holds, a word the rarer among the passages the more it counts.

use wire::ocr::{BBox, Page};

use crate::search::terms::{tokens, Stems};

/// A passage ends at the end of a paragraph once it has this many words,
/// and in any case once it has the most.
const MIN_WORDS: usize = 25;
const MAX_WORDS: usize = 90;

/// A piece of a page, with where its lines are.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    pub document_id: String,
    pub document_name: String,
    /// 1-based.
    pub page: u32,
    pub width: u32,
    pub height: u32,
    pub text: String,
    pub boxes: Vec<BBox>,
    /// Where its page ranked in the search, 0 the best.
    pub page_rank: usize,
}

/// Where a passage comes from.
pub struct Source<'a> {
    pub document_id: &'a str,
    pub document_name: &'a str,
    pub page_rank: usize,
}

struct Building {
    words: Vec<String>,
    boxes: Vec<BBox>,
}

impl Building {
    fn new() -> Self {
        Self {
            words: Vec::new(),
            boxes: Vec::new(),
        }
    }
}

/// The passages of `page`, in reading order.
pub fn split(page: &Page, source: &Source<'_>) -> Vec<Passage> {
    let mut done: Vec<Building> = Vec::new();
    let mut current = Building::new();
    let flush = |current: &mut Building, done: &mut Vec<Building>| {
        if !current.words.is_empty() {
            done.push(std::mem::replace(current, Building::new()));
        }
    };
    if page.blocks.is_empty() {
        // A page known by its text alone: paragraphs at blank lines.
        for paragraph in page.text.split("\n\n") {
            for word in paragraph.split_whitespace() {
                current.words.push(word.to_owned());
                if current.words.len() >= MAX_WORDS {
                    flush(&mut current, &mut done);
                }
            }
            if current.words.len() >= MIN_WORDS {
                flush(&mut current, &mut done);
            }
        }
    } else {
        for block in &page.blocks {
            for line in &block.lines {
                let words = line.text.split_whitespace().map(str::to_owned);
                current.words.extend(words);
                current.boxes.push(line.bbox);
                if current.words.len() >= MAX_WORDS {
                    flush(&mut current, &mut done);
                }
            }
            if current.words.len() >= MIN_WORDS {
                flush(&mut current, &mut done);
            }
        }
    }
    flush(&mut current, &mut done);
    done.into_iter()
        .map(|b| Passage {
            document_id: source.document_id.to_owned(),
            document_name: source.document_name.to_owned(),
            page: page.page as u32,
            width: page.width,
            height: page.height,
            text: b.words.join(" "),
            boxes: b.boxes,
            page_rank: source.page_rank,
        })
        .collect()
}

/// Which of `words` a text holds, by the index's own matching: a token
/// with the same English stem or the same French one.
pub fn held(text: &str, words: &[Stems]) -> Vec<bool> {
    let stems: Vec<Stems> = tokens(text).iter().map(|t| Stems::of(t)).collect();
    words
        .iter()
        .map(|w| stems.iter().any(|s| s.en == w.en || s.fr == w.fr))
        .collect()
}

/// A passage and how well it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub passage: Passage,
    pub score: f64,
    /// The question's words it holds, of all of them.
    pub coverage: f64,
}

/// `passages` best first, with their scores. `words` are what the
/// question looks for.
pub fn rank(passages: Vec<Passage>, words: &[Stems]) -> Vec<Ranked> {
    let holds: Vec<Vec<bool>> = passages.iter().map(|p| held(&p.text, words)).collect();
    let n = passages.len() as f64;
    // A word in few of the passages tells them apart; one in all of them
    // tells little.
    let weight: Vec<f64> = (0..words.len())
        .map(|i| {
            let df = holds.iter().filter(|h| h[i]).count() as f64;
            (1.0 + (n + 1.0) / (df + 1.0)).ln()
        })
        .collect();
    let mut ranked: Vec<Ranked> = passages
        .into_iter()
        .zip(holds)
        .map(|(passage, h)| {
            let score = h
                .iter()
                .zip(&weight)
                .filter(|(held, _)| **held)
                .map(|(_, w)| w)
                .sum();
            let count = h.iter().filter(|x| **x).count();
            Ranked {
                passage,
                score,
                coverage: count as f64 / words.len().max(1) as f64,
            }
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.passage.page_rank.cmp(&b.passage.page_rank))
    });
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::ocr::{Block, Line};

    fn line(text: &str, top: u32) -> Line {
        Line {
            text: text.into(),
            bbox: [10, top, 500, top + 20],
            words: Vec::new(),
        }
    }

    fn source() -> Source<'static> {
        Source {
            document_id: "d1",
            document_name: "manual.pdf",
            page_rank: 0,
        }
    }

    fn page(blocks: Vec<Block>, text: &str) -> Page {
        Page {
            width: 600,
            height: 800,
            text: text.into(),
            blocks,
            ..Page::blank(3)
        }
    }

    #[test]
    fn paragraphs_are_passages_and_short_ones_join_the_next() {
        let ten = "one two three four five six seven eight nine ten";
        let heading = Block {
            bbox: [0; 4],
            lines: vec![line("Warranty", 10)],
        };
        let body = Block {
            bbox: [0; 4],
            lines: (0..3).map(|i| line(ten, 40 + i * 30)).collect(),
        };
        let other = Block {
            bbox: [0; 4],
            lines: (0..3).map(|i| line(ten, 200 + i * 30)).collect(),
        };
        let passages = split(&page(vec![heading, body, other], ""), &source());
        assert_eq!(passages.len(), 2);
        assert!(passages[0].text.starts_with("Warranty one two"));
        assert_eq!(passages[0].boxes.len(), 4);
        assert_eq!(passages[1].boxes[0], [10, 200, 500, 220]);
        assert_eq!(passages[1].page, 3);
    }

    #[test]
    fn a_long_paragraph_is_cut() {
        let words: Vec<String> = (0..200).map(|i| format!("w{i}")).collect();
        let passages = split(&page(Vec::new(), &words.join(" ")), &source());
        assert_eq!(passages.len(), 3);
        assert!(passages
            .iter()
            .all(|p| p.text.split(' ').count() <= MAX_WORDS));
        assert!(passages[0].boxes.is_empty());
    }

    #[test]
    fn the_passage_with_the_rare_words_ranks_first() {
        let words = ["warranty", "pump", "halcyon"].map(Stems::of);
        let p = |text: &str, rank| Passage {
            text: text.into(),
            page_rank: rank,
            ..split(&page(Vec::new(), "x"), &source())[0].clone()
        };
        let ranked = rank(
            vec![
                p("the pump is blue", 0),
                p("The Halcyon pumps carry a warranty of 36 months", 1),
                p("pump pump pump", 2),
            ],
            &words,
        );
        assert!(ranked[0].passage.text.contains("36 months"));
        assert_eq!(ranked[0].coverage, 1.0);
        assert!((ranked[1].coverage - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(ranked[1].passage.page_rank, 0, "ties go to the better page");
    }
}
