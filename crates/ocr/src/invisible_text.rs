//! The invisible text layer written tightly. PDFium writes each word of a
//! searchable PDF as a text object of its own, in its own graphics state:
//!
//! ```text
//! q 0 0 0 rg 0 0 0 RG BT 23.456789 0 0 8.123456 100.12346 700.9877 Tm /FXF1 1 Tf 3 Tr [<48656C6C6F>] TJ ET Q
//! ```
//!
//! [`tighten`] writes a run of such words as one text object: the state set
//! once, then for each word its matrix, rounded to a hundredth of a point
//! in position and a thousandth in scale (far below a pixel of any scan),
//! and its string, literal rather than hex:
//!
//! ```text
//! q 0 0 0 rg 0 0 0 RG BT 3 Tr /FXF1 1 Tf
//! 23.457 0 0 8.123 100.12 700.99 Tm(Hello)Tj
//! ET Q
//! ```
//!
//! A viewer shows, selects and copies the same words at the same places.
//! Only whole objects of that exact shape, in invisible mode, are
//! rewritten; every other byte of the stream is kept as it is.

use std::io::Write as _;
use std::sync::LazyLock;

use regex::bytes::{Captures, Regex};

/// One word as PDFium writes it (`3 Tr`: invisible). Groups: the colour
/// operators, the six matrix numbers, the font and its size, the hex string.
static WORD: LazyLock<Regex> = LazyLock::new(|| {
    const N: &str = r"(-?(?:[0-9]+\.?[0-9]*|\.[0-9]+))";
    let pattern = format!(
        r"q ((?:(?:-?[0-9.]+ )+(?:rg|RG|g|G) )*)BT {N} {N} {N} {N} {N} {N} Tm (/[!-~&&[^/\[\]<>()%{{}}]]+) {N} Tf 3 Tr \[<([0-9A-Fa-f]*)>\] TJ ET Q[\r\n]*"
    );
    Regex::new(&pattern).expect("the word pattern is valid")
});

/// `content` (a page's decoded content stream) with every run of PDFium's
/// invisible words written as one text object, or `None` when it has none.
pub fn tighten(content: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(content.len() / 2);
    let mut kept = 0; // bytes of `content` copied or rewritten so far
    let mut run: Option<Run> = None;
    let mut words = 0usize;
    for caps in WORD.captures_iter(content) {
        let whole = caps.get(0).expect("group 0 is the match");
        let prefix = &caps[1];
        let continues = run
            .as_ref()
            .is_some_and(|r| r.end == whole.start() && r.prefix == prefix);
        if !continues {
            if let Some(done) = run.take() {
                done.finish(&mut out);
            }
            out.extend_from_slice(&content[kept..whole.start()]);
            run = Some(Run::start(prefix));
        }
        let current = run.as_mut().expect("a run was started");
        current.word(&caps);
        current.end = whole.end();
        kept = whole.end();
        words += 1;
    }
    if words == 0 {
        return None;
    }
    if let Some(done) = run.take() {
        done.finish(&mut out);
    }
    out.extend_from_slice(&content[kept..]);
    Some(out)
}

/// Consecutive words that share their colour operators.
struct Run {
    prefix: Vec<u8>,
    end: usize,
    body: Vec<u8>,
    /// The font and size set last in this run.
    font: Option<(Vec<u8>, Vec<u8>)>,
}

impl Run {
    fn start(prefix: &[u8]) -> Self {
        Self {
            prefix: prefix.to_vec(),
            end: 0,
            body: Vec::new(),
            font: None,
        }
    }

    fn word(&mut self, caps: &Captures<'_>) {
        let font = (caps[8].to_vec(), caps[9].to_vec());
        if self.font.as_ref() != Some(&font) {
            self.body.extend_from_slice(&font.0);
            self.body.push(b' ');
            self.body.extend_from_slice(&font.1);
            self.body.extend_from_slice(b" Tf\n");
            self.font = Some(font);
        }
        for (i, group) in (2..=7).enumerate() {
            let value: f64 = std::str::from_utf8(&caps[group])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0);
            // Scale and turn to a thousandth, position to a hundredth of a point.
            let decimals = if i < 4 { 3 } else { 2 };
            if i > 0 {
                self.body.push(b' ');
            }
            self.body
                .extend_from_slice(number(value, decimals).as_bytes());
        }
        self.body.extend_from_slice(b" Tm");
        literal(&hex(&caps[10]), &mut self.body);
        self.body.extend_from_slice(b"Tj\n");
    }

    fn finish(self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"q ");
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(b"BT 3 Tr\n");
        out.extend_from_slice(&self.body);
        out.extend_from_slice(b"ET Q\n");
    }
}

/// `value` with at most `decimals` decimals and no trailing zeros.
fn number(value: f64, decimals: usize) -> String {
    let mut s = format!("{value:.decimals$}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

fn hex(digits: &[u8]) -> Vec<u8> {
    let nibble = |d: u8| match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        _ => d - b'A' + 10,
    };
    // An odd last digit is followed by 0, as PDF reads it.
    digits
        .chunks(2)
        .map(|pair| nibble(pair[0]) << 4 | pair.get(1).map_or(0, |&d| nibble(d)))
        .collect()
}

/// `bytes` as a PDF literal string: parentheses, backslashes and control
/// characters escaped, every other byte as it is (a content stream is
/// binary; an accented letter stays one byte).
fn literal(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'(');
    for &b in bytes {
        match b {
            b'(' | b')' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            // Three digits, so that a digit that follows is not read as
            // part of the escape.
            0..=0x1f | 0x7f => {
                let _ = write!(out, "\\{b:03o}");
            }
            _ => out.push(b),
        }
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::content::Content;
    use lopdf::Object;

    /// What a viewer draws: each string shown, with the text matrix, font,
    /// size and render mode it is shown with.
    #[derive(Debug)]
    struct Shown {
        matrix: [f32; 6],
        font: Vec<u8>,
        size: f32,
        mode: i64,
        bytes: Vec<u8>,
    }

    fn shown(content: &[u8]) -> Vec<Shown> {
        let ops = Content::decode(content).unwrap().operations;
        let mut out = Vec::new();
        // The text state is part of the graphics state: saved by q.
        let mut stack = Vec::new();
        let mut state = (Vec::new(), 0.0f32, 0i64);
        let mut matrix = [0.0f32; 6];
        for op in ops {
            let n = |i: usize| op.operands[i].as_float().unwrap();
            match op.operator.as_str() {
                "q" => stack.push(state.clone()),
                "Q" => state = stack.pop().unwrap(),
                "BT" => matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
                "Tm" => matrix = [n(0), n(1), n(2), n(3), n(4), n(5)],
                "Tf" => state = (op.operands[0].as_name().unwrap().to_vec(), n(1), state.2),
                "Tr" => state.2 = op.operands[0].as_i64().unwrap(),
                "Tj" | "TJ" => {
                    let bytes = match &op.operands[0] {
                        Object::String(s, _) => s.clone(),
                        Object::Array(a) => a[0].as_str().unwrap().to_vec(),
                        other => panic!("{other:?}"),
                    };
                    out.push(Shown {
                        matrix,
                        font: state.0.clone(),
                        size: state.1,
                        mode: state.2,
                        bytes,
                    });
                }
                _ => {}
            }
        }
        out
    }

    /// A page as PDFium writes it: the scan, then the words, one with
    /// every byte a literal string must escape, one in another font.
    const PAGE: &[u8] = b"q 595.2 0 0 841.92 0 0 cm /FXX1 Do Q\n\
q\n0 0 0 RG 0 0 0 rg 1 w 0 J 0 j\n/FXE1 gs \
q 0 0 0 rg 0 0 0 RG BT 23.456789 0 0 8.123456 100.12346 700.9877 Tm /FXF1 1 Tf 3 Tr [<48656C6C6F>] TJ ET Q\n\
q 0 0 0 rg 0 0 0 RG BT 23.456789 0 0 8.123456 140.12346 700.9877 Tm /FXF1 1 Tf 3 Tr [<28295C0D0AE9>] TJ ET Q\n\
q 0 0 0 rg 0 0 0 RG BT 0 -12.5 7.25 0 -0.004 .5 Tm /FXF2 1 Tf 3 Tr [<776F726C64>] TJ ET Q\n\
Q\n";

    #[test]
    fn words_are_shown_the_same_from_one_text_object() {
        let tight = tighten(PAGE).expect("the page has invisible words");
        assert!(
            tight.len() * 10 < PAGE.len() * 7,
            "{} -> {} bytes:\n{}",
            PAGE.len(),
            tight.len(),
            String::from_utf8_lossy(&tight)
        );
        let (before, after) = (shown(PAGE), shown(&tight));
        assert_eq!(before.len(), 3);
        assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(a.bytes, b.bytes);
            assert_eq!(a.font, b.font);
            assert_eq!(a.size, b.size);
            assert_eq!(a.mode, 3, "{a:?}");
            for (x, y) in a.matrix.iter().zip(&b.matrix) {
                assert!((x - y).abs() <= 0.005 + 1e-4, "{a:?} vs {b:?}");
            }
        }
        // One text object, the scan and the outer state as they were.
        let text = String::from_utf8_lossy(&tight);
        assert_eq!(text.matches("BT").count(), 1, "{text}");
        assert!(tight.starts_with(b"q 595.2 0 0 841.92 0 0 cm /FXX1 Do Q\nq\n0 0 0 RG"));
        assert!(tight.ends_with(b"ET Q\nQ\n"), "{text}");
    }

    #[test]
    fn visible_text_and_other_content_are_left_alone() {
        let visible = b"q 0 0 0 rg BT 1 0 0 1 10 10 Tm /F1 12 Tf 0 Tr [<41>] TJ ET Q\n";
        assert!(tighten(visible).is_none());
        assert!(tighten(b"q 1 0 0 1 0 0 cm /Im0 Do Q").is_none());
        // A word with kerning in its array is not PDFium's plain shape.
        let kerned = b"q BT 1 0 0 1 10 10 Tm /F1 1 Tf 3 Tr [<41> -20 <42>] TJ ET Q\n";
        assert!(tighten(kerned).is_none());
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(23.456789, 3), "23.457");
        assert_eq!(number(700.0, 2), "700");
        assert_eq!(number(-0.001, 2), "0");
        assert_eq!(number(0.5, 2), "0.5");
    }
}
