//! The web console: server-rendered pages (minijinja templates, one CSS
//! file, one small script for the streamed assistant) for signing up, in
//! and out, reading documents and talking to the model. Pages call the auth
//! service with the visitor's own credentials; the console has no privilege
//! of its own. Forms carry a per-session CSRF token; cookies are HttpOnly,
//! SameSite=Lax, and `__Host-` + Secure when served over TLS.

mod chat;
pub mod i18n;
mod next;
mod ocr;
mod pages;
pub mod session;
mod settings;
mod stream;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use kit::client_ip::TrustedProxies;
use minijinja::Environment;

pub use pages::router;
use session::SessionStore;

#[derive(Clone)]
pub struct WebState {
    pub auth: auth::Auth,
    pub sessions: SessionStore,
    templates: Arc<Environment<'static>>,
    /// Served over TLS (directly or behind a TLS-terminating proxy).
    pub secure_cookies: bool,
    pub proxies: TrustedProxies,
    /// Checks the session's access token like any API request.
    pub verifier: Arc<kit::token::TokenVerifier>,
    /// Where the LLM API is, and the client that calls it.
    pub api: Option<String>,
    pub http: reqwest::Client,
    pub chat_max_tokens: u32,
    /// Base URL of the API examples (`web.public_url`, no trailing `/`).
    pub public_url: String,
    /// Uploaded images, for drawing the words over them.
    sources: ocr::Sources,
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
    /// Base URL of the LLM (and OCR) APIs the console calls with the
    /// user's own token; unset: this process's own listener, when it runs
    /// those services.
    pub api_url: Option<String>,
    /// Longest answer of the assistant page, in tokens.
    pub chat_max_tokens: u32,
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
            api_url: None,
            chat_max_tokens: 400,
            public_url: None,
        }
    }
}

impl WebState {
    pub fn new(
        auth: auth::Auth,
        verifier: Arc<kit::token::TokenVerifier>,
        config: &WebConfig,
        proxies: TrustedProxies,
        api: Option<String>,
        listening: SocketAddr,
    ) -> Self {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("../templates/base.html")),
            ("login.html", include_str!("../templates/login.html")),
            ("register.html", include_str!("../templates/register.html")),
            ("home.html", include_str!("../templates/home.html")),
            ("message.html", include_str!("../templates/message.html")),
            ("settings.html", include_str!("../templates/settings.html")),
            ("chat.html", include_str!("../templates/chat.html")),
            ("ocr.html", include_str!("../templates/ocr.html")),
        ] {
            env.add_template(name, source)
                .expect("the console's templates are valid");
        }
        Self {
            auth,
            sessions: SessionStore::new(
                Duration::from_secs(config.session_idle_secs),
                Duration::from_secs(config.session_absolute_secs),
            ),
            templates: Arc::new(env),
            secure_cookies: config.secure_cookies,
            proxies,
            verifier,
            api: api.map(|a| a.trim_end_matches('/').to_owned()),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(300))
                .build()
                .expect("an HTTP client without custom TLS builds"),
            chat_max_tokens: config.chat_max_tokens,
            public_url: public_url(config, listening),
            sources: ocr::Sources::default(),
        }
    }
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
    use super::{public_url, WebConfig};

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
