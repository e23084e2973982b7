//! Where to send a visitor after signing in or switching language (`next`):
//! only a path on this site, as a browser would read it.

use url::{Position, Url};

/// Where `next` falls back to.
pub(crate) const HOME: &str = "/home";

/// `next` as a local path, or [`HOME`] when a browser could take it to
/// another site. The result is always a valid `Location` value.
pub(crate) fn local_path(next: Option<&str>) -> String {
    next.and_then(local).unwrap_or_else(|| HOME.to_owned())
}

fn local(next: &str) -> Option<String> {
    // Browsers drop tabs and newlines anywhere, trim spaces and controls
    // at the ends and read `\` as `/`: `/\t/evil.example` is `//evil.example`
    // to them. Refuse all of these rather than guess.
    let odd = |c: char| c == '\\' || c.is_whitespace() || c.is_control();
    if !next.starts_with('/') || next.starts_with("//") || next.chars().any(odd) {
        return None;
    }
    // Resolved the way a browser would, it must stay on this origin.
    let base = Url::parse("http://console.invalid/").expect("a valid base URL");
    let url = base.join(next).ok()?;
    if url.origin() != base.origin() {
        return None;
    }
    // The serialized path is ASCII (a valid header value); `/..//x`
    // resolves to the path `//x`, which would name a host.
    let path = &url[Position::BeforePath..];
    (!path.starts_with("//")).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::{local_path, HOME};

    fn refused(next: &str) {
        assert_eq!(local_path(Some(next)), HOME, "{next:?}");
    }

    #[test]
    fn refuses_a_tab_after_the_slash() {
        refused("/\t/evil.example");
    }

    #[test]
    fn refuses_a_newline_after_the_slash() {
        refused("/\n/evil.example");
        refused("/\r/evil.example");
    }

    #[test]
    fn refuses_a_vertical_tab() {
        refused("/\x0b/evil.example");
    }

    #[test]
    fn refuses_a_protocol_relative_url() {
        refused("//evil.example");
    }

    #[test]
    fn refuses_backslashes() {
        refused("/\\evil.example");
        refused("\\/evil.example");
        refused("/ocr\\x");
    }

    #[test]
    fn refuses_an_absolute_url() {
        refused("https://evil.example");
        refused("javascript:alert(1)");
    }

    #[test]
    fn refuses_leading_and_inner_whitespace() {
        refused(" /x");
        refused("/x y");
        refused("/x\u{a0}");
    }

    #[test]
    fn refuses_a_path_that_resolves_to_a_host() {
        refused("/..//evil.example");
    }

    #[test]
    fn refuses_nothing_and_the_empty_string() {
        assert_eq!(local_path(None), HOME);
        refused("");
    }

    #[test]
    fn keeps_local_paths_with_their_query() {
        assert_eq!(local_path(Some("/home")), "/home");
        assert_eq!(local_path(Some("/ocr?x=1")), "/ocr?x=1");
        assert_eq!(local_path(Some("/chat#end")), "/chat#end");
    }

    #[test]
    fn percent_encodes_other_characters() {
        assert_eq!(local_path(Some("/caf\u{e9}")), "/caf%C3%A9");
    }
}
