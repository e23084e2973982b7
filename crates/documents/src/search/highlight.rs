//! Where a search matched on a page: the words it found (their boxes, for
//! the page view) and a snippet around the first of them.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use wire::ocr::{BBox, Page};
use wire::search::SnippetPart;

use super::query::{Piece, Query};
use super::terms::{fold, tokens, Stems};

/// Words of context kept before the first hit, and the snippet's length.
const BEFORE: usize = 8;
const LENGTH: usize = 30;

/// The matched words of a page and a snippet of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Highlight {
    pub boxes: Vec<BBox>,
    pub snippet: Vec<SnippetPart>,
}

/// One token of the page and the word it belongs to; its stems (in the
/// [`Highlighter`]'s table) only when it could match (see [`first_letter`]).
struct Token {
    word: usize,
    stems: Option<usize>,
}

/// The first letter of a token, folded. Stemming only ever changes the
/// end of a word, so a token can only match a query stem that begins with
/// its first letter: the page's other tokens (nearly all) are not stemmed.
fn first_letter(token: &str) -> Option<char> {
    let first = token.chars().next()?;
    if first.is_ascii() {
        return Some(first.to_ascii_lowercase());
    }
    fold(first.encode_utf8(&mut [0; 4])).chars().next()
}

/// Matches `query`'s pieces on `page` as the index does: a piece's tokens
/// in a row, all in the English stems or all in the French ones.
pub fn highlight(page: &Page, query: &Query) -> Highlight {
    let words: Vec<(&str, Option<BBox>)> = if page.words().next().is_some() {
        page.words()
            .map(|w| (w.text.as_str(), Some(w.bbox)))
            .collect()
    } else {
        page.text.split_whitespace().map(|w| (w, None)).collect()
    };
    Highlighter::new(query).words(&words)
}

/// What highlighting reads of a stored page (`wire::ocr::Page` as JSON):
/// its size, its words and their boxes, borrowed from the JSON where they
/// can be; the rest of the page (its text again, line by line, and every
/// confidence) is skipped rather than built.
#[derive(Debug, Deserialize)]
pub struct StoredPage<'a> {
    pub width: u32,
    pub height: u32,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(borrow)]
    blocks: Vec<StoredBlock<'a>>,
}

#[derive(Debug, Deserialize)]
struct StoredBlock<'a> {
    #[serde(borrow)]
    lines: Vec<StoredLine<'a>>,
}

#[derive(Debug, Deserialize)]
struct StoredLine<'a> {
    #[serde(borrow)]
    words: Vec<StoredWord<'a>>,
}

#[derive(Debug, Deserialize)]
struct StoredWord<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
    bbox: BBox,
}

impl StoredPage<'_> {
    /// A page that cannot be read shows no words.
    pub fn blank() -> Self {
        Self {
            width: 0,
            height: 0,
            text: Cow::Borrowed(""),
            blocks: Vec::new(),
        }
    }

    fn words(&self) -> Vec<(&str, Option<BBox>)> {
        let words: Vec<(&str, Option<BBox>)> = self
            .blocks
            .iter()
            .flat_map(|b| &b.lines)
            .flat_map(|l| &l.words)
            .map(|w| (w.text.as_ref(), Some(w.bbox)))
            .collect();
        if words.is_empty() {
            self.text.split_whitespace().map(|w| (w, None)).collect()
        } else {
            words
        }
    }
}

/// Highlights the pages of one search: the stems of the pages' tokens are
/// worked out once per distinct token, whichever page it is on.
pub struct Highlighter<'q> {
    query: &'q Query,
    /// The folded first letters of the query's stems.
    firsts: Vec<char>,
    /// Each distinct token stemmed so far, and where its stems are.
    known: HashMap<String, usize>,
    stems: Vec<Stems>,
}

impl<'q> Highlighter<'q> {
    pub fn new(query: &'q Query) -> Self {
        let firsts = query
            .include
            .iter()
            .flat_map(|piece| &piece.tokens)
            .flat_map(|q| [first_letter(&q.en), first_letter(&q.fr)])
            .flatten()
            .collect();
        Self {
            query,
            firsts,
            known: HashMap::new(),
            stems: Vec::new(),
        }
    }

    pub fn stored(&mut self, page: &StoredPage<'_>) -> Highlight {
        self.words(&page.words())
    }

    fn words(&mut self, words: &[(&str, Option<BBox>)]) -> Highlight {
        let query = self.query;
        let mut stream: Vec<Token> = Vec::with_capacity(words.len());
        for (word, (text, _)) in words.iter().enumerate() {
            for t in tokens(text) {
                let stems =
                    first_letter(&t)
                        .filter(|c| self.firsts.contains(c))
                        .map(|_| match self.known.get(&t) {
                            Some(&n) => n,
                            None => {
                                self.stems.push(Stems::of(&t));
                                self.known.insert(t, self.stems.len() - 1);
                                self.stems.len() - 1
                            }
                        });
                stream.push(Token { word, stems });
            }
        }
        let mut hit = vec![false; words.len()];
        for piece in &query.include {
            for start in 0..stream.len() {
                if let Some(end) = matches_at(&stream, &self.stems, start, piece) {
                    for token in &stream[start..end] {
                        hit[token.word] = true;
                    }
                }
            }
        }
        let boxes = words
            .iter()
            .zip(&hit)
            .filter_map(|((_, bbox), hit)| bbox.filter(|_| *hit))
            .collect();
        let first = hit.iter().position(|h| *h).unwrap_or(0);
        let from = first.saturating_sub(BEFORE);
        let to = (from + LENGTH).min(words.len());
        let mut snippet: Vec<SnippetPart> = Vec::new();
        for i in from..to {
            let text = words[i].0;
            match snippet.last_mut() {
                Some(last) if last.hit == hit[i] => {
                    last.text.push(' ');
                    last.text.push_str(text);
                }
                Some(last) => {
                    // The space between goes with the words that are not hits.
                    if last.hit {
                        snippet.push(SnippetPart::new(format!(" {text}"), false));
                    } else {
                        last.text.push(' ');
                        snippet.push(SnippetPart::new(text.to_owned(), true));
                    }
                }
                None => snippet.push(SnippetPart::new(text.to_owned(), hit[i])),
            }
        }
        Highlight { boxes, snippet }
    }
}

/// The end of `piece` matched from `start`, if it matches there.
fn matches_at(stream: &[Token], stems: &[Stems], start: usize, piece: &Piece) -> Option<usize> {
    let end = start + piece.tokens.len();
    let window = stream.get(start..end)?;
    let last = piece.tokens.len() - 1;
    let side = |pick: fn(&Stems) -> &str| {
        window
            .iter()
            .zip(&piece.tokens)
            .enumerate()
            .all(|(i, (t, q))| {
                let Some(stems) = t.stems.map(|n| &stems[n]) else {
                    return false;
                };
                if piece.prefix && i == last {
                    pick(stems).starts_with(pick(q))
                } else {
                    pick(stems) == pick(q)
                }
            })
    };
    (side(|s| &s.en) || side(|s| &s.fr)).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::ocr::{Block, Line, Word};

    fn page(text: &str) -> Page {
        let mut page = Page::blank(1);
        let words = text
            .split(' ')
            .enumerate()
            .map(|(i, w)| Word {
                text: w.into(),
                bbox: [i as u32 * 100, 10, i as u32 * 100 + 90, 40],
                confidence: 90.0,
            })
            .collect();
        page.blocks.push(Block {
            bbox: [0, 0, 1000, 50],
            lines: vec![Line {
                text: text.into(),
                bbox: [0, 0, 1000, 50],
                words,
            }],
        });
        page
    }

    fn marked(h: &Highlight) -> String {
        h.snippet
            .iter()
            .map(|p| {
                if p.hit {
                    format!("[{}]", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    #[test]
    fn matched_words_have_their_boxes_and_are_marked() {
        let p = page("Compte rendu des Réunions du Château, tannerie comprise");
        let h = highlight(&p, &"reunion chateau tann*".parse().unwrap());
        assert_eq!(
            h.boxes,
            [[300, 10, 390, 40], [500, 10, 590, 40], [600, 10, 690, 40]]
        );
        assert_eq!(
            marked(&h),
            "Compte rendu des [Réunions] du [Château, tannerie] comprise"
        );
    }

    #[test]
    fn a_stored_page_highlights_as_the_page_it_was_stored_from() {
        let query: Query = "reunion chateau tann* \"due date\"".parse().unwrap();
        let mut highlighter = Highlighter::new(&query);
        let mut with_words = page("Réunions du \"Château\", tannerie\tdue date");
        with_words.width = 1000;
        with_words.height = 50;
        let mut text_only = Page::blank(2);
        text_only.text = "Une réunion au château\npuis due date".into();
        // The same highlighter for both: stems worked out for the first page
        // serve the second.
        for p in [with_words, text_only] {
            let json = serde_json::to_string(&p).unwrap();
            let stored: StoredPage = serde_json::from_str(&json).unwrap();
            assert_eq!((stored.width, stored.height), (p.width, p.height));
            let h = highlighter.stored(&stored);
            assert!(!h.snippet.is_empty());
            assert_eq!(h, highlight(&p, &query), "{json}");
        }
    }

    #[test]
    fn a_phrase_marks_its_words_only_where_they_follow_each_other() {
        let p = page("due to the date due date here");
        let h = highlight(&p, &"\"due date\"".parse().unwrap());
        assert_eq!(h.boxes, [[400, 10, 490, 40], [500, 10, 590, 40]]);
        assert_eq!(marked(&h), "due to the date [due date] here");
    }

    #[test]
    fn a_long_page_gives_a_window_around_the_first_hit() {
        let text = (0..100)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let h = highlight(&page(&text), &"w50".parse().unwrap());
        let words: Vec<String> = h.snippet.iter().map(|p| p.text.clone()).collect();
        let all = words.concat();
        assert!(all.starts_with("w42 "), "{all}");
        assert_eq!(all.split(' ').count(), LENGTH);
        assert_eq!(h.boxes.len(), 1);
    }

    #[test]
    fn a_page_without_words_marks_its_text() {
        let mut p = Page::blank(1);
        p.text = "The invoices are due".into();
        let h = highlight(&p, &"invoice".parse().unwrap());
        assert!(h.boxes.is_empty());
        assert_eq!(marked(&h), "The [invoices] are due");
    }

    #[test]
    fn words_whose_first_letter_folds_or_stems_oddly_still_match() {
        // A ligature, an accent and a capital on the first letter, a
        // leading y (which the English stemmer marks while it works).
        let p = page("Œuvres Élèves Yielding yeux Écoles");
        let h = highlight(&p, &"oeuvre eleve yield yeux ecole".parse().unwrap());
        assert_eq!(h.boxes.len(), 5, "{}", marked(&h));
        // Only the words that begin like a query word are stemmed, and a
        // word that begins otherwise is not marked.
        let h = highlight(&page("rendu des Réunions"), &"reunion".parse().unwrap());
        assert_eq!(marked(&h), "rendu des [Réunions]");
        assert_eq!(first_letter("Œuvre"), Some('o'));
        assert_eq!(first_letter("Élève"), Some('e'));
        assert_eq!(first_letter(""), None);
    }
}
