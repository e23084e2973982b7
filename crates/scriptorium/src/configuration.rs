//! The whole configuration: `[server]`, one section per service, and
//! `[tokens]` for services that verify tokens issued by a remote auth service.

use std::path::Path;

use auth::AuthConfig;
use kit::config::ServerConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub llm: llm::LlmConfig,
    pub ocr: ocr::OcrConfig,
    pub web: web::WebConfig,
    pub tokens: TokensConfig,
}

/// How services that run without the auth service verify callers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokensConfig {
    /// Base URL of the auth service, e.g. `http://auth:8080`; its JWKS and
    /// introspection endpoints are derived from it.
    pub auth_url: Option<String>,
    pub issuer: String,
    /// The `aud` this process requires.
    pub audience: String,
    pub api_key_cache_secs: u64,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            auth_url: None,
            issuer: "scriptorium".into(),
            audience: "scriptorium".into(),
            api_key_cache_secs: 10,
        }
    }
}

impl Config {
    /// Defaults < file < `DATABASE_URL` < `SCRIPTORIUM_*` (and `*_FILE` secrets).
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = kit::config::layered(&Config::default(), file);
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if std::env::var("SCRIPTORIUM_AUTH__DATABASE_URL").is_err() {
                figment = figment.merge(("auth.database_url", url));
            }
        }
        figment.extract().map_err(Box::new)
    }
}
