//! The one normalization of text that both search backends index and
//! query: lower case, split at anything that is not a letter or a digit,
//! stemmed twice (in English and in French, so that either language's
//! inflections find each other), then accents and ligatures folded.
//! Stemming comes before folding because the French stemmer reads the
//! accents of suffixes ("facturées" and "facture" share "factur").

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));
static FRENCH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::French));

/// A token's stems, one per indexed language.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Stems {
    pub en: String,
    pub fr: String,
}

impl Stems {
    /// The stems of a token as [`tokens`] gives it.
    pub fn of(token: &str) -> Self {
        Self {
            en: fold(&ENGLISH.stem(token)),
            fr: fold(&FRENCH.stem(token)),
        }
    }
}

/// Lower case without accents: "Château" and "chateau" are one word, so
/// are "Œuvre" and "oeuvre".
pub fn fold(text: &str) -> String {
    // ASCII has no accents to remove: only the case to lower.
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.nfd().filter(|c| !is_combining_mark(*c)) {
        match c {
            'œ' | 'Œ' => out.push_str("oe"),
            'æ' | 'Æ' => out.push_str("ae"),
            'ß' => out.push_str("ss"),
            'ø' | 'Ø' => out.push('o'),
            'ł' | 'Ł' => out.push('l'),
            'đ' | 'Đ' => out.push('d'),
            'ı' => out.push('i'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Longer runs of letters are not words (a key, an encoded blob); neither
/// backend indexes them (PostgreSQL refuses lexemes over 2 KiB).
const MAX_TOKEN_CHARS: usize = 64;

/// Tokens indexed per page and column: both columns' positions then fit
/// PostgreSQL's 16,383.
const MAX_PAGE_TOKENS: usize = 8_191;

/// The lower-case words of `text`, in order, accents kept for the stemmers.
pub fn tokens(text: &str) -> Vec<String> {
    // Most words are already composed (NFC), and ASCII ones need only
    // their case lowered: neither pays for normalizing.
    let lowered = if text.is_ascii() {
        text.to_ascii_lowercase()
    } else if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        text.chars().flat_map(char::to_lowercase).collect()
    } else {
        text.nfc().flat_map(char::to_lowercase).collect()
    };
    lowered
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && t.chars().count() <= MAX_TOKEN_CHARS)
        .map(str::to_owned)
        .collect()
}

/// What the index holds for a page: its tokens' stems in order, one
/// space-separated string per language (positions line up, so phrases
/// can be matched).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageTerms {
    pub en: String,
    pub fr: String,
}

impl PageTerms {
    pub fn of<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        let mut terms = Self::default();
        for token in words.into_iter().flat_map(tokens).take(MAX_PAGE_TOKENS) {
            let stems = Stems::of(&token);
            for (column, stem) in [(&mut terms.en, stems.en), (&mut terms.fr, stems.fr)] {
                if !column.is_empty() {
                    column.push(' ');
                }
                column.push_str(&stem);
            }
        }
        terms
    }

    /// The index text of a page: its words where it has them (their
    /// positions are what hits point at), else its text.
    pub fn of_page(page: &wire::ocr::Page) -> Self {
        if page.words().next().is_some() {
            Self::of(page.words().map(|w| w.text.as_str()))
        } else {
            Self::of([page.text.as_str()])
        }
    }

    /// A PostgreSQL `tsvector` literal: English stems weighted A at
    /// positions 1..n, French stems weighted B after them, taken verbatim
    /// (no PostgreSQL parser or dictionary in between).
    pub fn tsvector(&self) -> String {
        use std::collections::BTreeMap;
        let mut lexemes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let en: Vec<&str> = self.en.split(' ').filter(|s| !s.is_empty()).collect();
        let offset = en.len();
        // Pages hold at most 8,191 tokens: positions stay within 16,383.
        let position = |i: usize| i + 1;
        for (i, stem) in en.iter().enumerate() {
            lexemes
                .entry(stem)
                .or_default()
                .push(format!("{}A", position(i)));
        }
        for (i, stem) in self.fr.split(' ').filter(|s| !s.is_empty()).enumerate() {
            let at = position(offset + i);
            lexemes.entry(stem).or_default().push(format!("{at}B"));
        }
        lexemes
            .iter()
            .map(|(lexeme, at)| format!("'{lexeme}':{}", at.join(",")))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_case_and_ligatures_fold() {
        assert_eq!(
            fold("Château ÉTÉ Œuvre naïve Straße"),
            "chateau ete oeuvre naive strasse"
        );
        assert_eq!(
            tokens("l'Hôtel-Dieu, 12 rue"),
            ["l", "hôtel", "dieu", "12", "rue"]
        );
        // Decomposed accents are one word with their letter.
        assert_eq!(tokens("Cha\u{302}teau"), ["château"]);
        assert_eq!(Stems::of("château"), Stems::of("chateau"));
    }

    #[test]
    fn the_shortcuts_for_ascii_and_composed_text_change_nothing() {
        // Every text normalized in full, as before the shortcuts.
        let slow_tokens = |text: &str| -> Vec<String> {
            text.nfc()
                .flat_map(char::to_lowercase)
                .collect::<String>()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|t| !t.is_empty() && t.chars().count() <= MAX_TOKEN_CHARS)
                .map(str::to_owned)
                .collect()
        };
        let slow_fold = |text: &str| -> String {
            text.nfd()
                .filter(|c| !is_combining_mark(*c))
                .flat_map(char::to_lowercase)
                .collect()
        };
        let long = "x".repeat(MAX_TOKEN_CHARS + 1);
        for text in [
            "Invoice No. 4521-B, DUE 12/03!",
            "l'Hôtel-Dieu, ÉTÉ",
            "Cha\u{302}teau",
            "naïve café Ünïcode",
            "tab\tand_underscore",
            long.as_str(),
            "",
        ] {
            assert_eq!(tokens(text), slow_tokens(text), "{text:?}");
        }
        for text in ["ASCII Only 42", "Where-IS it?"] {
            assert_eq!(fold(text), slow_fold(text), "{text:?}");
        }
    }

    #[test]
    fn plurals_and_verb_forms_share_a_stem_in_either_language() {
        let same = |a: &str, b: &str| {
            let (a, b) = (Stems::of(a), Stems::of(b));
            a.en == b.en || a.fr == b.fr
        };
        for (a, b) in [
            ("réunions", "réunion"),
            ("invoices", "invoice"),
            ("reunions", "réunion"),
            ("paying", "pays"),
            ("facturées", "facture"),
            ("mangé", "manger"),
            ("finissons", "finir"),
            ("déclarées", "déclaration"),
            ("chevaux", "cheval"),
            ("running", "runs"),
        ] {
            assert!(same(a, b), "{a} / {b}");
        }
        assert!(!same("invoice", "voice"));
        assert!(!same("chat", "château"));
    }

    #[test]
    fn page_terms_keep_positions_in_both_columns() {
        let terms = PageTerms::of(["Les réunions", "du Conseil"]);
        assert_eq!(terms.en.split(' ').count(), 4);
        assert_eq!(terms.fr.split(' ').count(), 4);
        assert!(terms.fr.contains("reunion"), "{}", terms.fr);
        let v = terms.tsvector();
        // "réunions" is the second word: English position 2, French 4 + 2.
        assert!(v.contains("'reunion':2A,6B"), "{v}");
        assert!(v.contains("'les':1A"), "{v}");
    }

    #[test]
    fn runs_too_long_for_words_and_tokens_past_a_page_s_share_are_left_out() {
        let blob = "x".repeat(MAX_TOKEN_CHARS + 1);
        assert_eq!(tokens(&format!("a {blob} b")), ["a", "b"]);
        let huge = "mot ".repeat(MAX_PAGE_TOKENS + 100);
        let terms = PageTerms::of([huge.as_str()]);
        assert_eq!(terms.en.split(' ').count(), MAX_PAGE_TOKENS);
        let v = terms.tsvector();
        assert!(
            v.contains(&format!("{}B", 2 * MAX_PAGE_TOKENS)),
            "the last position"
        );
    }

    #[test]
    fn a_tsvector_literal_has_nothing_to_escape() {
        let terms = PageTerms::of(["it's \"quoted\" \\ 'here' a:b"]);
        let v = terms.tsvector();
        let lexemes: Vec<&str> = v.split(' ').collect();
        for l in &lexemes {
            let word = l.split(':').next().unwrap();
            assert!(word.starts_with('\'') && word.ends_with('\''), "{l}");
            assert!(
                !word[1..word.len() - 1].contains(['\'', '\\', ':', ' ']),
                "{l}"
            );
        }
    }
}
