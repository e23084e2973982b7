//! What a user types in the search box, parsed once and written out for
//! either backend: words (all of them must be on the page), `"quoted
//! phrases"`, prefixes (`tann*`), and `-exclusions` of a word or phrase.

use super::terms::{tokens, Stems};

/// Longest query read, in characters, and most pieces in one.
const MAX_CHARS: usize = 512;
const MAX_PIECES: usize = 32;

/// A word or a phrase: tokens that must follow each other on the page;
/// `prefix`: the last one only has to begin that way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub tokens: Vec<Stems>,
    pub prefix: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub include: Vec<Piece>,
    pub exclude: Vec<Piece>,
    /// A page matches with any one of `include` (the retrieval of asking),
    /// rather than all of them (the search box).
    pub any: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the search has no word to look for")]
    Empty,
    #[error("the search only excludes words: add one to look for")]
    OnlyExclusions,
    #[error(
        "the search is too long (at most {MAX_CHARS} characters and {MAX_PIECES} words or phrases)"
    )]
    TooLong,
}

impl std::str::FromStr for Query {
    type Err = QueryError;

    fn from_str(q: &str) -> Result<Self, QueryError> {
        if q.chars().count() > MAX_CHARS {
            return Err(QueryError::TooLong);
        }
        let mut query = Query {
            include: Vec::new(),
            exclude: Vec::new(),
            any: false,
        };
        let mut rest = q.trim_start();
        while !rest.is_empty() {
            let negated = rest.starts_with('-');
            if negated {
                rest = &rest[1..];
            }
            let (text, after) = if let Some(quoted) = rest.strip_prefix('"') {
                quoted.split_once('"').unwrap_or((quoted, ""))
            } else {
                rest.split_once(char::is_whitespace).unwrap_or((rest, ""))
            };
            rest = after.trim_start();
            let prefix = text.ends_with('*');
            let tokens: Vec<Stems> = tokens(text).iter().map(|t| Stems::of(t)).collect();
            if tokens.is_empty() {
                continue;
            }
            let piece = Piece { tokens, prefix };
            if negated {
                query.exclude.push(piece);
            } else {
                query.include.push(piece);
            }
            if query.include.len() + query.exclude.len() > MAX_PIECES {
                return Err(QueryError::TooLong);
            }
        }
        match (query.include.is_empty(), query.exclude.is_empty()) {
            (true, true) => Err(QueryError::Empty),
            (true, false) => Err(QueryError::OnlyExclusions),
            _ => Ok(query),
        }
    }
}

impl Piece {
    fn column(&self, pick: fn(&Stems) -> &str) -> String {
        self.tokens.iter().map(pick).collect::<Vec<_>>().join(" ")
    }

    /// SQLite FTS5: the piece in the English column or the French one.
    fn fts5(&self) -> String {
        let star = if self.prefix { " *" } else { "" };
        format!(
            "(en : \"{}\"{star} OR fr : \"{}\"{star})",
            self.column(|s| &s.en),
            self.column(|s| &s.fr)
        )
    }

    /// PostgreSQL: the piece among the A-weighted (English) lexemes or the
    /// B-weighted (French) ones.
    fn tsquery(&self) -> String {
        let side = |pick: fn(&Stems) -> &str, weight: char| {
            let last = self.tokens.len() - 1;
            let lexemes: Vec<String> = self
                .tokens
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let star = if self.prefix && i == last { "*" } else { "" };
                    format!("'{}':{star}{weight}", pick(s))
                })
                .collect();
            format!("({})", lexemes.join(" <-> "))
        };
        format!("({} | {})", side(|s| &s.en, 'A'), side(|s| &s.fr, 'B'))
    }
}

impl Query {
    /// Pages with any one of these words (each stems of one token).
    pub fn any_of(words: Vec<Stems>) -> Option<Self> {
        let include: Vec<Piece> = words
            .into_iter()
            .take(MAX_PIECES)
            .map(|stems| Piece {
                tokens: vec![stems],
                prefix: false,
            })
            .collect();
        (!include.is_empty()).then_some(Self {
            include,
            exclude: Vec::new(),
            any: true,
        })
    }

    /// An FTS5 `MATCH` expression over the `en` and `fr` columns.
    pub fn fts5(&self) -> String {
        let mut out = format!(
            "({})",
            self.include
                .iter()
                .map(Piece::fts5)
                .collect::<Vec<_>>()
                .join(if self.any { " OR " } else { " AND " })
        );
        for piece in &self.exclude {
            out = format!("({out} NOT {})", piece.fts5());
        }
        out
    }

    /// A `tsquery` literal, to be cast rather than parsed.
    pub fn tsquery(&self) -> String {
        let exclude = self.exclude.iter().map(|p| format!("!{}", p.tsquery()));
        std::iter::once(self.tsquery_included())
            .chain(exclude)
            .collect::<Vec<_>>()
            .join(" & ")
    }

    /// What is looked for, exclusions aside: a `tsquery` literal.
    pub fn tsquery_included(&self) -> String {
        let include: Vec<String> = self.include.iter().map(Piece::tsquery).collect();
        if self.any {
            format!("({})", include.join(" | "))
        } else {
            include.join(" & ")
        }
    }

    /// The excluded pieces, a page with any of them being out: a `tsquery`
    /// literal. Asked apart, PostgreSQL estimates how many pages they leave
    /// (`a & !b` as one query it takes for almost none, and plans for that).
    pub fn tsquery_excluded(&self) -> Option<String> {
        let exclude: Vec<String> = self.exclude.iter().map(Piece::tsquery).collect();
        (!exclude.is_empty()).then(|| exclude.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Query {
        q.parse().unwrap()
    }

    #[test]
    fn words_phrases_prefixes_and_exclusions() {
        let q = parse(r#"Réunions "conseil municipal" tann* -brouillon -"ordre du jour""#);
        assert_eq!(q.include.len(), 3);
        assert_eq!(q.include[0].tokens, [Stems::of("réunions")]);
        assert_eq!(q.include[1].tokens.len(), 2);
        assert!(q.include[2].prefix && !q.include[0].prefix);
        assert_eq!(q.exclude.len(), 2);
        assert_eq!(q.exclude[1].tokens.len(), 3);
    }

    #[test]
    fn any_of_its_words_is_an_or() {
        let [pump, warranty] = ["pump", "warranty"].map(Stems::of);
        let q = Query::any_of(vec![pump.clone(), warranty.clone()]).unwrap();
        assert_eq!(
            q.fts5(),
            format!(
                "((en : \"{}\" OR fr : \"{}\") OR (en : \"{}\" OR fr : \"{}\"))",
                pump.en, pump.fr, warranty.en, warranty.fr
            )
        );
        assert_eq!(
            q.tsquery(),
            format!(
                "((('{}':A) | ('{}':B)) | (('{}':A) | ('{}':B)))",
                pump.en, pump.fr, warranty.en, warranty.fr
            )
        );
        assert_eq!(Query::any_of(Vec::new()), None);
    }

    #[test]
    fn a_word_with_punctuation_inside_is_a_phrase() {
        let q = parse("l'invoice");
        assert_eq!(q.include[0].tokens.len(), 2);
    }

    #[test]
    fn empty_exclusive_and_huge_searches_are_refused() {
        assert_eq!("".parse::<Query>(), Err(QueryError::Empty));
        assert_eq!(" \"\" *** - ".parse::<Query>(), Err(QueryError::Empty));
        assert_eq!("-draft".parse::<Query>(), Err(QueryError::OnlyExclusions));
        let many = vec!["w"; 40].join(" ");
        assert_eq!(many.parse::<Query>(), Err(QueryError::TooLong));
        assert_eq!("a".repeat(600).parse::<Query>(), Err(QueryError::TooLong));
    }

    #[test]
    fn both_backends_get_the_same_logic() {
        let q = parse(r#"invoices "due date" tax* -draft"#);
        let [inv, due, date, tax, draft] =
            ["invoices", "due", "date", "tax", "draft"].map(Stems::of);
        assert_eq!(
            q.fts5(),
            format!(
                "(((en : \"{}\" OR fr : \"{}\") AND (en : \"{} {}\" OR fr : \"{} {}\") \
                 AND (en : \"{}\" * OR fr : \"{}\" *)) NOT (en : \"{}\" OR fr : \"{}\"))",
                inv.en,
                inv.fr,
                due.en,
                date.en,
                due.fr,
                date.fr,
                tax.en,
                tax.fr,
                draft.en,
                draft.fr
            )
        );
        assert_eq!(
            q.tsquery(),
            format!(
                "(('{}':A) | ('{}':B)) & (('{}':A <-> '{}':A) | ('{}':B <-> '{}':B)) \
                 & (('{}':*A) | ('{}':*B)) & !(('{}':A) | ('{}':B))",
                inv.en,
                inv.fr,
                due.en,
                date.en,
                due.fr,
                date.fr,
                tax.en,
                tax.fr,
                draft.en,
                draft.fr
            )
        );
    }

    #[test]
    fn exclusions_split_off_for_postgresql() {
        let q = parse(r#"invoices -draft -"due date""#);
        let [inv, draft, due, date] = ["invoices", "draft", "due", "date"].map(Stems::of);
        assert_eq!(
            q.tsquery_included(),
            format!("(('{}':A) | ('{}':B))", inv.en, inv.fr)
        );
        assert_eq!(
            q.tsquery_excluded().unwrap(),
            format!(
                "(('{}':A) | ('{}':B)) | (('{}':A <-> '{}':A) | ('{}':B <-> '{}':B))",
                draft.en, draft.fr, due.en, date.en, due.fr, date.fr
            )
        );
        assert_eq!(parse("invoices").tsquery_excluded(), None);
    }

    #[test]
    fn quotes_and_operators_typed_by_a_user_stay_words() {
        let q = parse(r#"a"b OR NOT c) ' : \"#);
        for s in [q.fts5(), q.tsquery()] {
            assert_eq!(s.matches('"').count() % 2, 0, "{s}");
            assert!(!s.contains('\\'), "{s}");
        }
    }
}
