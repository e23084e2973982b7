//! Typed account values, validated once at the boundary.

use kit::problem::FieldError;
use unicode_normalization::UnicodeNormalization;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;

/// A valid username: 3-32 letters, digits, `.`, `_` or `-` after NFKC
/// normalization. `key` is the case-folded form that uniqueness is checked on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    display: String,
    key: String,
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
        Ok(Self { display, key })
    }

    /// The comparison key of any string: NFKC, lower case, NFKC again.
    pub fn key_of(raw: &str) -> String {
        let first: String = raw.trim().nfkc().collect();
        first.to_lowercase().nfkc().collect()
    }

    pub fn as_str(&self) -> &str {
        &self.display
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
