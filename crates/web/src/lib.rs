//! The web console: server-rendered pages (minijinja templates, one CSS
//! file, one small script for the streamed assistant) for signing up, in
//! and out, reading documents and talking to the model. The console is a
//! plain client of the APIs (the `client` crate, in-process or over HTTP):
//! it calls them with the visitor's own credentials and has no privilege
//! of its own. Forms carry a per-session CSRF token; cookies are HttpOnly,
//! SameSite=Lax, and `__Host-` + Secure when served over TLS.

mod chat;
mod extract;
pub mod i18n;
mod library;
mod next;
mod overlay;
mod pages;
pub mod session;
mod settings;
mod stream;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use base64::Engine;
use kit::client_ip::TrustedProxies;
use minijinja::Environment;

pub use pages::router;
use session::Sessions;

#[derive(Clone)]
pub struct WebState {
    /// The APIs (auth, OCR, LLM), called with the visitor's own tokens.
    pub client: client::Client,
    pub sessions: Sessions,
    templates: Arc<Environment<'static>>,
    pub proxies: TrustedProxies,
    /// Checks the session's access token like any API request.
    pub verifier: Arc<kit::token::TokenVerifier>,
    /// Base URL of the API examples (`web.public_url`, no trailing `/`).
    pub public_url: String,
}

impl FromRef<WebState> for TrustedProxies {
    fn from_ref(s: &WebState) -> Self {
        s.proxies.clone()
    }
}

/// Console settings (`[web]`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Mark cookies Secure and use the `__Host-` prefix (set when the
    /// console is reached over HTTPS).
    pub secure_cookies: bool,
    pub session_idle_secs: u64,
    pub session_absolute_secs: u64,
    /// The key sessions are sealed with (at least 32 bytes; from a secret
    /// file: `SCRIPTORIUM_WEB__SESSION_KEY_FILE`). Every replica of the
    /// console needs the same key. Unset: the key in `session_key_path`,
    /// made there on first start.
    pub session_key: Option<String>,
    pub session_key_path: std::path::PathBuf,
    /// Base URL of the APIs (auth, OCR, LLM: a gateway) the console calls
    /// with the user's own token; unset: the services of this process,
    /// called in-process (then every API target must run here).
    pub api_url: Option<String>,
    /// The address users reach the API at, shown in the examples of the
    /// settings page (e.g. `https://scriptorium.example.org`); unset: this
    /// process's listener (`http://127.0.0.1:8080` for the default bind).
    /// Never taken from the request's `Host` header, which anyone can set.
    pub public_url: Option<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            session_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 3600,
            session_key: None,
            session_key_path: "data/console-session.key".into(),
            api_url: None,
            public_url: None,
        }
    }
}

impl WebState {
    pub fn new(
        client: client::Client,
        verifier: Arc<kit::token::TokenVerifier>,
        session_key: &[u8],
        config: &WebConfig,
        proxies: TrustedProxies,
        listening: SocketAddr,
    ) -> Self {
        let mut env = Environment::new();
        // A citation's or a search hit's boxes, as a link marks them.
        env.add_filter("marks", |boxes: Vec<Vec<u32>>| {
            let boxes: Vec<wire::ocr::BBox> = boxes
                .iter()
                .filter_map(|b| b.as_slice().try_into().ok())
                .collect();
            overlay::marks_param(&boxes)
        });
        for (name, source) in [
            ("base.html", include_str!("../templates/base.html")),
            ("login.html", include_str!("../templates/login.html")),
            ("register.html", include_str!("../templates/register.html")),
            ("home.html", include_str!("../templates/home.html")),
            ("message.html", include_str!("../templates/message.html")),
            ("settings.html", include_str!("../templates/settings.html")),
            ("chat.html", include_str!("../templates/chat.html")),
            ("library.html", include_str!("../templates/library.html")),
            ("document.html", include_str!("../templates/document.html")),
            ("ask.html", include_str!("../templates/ask.html")),
        ] {
            env.add_template(name, source)
                .expect("the console's templates are valid");
        }
        Self {
            client,
            sessions: Sessions::new(
                session_key,
                Duration::from_secs(config.session_idle_secs),
                Duration::from_secs(config.session_absolute_secs),
                config.secure_cookies,
            ),
            templates: Arc::new(env),
            proxies,
            verifier,
            public_url: public_url(config, listening),
        }
    }
}

/// The master key sessions are sealed with: `web.session_key`, else the
/// file at `web.session_key_path`, made there (random, owner-only) when
/// absent.
pub fn session_key(config: &WebConfig) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind};
    let short = |from: &str| {
        Error::new(
            ErrorKind::InvalidData,
            format!("{from} holds fewer than {} bytes", session::MIN_KEY_BYTES),
        )
    };
    if let Some(key) = &config.session_key {
        let key = key.trim().as_bytes().to_vec();
        return (key.len() >= session::MIN_KEY_BYTES)
            .then_some(key)
            .ok_or_else(|| short("web.session_key"));
    }
    let path = &config.session_key_path;
    match std::fs::read(path) {
        Ok(key) => {
            let key = String::from_utf8_lossy(&key).trim().as_bytes().to_vec();
            return (key.len() >= session::MIN_KEY_BYTES)
                .then_some(key)
                .ok_or_else(|| short(&path.display().to_string()));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, key.as_bytes())?;
    tracing::info!(path = %path.display(), "made the console's session key");
    Ok(key.into_bytes())
}

/// `web.public_url`, or the listener's own address (loopback for an
/// unspecified bind), over HTTPS when cookies are marked Secure.
fn public_url(config: &WebConfig, mut listening: SocketAddr) -> String {
    if let Some(url) = &config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    if listening.ip().is_unspecified() {
        listening.set_ip(match listening {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let scheme = if config.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{listening}")
}

#[cfg(test)]
mod tests {
    use super::{public_url, session_key, WebConfig};

    #[test]
    fn the_session_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let config = WebConfig {
            session_key_path: dir.path().join("keys/console.key"),
            ..WebConfig::default()
        };
        let made = session_key(&config).unwrap();
        assert!(made.len() >= 32);
        assert_eq!(
            session_key(&config).unwrap(),
            made,
            "read back, not made anew"
        );
        let short = WebConfig {
            session_key: Some("too short".into()),
            ..WebConfig::default()
        };
        assert!(session_key(&short).is_err());
    }

    #[test]
    fn the_public_url_is_the_configured_one() {
        let config = WebConfig {
            public_url: Some("https://scriptorium.example.org/".into()),
            ..WebConfig::default()
        };
        let url = public_url(&config, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(url, "https://scriptorium.example.org");
    }

    #[test]
    fn the_public_url_defaults_to_the_listener_on_loopback() {
        let url = public_url(&WebConfig::default(), "0.0.0.0:9000".parse().unwrap());
        assert_eq!(url, "http://127.0.0.1:9000");
        let url = public_url(&WebConfig::default(), "[::]:9000".parse().unwrap());
        assert_eq!(url, "http://[::1]:9000");
    }
}
