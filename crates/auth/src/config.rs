//! The auth service's settings (`[auth]` in `scriptorium.toml`,
//! `SCRIPTORIUM_AUTH__*` in the environment; `DATABASE_URL` also works).

use kit::database::{DatabaseAddress, DatabaseUrlError};
use secrecy::SecretString;
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
        DatabaseAddress {
            url: &self.database_url,
            user: self.database_user.as_deref(),
            password: self.database_password.as_ref(),
            name: self.database_name.as_deref(),
        }
        .connection_url()
    }
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
