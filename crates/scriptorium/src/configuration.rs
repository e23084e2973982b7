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
    pub documents: documents::DocumentsConfig,
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

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Serialized, Toml};
    use secrecy::ExposeSecret;

    /// The Kubernetes ConfigMap's file is a valid configuration (unknown
    /// keys are refused) that, with the Secret's files, reaches PostgreSQL.
    #[test]
    fn kubernetes_config_map_loads() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/k8s/base/scriptorium.toml"
        );
        let mut config: Config = figment::Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file_exact(path))
            .extract()
            .expect("deploy/k8s/base/scriptorium.toml loads");
        assert_eq!(config.server.bind.port(), 8080);
        assert_eq!(config.tokens.auth_url.as_deref(), Some("http://auth:8080"));
        // The console and the library reach the APIs on the gateway's
        // internal listener, where each user they name is limited alone.
        let internal = Some("http://gateway-internal:8081");
        assert_eq!(config.web.api_url.as_deref(), internal);
        assert_eq!(config.documents.ask.llm_url.as_deref(), internal);
        config.auth.database_user = Some("scriptorium".into());
        config.auth.database_password = Some("s3cret".to_string().into());
        config.auth.database_name = Some("scriptorium".into());
        assert_eq!(
            config.auth.connection_url().unwrap().expose_secret(),
            "postgres://scriptorium:s3cret@postgres:5432/scriptorium?sslmode=disable"
        );
    }
}
