//! The languages a page is read in, checked against those installed.

use std::fmt;

/// Tesseract language codes joined with `+` (`fra+eng`), each one
/// installed: only [`Languages::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Languages(String);

impl Languages {
    /// `given`, or `default` when it is absent or blank. `fra+eng` arrives
    /// as `fra eng` when a query string's `+` is read as a space: `+`,
    /// spaces and commas all separate codes.
    pub fn parse(given: Option<&str>, default: &str, installed: &[String]) -> Result<Self, String> {
        let codes: Vec<&str> = given
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .unwrap_or(default)
            .split(['+', ' ', ','])
            .filter(|l| !l.is_empty())
            .collect();
        if codes.is_empty() {
            return Err("no language given".into());
        }
        if let Some(missing) = codes.iter().find(|c| !installed.iter().any(|l| l == *c)) {
            return Err(format!(
                "language '{missing}' is not installed (installed: {})",
                installed.join(", ")
            ));
        }
        Ok(Self(codes.join("+")))
    }

    /// As Tesseract takes them: `fra+eng`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Languages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Languages> for String {
    fn from(l: Languages) -> Self {
        l.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed() -> Vec<String> {
        ["eng", "fra", "osd"].map(String::from).to_vec()
    }

    #[test]
    fn codes_are_joined_with_plus_whatever_separated_them() {
        for given in ["fra+eng", "fra eng", " fra,eng ", "fra++eng"] {
            let l = Languages::parse(Some(given), "eng", &installed()).unwrap();
            assert_eq!(l.as_str(), "fra+eng", "{given:?}");
        }
    }

    #[test]
    fn absent_or_blank_is_the_default() {
        for given in [None, Some(""), Some("   ")] {
            let l = Languages::parse(given, "fra+eng", &installed()).unwrap();
            assert_eq!(l.to_string(), "fra+eng");
        }
    }

    #[test]
    fn a_missing_language_is_named_with_those_installed() {
        let e = Languages::parse(Some("eng+klingon"), "eng", &installed()).unwrap_err();
        assert_eq!(
            e,
            "language 'klingon' is not installed (installed: eng, fra, osd)"
        );
        let e = Languages::parse(Some("+,"), "eng", &installed()).unwrap_err();
        assert_eq!(e, "no language given");
    }
}
