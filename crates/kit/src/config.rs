//! Configuration: defaults < `scriptorium.toml` < `SCRIPTORIUM_*` environment
//! (nested with `__`), with secrets read from `SCRIPTORIUM_..._FILE` files.

use std::net::SocketAddr;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub const ENV_PREFIX: &str = "SCRIPTORIUM_";

/// Build the layered figment over `defaults`. The caller extracts its own type.
pub fn layered<T: Serialize>(defaults: &T, file: Option<&Path>) -> Figment {
    let mut figment = Figment::from(Serialized::defaults(defaults));
    let path = file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| "scriptorium.toml".into());
    figment = figment.merge(Toml::file(path));
    figment = figment.merge(
        Env::prefixed(ENV_PREFIX)
            .split("__")
            // `X_FILE` names a secret file (below), never a setting;
            // figment keeps the variable's own case here.
            .filter(|k| !k.as_str().to_ascii_lowercase().ends_with("_file")),
    );
    for (key, value) in secret_files(std::env::vars()) {
        figment = figment.merge((key, value));
    }
    figment
}

/// `SCRIPTORIUM_AUTH__SIGNING_KEY_FILE=/run/secrets/x` becomes the value of
/// `auth.signing_key` read from that file (trailing newline trimmed).
fn secret_files(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, path) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let Some(key) = rest.strip_suffix("_FILE") else {
            continue;
        };
        match std::fs::read_to_string(&path) {
            Ok(value) => out.push((
                key.to_ascii_lowercase().replace("__", "."),
                value.trim_end_matches(['\n', '\r']).to_string(),
            )),
            Err(e) => tracing::warn!(variable = %name, error = %e, "cannot read secret file"),
        }
    }
    out
}

/// Settings of the HTTP server shared by every target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    pub shutdown_grace_secs: u64,
    /// Proxies whose `X-Forwarded-For` is believed. Empty: trust no header.
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout_secs: 300,
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 30,
            trusted_proxies: Vec::new(),
            log_format: LogFormat::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `pretty` when stderr is a terminal (a person reads it), `json`
    /// otherwise (a collector does).
    Auto,
    Json,
    Pretty,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Settings {
        auth: AuthSettings,
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct AuthSettings {
        database_user: String,
        database_password: String,
    }

    #[test]
    // figment's own test harness returns its own (large) error.
    #[allow(clippy::result_large_err)]
    fn a_secret_file_sets_its_setting_and_is_not_a_setting_itself() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("password", "hunter2-but-longer\n")?;
            let path = jail.directory().join("password");
            jail.set_env("SCRIPTORIUM_AUTH__DATABASE_USER", "scriptorium");
            jail.set_env(
                "SCRIPTORIUM_AUTH__DATABASE_PASSWORD_FILE",
                path.display().to_string(),
            );
            let got: Settings = layered(&Settings::default(), None).extract()?;
            assert_eq!(got.auth.database_user, "scriptorium");
            assert_eq!(got.auth.database_password, "hunter2-but-longer");
            Ok(())
        });
    }

    #[test]
    fn secret_files_map_to_nested_keys() {
        let dir = std::env::temp_dir().join(format!("kit-secret-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\n").unwrap();
        let vars = vec![
            (
                "SCRIPTORIUM_AUTH__SIGNING_KEY_FILE".to_string(),
                dir.display().to_string(),
            ),
            ("OTHER_FILE".to_string(), "/nope".to_string()),
        ];
        let got = secret_files(vars.into_iter());
        std::fs::remove_file(&dir).ok();
        assert_eq!(
            got,
            vec![("auth.signing_key".to_string(), "s3cret".to_string())]
        );
    }
}
