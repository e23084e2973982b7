//! Turning a sequence's token pieces into text that is safe to stream:
//! bytes are held until they form whole UTF-8 characters, and text that
//! could be the start of a stop string is held until it is known not to be.

/// What a piece of output produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Text that can be sent now (possibly empty).
    Text(String),
    /// A stop string was found: the text before it, and nothing more.
    Stopped(String),
}

#[derive(Debug, Default)]
pub struct TextOutput {
    stops: Vec<String>,
    /// Bytes of a character not yet complete.
    bytes: Vec<u8>,
    /// Decoded text not yet released.
    held: String,
}

impl TextOutput {
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            ..Self::default()
        }
    }

    pub fn push(&mut self, piece: &[u8]) -> Step {
        self.bytes.extend_from_slice(piece);
        self.decode_complete();
        if let Some(at) = self.earliest_stop() {
            let mut before = std::mem::take(&mut self.held);
            before.truncate(at);
            self.bytes.clear();
            return Step::Stopped(before);
        }
        let keep = self.stop_prefix_len();
        let release = self.held.len() - keep;
        let rest = self.held.split_off(release);
        Step::Text(std::mem::replace(&mut self.held, rest))
    }

    /// Everything still held, when the sequence ends for another reason.
    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.held);
        if !self.bytes.is_empty() {
            out.push_str(&String::from_utf8_lossy(&self.bytes));
            self.bytes.clear();
        }
        out
    }

    /// Moves whole characters from `bytes` to `held`; invalid bytes become
    /// U+FFFD, an incomplete character at the end waits for the next piece.
    fn decode_complete(&mut self) {
        loop {
            match std::str::from_utf8(&self.bytes) {
                Ok(s) => {
                    self.held.push_str(s);
                    self.bytes.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // SAFETY-free: the prefix was just validated.
                    self.held
                        .push_str(std::str::from_utf8(&self.bytes[..valid]).unwrap_or_default());
                    match e.error_len() {
                        Some(bad) => {
                            self.held.push('\u{FFFD}');
                            self.bytes.drain(..valid + bad);
                        }
                        None => {
                            self.bytes.drain(..valid);
                            return;
                        }
                    }
                }
            }
        }
    }

    fn earliest_stop(&self) -> Option<usize> {
        self.stops.iter().filter_map(|s| self.held.find(s)).min()
    }

    /// The longest end of `held` that begins some stop string.
    fn stop_prefix_len(&self) -> usize {
        let mut longest = 0;
        for stop in &self.stops {
            for (i, _) in self.held.char_indices() {
                let tail = &self.held[i..];
                if tail.len() <= longest {
                    break;
                }
                if stop.starts_with(tail) {
                    longest = tail.len();
                    break;
                }
            }
        }
        longest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Step {
        Step::Text(s.to_string())
    }

    #[test]
    fn passes_text_through_without_stops() {
        let mut out = TextOutput::new(vec![]);
        assert_eq!(out.push(b"Hello"), text("Hello"));
        assert_eq!(out.push(b" world"), text(" world"));
        assert_eq!(out.finish(), "");
    }

    #[test]
    fn waits_for_whole_characters() {
        let mut out = TextOutput::new(vec![]);
        let e = "é".as_bytes();
        assert_eq!(out.push(&e[..1]), text(""));
        assert_eq!(out.push(&e[1..]), text("é"));
        assert_eq!(out.push(&[0xff, b'a']), text("\u{FFFD}a"));
    }

    #[test]
    fn stops_before_a_stop_string_split_across_pieces() {
        let mut out = TextOutput::new(vec!["END".into()]);
        assert_eq!(out.push(b"one E"), text("one "));
        assert_eq!(out.push(b"N"), text(""));
        assert_eq!(out.push(b"D two"), Step::Stopped(String::new()));
    }

    #[test]
    fn releases_held_text_that_is_not_a_stop() {
        let mut out = TextOutput::new(vec!["END".into()]);
        assert_eq!(out.push(b"one EN"), text("one "));
        assert_eq!(out.push(b"T"), text("ENT"));
        assert_eq!(out.push(b"x EN"), text("x "));
        assert_eq!(out.finish(), "EN");
    }

    #[test]
    fn the_earliest_of_several_stops_wins() {
        let mut out = TextOutput::new(vec!["b".into(), "\n\n".into()]);
        assert_eq!(out.push(b"a\n\nb"), Step::Stopped("a".into()));
    }
}
