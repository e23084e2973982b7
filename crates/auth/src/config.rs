//! The auth service's settings (`[auth]` in `scriptorium.toml`,
//! `SCRIPTORIUM_AUTH__*` in the environment; `DATABASE_URL` also works).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `sqlite://data/auth.db?mode=rwc` (default) or `postgres://...`.
    pub database_url: String,
    /// PostgreSQL user, replacing the URL's; e.g. from a Kubernetes Secret
    /// via `SCRIPTORIUM_AUTH__DATABASE_USER_FILE`.
    pub database_user: Option<String>,
    /// PostgreSQL password, replacing the URL's (`..._PASSWORD_FILE`).
    #[serde(skip_serializing)]
    pub database_password: Option<SecretString>,
    /// PostgreSQL database name, replacing the URL's (`..._NAME_FILE`).
    pub database_name: Option<String>,
    pub max_connections: u32,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// `aud` of issued tokens.
    pub audience: Vec<String>,
    pub access_ttl_secs: i64,
    /// Absolute lifetime of a login's refresh tokens.
    pub refresh_ttl_secs: i64,
    /// A spent refresh token presented again within this many seconds is a
    /// concurrent refresh, not a theft.
    pub refresh_reuse_grace_secs: i64,
    /// How long the signing-key ring is cached before it is reloaded.
    pub key_cache_secs: u64,
    /// Delay between `keys rotate` and signing with the new key, so that
    /// verifiers (Istio refreshes every 20 minutes) see it first.
    pub key_activation_delay_secs: i64,
    /// Ed25519 private key (PKCS#8 PEM), e.g. from a Kubernetes Secret via
    /// `SCRIPTORIUM_AUTH__SIGNING_KEY_FILE`. Unset: keys live in the database.
    #[serde(skip_serializing)]
    pub signing_key: Option<SecretString>,
    /// Minimum zxcvbn score (0-4) of a new password.
    pub password_min_score: u8,
    /// How long `/auth/me` may answer from memory.
    pub user_cache_secs: u64,
    /// Password hashes allowed to wait for a hashing thread before 503.
    pub hash_queue_max: usize,
    pub throttle: ThrottleConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/auth.db?mode=rwc".into(),
            database_user: None,
            database_password: None,
            database_name: None,
            max_connections: 16,
            issuer: "scriptorium".into(),
            audience: vec!["scriptorium".into()],
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            refresh_reuse_grace_secs: 5,
            key_cache_secs: 30,
            key_activation_delay_secs: 0,
            signing_key: None,
            password_min_score: 2,
            user_cache_secs: 5,
            hash_queue_max: 512,
            throttle: ThrottleConfig::default(),
        }
    }
}

impl AuthConfig {
    /// `database_url` with `database_user`, `database_password` and
    /// `database_name` put in, so that the URL in a ConfigMap holds no
    /// credential. Only PostgreSQL URLs take them.
    pub fn connection_url(&self) -> Result<SecretString, DatabaseUrlError> {
        let parts = [
            self.database_user.is_some(),
            self.database_password.is_some(),
            self.database_name.is_some(),
        ];
        if !parts.contains(&true) {
            return Ok(self.database_url.clone().into());
        }
        let mut url = url::Url::parse(&self.database_url).map_err(|_| DatabaseUrlError::Invalid)?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(DatabaseUrlError::CredentialsNeedPostgres);
        }
        if let Some(user) = &self.database_user {
            url.set_username(user)
                .map_err(|_| DatabaseUrlError::Invalid)?;
        }
        if let Some(password) = &self.database_password {
            url.set_password(Some(password.expose_secret()))
                .map_err(|_| DatabaseUrlError::Invalid)?;
        }
        if let Some(name) = &self.database_name {
            url.set_path(name);
        }
        Ok(url.to_string().into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error("auth.database_url is not a valid URL")]
    Invalid,
    #[error("auth.database_user/password/name apply to PostgreSQL URLs only")]
    CredentialsNeedPostgres,
}

/// Brute-force and abuse limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Failed logins on one account from one address before that address
    /// is locked out of that account.
    pub account_max_failures: i64,
    /// Failed logins from one address before it locks.
    pub ip_max_failures: i64,
    /// Failed logins on one account from all addresses together before the
    /// account locks for everyone (guessing spread over many addresses).
    pub account_wide_max_failures: i64,
    /// Failures older than this are forgotten.
    pub failure_window_secs: i64,
    /// First lockout; each further failure doubles it.
    pub lockout_base_secs: i64,
    pub lockout_max_secs: i64,
    /// Registrations from one address per window.
    pub register_per_ip: i64,
    pub register_window_secs: i64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            account_max_failures: 5,
            ip_max_failures: 50,
            account_wide_max_failures: 50,
            failure_window_secs: 3600,
            lockout_base_secs: 30,
            lockout_max_secs: 3600,
            register_per_ip: 20,
            register_window_secs: 3600,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postgres() -> AuthConfig {
        AuthConfig {
            database_url: "postgres://postgres:5432/app?sslmode=disable".into(),
            ..AuthConfig::default()
        }
    }

    #[test]
    fn url_is_kept_without_overrides() {
        let url = postgres().connection_url().unwrap();
        assert_eq!(
            url.expose_secret(),
            "postgres://postgres:5432/app?sslmode=disable"
        );
    }

    #[test]
    fn credentials_are_put_into_the_url_escaped() {
        let config = AuthConfig {
            database_user: Some("scriptorium".into()),
            database_password: Some("p@ss/word:1".to_string().into()),
            database_name: Some("accounts".into()),
            ..postgres()
        };
        let url = config.connection_url().unwrap();
        assert_eq!(
            url.expose_secret(),
            "postgres://scriptorium:p%40ss%2Fword%3A1@postgres:5432/accounts?sslmode=disable"
        );
    }

    #[test]
    fn sqlite_refuses_credentials() {
        let config = AuthConfig {
            database_password: Some("x".to_string().into()),
            ..AuthConfig::default()
        };
        assert!(matches!(
            config.connection_url(),
            Err(DatabaseUrlError::CredentialsNeedPostgres)
        ));
    }
}
