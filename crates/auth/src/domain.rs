//! Typed account values, validated once at the boundary.

use kit::problem::FieldError;
use unicode_normalization::UnicodeNormalization;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;

/// A valid username: 3-32 letters, digits, `.`, `_` or `-` after NFKC
/// normalization. `key` is the case-folded form that accounts are found by;
/// `skeleton` is what the name looks like, which must be unique too, so that
/// no name can pass for another (`аlice` in Cyrillic for `alice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    display: String,
    key: String,
    skeleton: String,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let display: String = raw.trim().nfkc().collect();
        let len = display.chars().count();
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
            return Err(FieldError::new(
                "username",
                format!("must be {USERNAME_MIN} to {USERNAME_MAX} characters long"),
            ));
        }
        if !display
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(FieldError::new(
                "username",
                "may contain only letters, digits, '.', '_' and '-'",
            ));
        }
        let key = Self::key_of(&display);
        let skeleton = Self::skeleton_of(&display);
        Ok(Self {
            display,
            key,
            skeleton,
        })
    }

    /// The comparison key of any string: NFKC, lower case, NFKC again.
    pub fn key_of(raw: &str) -> String {
        let first: String = raw.trim().nfkc().collect();
        first.to_lowercase().nfkc().collect()
    }

    /// The look of a name, for lookalike detection: the comparison key,
    /// decomposed (NFD) without its accents, so that they do not tell names
    /// apart (`alicé` is `alice`); then the UTS #39 confusable skeleton
    /// (Cyrillic `а` is Latin `a`, `0` is `O`), lower case (the skeleton
    /// may map to capitals) and NFKC.
    ///
    /// Accents are the combining marks of canonical class 10 and up (marks
    /// above and below, vowel points). Classes 1 to 9 (nukta, kana voicing,
    /// virama) and spacing vowel signs (class 0) make other letters, and
    /// stay: `か` and `が` are different names.
    pub fn skeleton_of(raw: &str) -> String {
        use unicode_normalization::char::canonical_combining_class;
        let bare: String = Self::key_of(raw)
            .nfd()
            .filter(|c| canonical_combining_class(*c) < 10)
            .collect();
        let look: String = unicode_security::skeleton(&bare).collect();
        look.to_lowercase().nfkc().collect()
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    pub fn skeleton(&self) -> &str {
        &self.skeleton
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A password that passed the policy: 8-128 characters (never truncated) and
/// not guessable according to zxcvbn's frequency lists and patterns.
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

impl NewPassword {
    pub fn parse(raw: &str, username: Option<&str>, min_score: u8) -> Result<Self, FieldError> {
        let len = raw.chars().count();
        if len < PASSWORD_MIN {
            return Err(FieldError::new(
                "password",
                format!("must be at least {PASSWORD_MIN} characters long"),
            ));
        }
        if len > PASSWORD_MAX {
            return Err(FieldError::new(
                "password",
                format!("must be at most {PASSWORD_MAX} characters long"),
            ));
        }
        let inputs: Vec<&str> = username.into_iter().collect();
        let estimate = zxcvbn::zxcvbn(raw, &inputs);
        if (estimate.score() as u8) < min_score {
            let hint = estimate
                .feedback()
                .and_then(|f| f.warning().map(|w| w.to_string()))
                .unwrap_or_else(|| "it is too easy to guess".to_string());
            return Err(FieldError::new(
                "password",
                format!("is too common or too easy to guess: {hint}"),
            ));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_compare_case_insensitively_after_normalization() {
        let a = Username::parse("Alice").unwrap();
        let b = Username::parse("ALICE").unwrap();
        assert_eq!(a.key(), b.key());
        // Fullwidth letters normalize to ASCII under NFKC.
        let c = Username::parse("\u{FF21}lice").unwrap();
        assert_eq!(c.key(), a.key());
        assert_eq!(
            Username::parse("élise").unwrap().key(),
            Username::parse("ÉLISE").unwrap().key()
        );
    }

    fn looks_alike(a: &str, b: &str) -> bool {
        Username::parse(a).unwrap().skeleton() == Username::parse(b).unwrap().skeleton()
    }

    #[test]
    fn cyrillic_a_looks_like_latin_a() {
        assert!(looks_alike("\u{430}lice", "alice"));
    }

    #[test]
    fn cyrillic_es_looks_like_latin_c() {
        assert!(looks_alike("ali\u{441}e", "alice"));
    }

    #[test]
    fn a_combining_accent_does_not_make_another_name() {
        assert!(looks_alike("alice\u{301}", "alice"));
        assert!(looks_alike("\u{E9}lise", "elise"));
    }

    #[test]
    fn kana_voicing_marks_make_other_names() {
        assert!(!looks_alike(
            "\u{304B}\u{304F}\u{3044}",
            "\u{304C}\u{304F}\u{3044}"
        ));
    }

    #[test]
    fn digits_that_look_like_letters_look_alike() {
        assert!(looks_alike("b0b", "bob"));
        assert!(looks_alike("Bob", "bob"));
    }

    #[test]
    fn distinct_names_stay_distinct() {
        assert!(!looks_alike("alice", "alicia"));
        assert!(!looks_alike("bob", "rob"));
        assert!(!looks_alike("anna", "hanna"));
    }

    #[test]
    fn the_lookup_key_keeps_accents_and_scripts_apart() {
        // Existing accounts are still found by their key.
        let a = Username::parse("alice").unwrap();
        assert_ne!(Username::parse("\u{430}lice").unwrap().key(), a.key());
        assert_ne!(Username::parse("alice\u{301}").unwrap().key(), a.key());
    }

    #[test]
    fn username_rules() {
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("has space").is_err());
        assert!(Username::parse("semi;colon").is_err());
        assert!(Username::parse("ok.name_1-x").is_ok());
    }

    #[test]
    fn password_rules() {
        assert!(NewPassword::parse("short", None, 2).is_err());
        assert!(NewPassword::parse("password123", None, 2).is_err());
        assert!(NewPassword::parse(&"x".repeat(129), None, 2).is_err());
        assert!(NewPassword::parse("correct horse battery staple", None, 2).is_ok());
        // 128 characters are accepted in full.
        let long: String = "Zq8#vL2!pW".repeat(13)[..128].to_string();
        assert_eq!(
            NewPassword::parse(&long, None, 2).unwrap().expose().len(),
            128
        );
    }
}
