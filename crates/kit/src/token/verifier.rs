//! The verifier: signature, algorithm, `exp`, `iss` and `aud` for access
//! tokens; introspection for API keys. Keys are cached by `kid` and refetched
//! when an unknown `kid` appears (at most once per `refetch_interval`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, RwLock};

use super::{JwkSet, API_KEY_PREFIX};

/// Claims of a Scriptorium access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The username, for display.
    pub name: String,
}

#[derive(Deserialize)]
struct VerifiedClaims {
    sub: String,
    exp: i64,
    jti: String,
    #[serde(default)]
    name: String,
}

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    AccessToken { jti: String, exp: i64 },
    ApiKey { key_id: String },
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub credential: Credential,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token algorithm")]
    Algorithm,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("token expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("invalid or revoked API key")]
    ApiKey,
    #[error("token service unavailable: {0}")]
    Upstream(String),
}

impl From<VerifyError> for crate::Problem {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Upstream(_) => crate::Problem::unavailable(e.to_string(), 5),
            _ => crate::Problem::unauthorized(e.to_string()),
        }
    }
}

/// Where verification keys come from: the auth service in-process, or its
/// JWKS endpoint over HTTP.
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn jwks(&self) -> Result<JwkSet, VerifyError>;
}

/// Who answers for API keys: the auth service in-process, or its
/// introspection endpoint. `Ok(None)` means the key is not valid.
#[async_trait]
pub trait Introspector: Send + Sync {
    async fn api_key(&self, key: &str) -> Result<Option<Principal>, VerifyError>;
}

#[derive(Debug, Clone)]
pub struct VerifierConfig {
    pub issuer: String,
    pub audience: String,
    pub leeway_secs: u64,
    pub refetch_interval: Duration,
    pub api_key_cache_ttl: Duration,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            issuer: "scriptorium".into(),
            audience: "scriptorium".into(),
            leeway_secs: 5,
            refetch_interval: Duration::from_secs(10),
            api_key_cache_ttl: Duration::from_secs(10),
        }
    }
}

const API_KEY_CACHE_MAX: usize = 10_000;

/// API-key answers by SHA-256 of the key, with the time they were fetched.
type ApiKeyCache = HashMap<[u8; 32], (Option<Principal>, Instant)>;

/// Access tokens already verified, keyed by the whole token (never by a part
/// of it, which a forger could reuse), until they expire.
const TOKEN_CACHE_MAX: usize = 10_000;
type TokenCache = HashMap<String, Principal>;

pub struct TokenVerifier {
    config: VerifierConfig,
    validation: Validation,
    source: Arc<dyn KeySource>,
    introspector: Arc<dyn Introspector>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
    api_keys: Mutex<ApiKeyCache>,
    verified: std::sync::Mutex<TokenCache>,
}

impl TokenVerifier {
    pub fn new(
        config: VerifierConfig,
        source: Arc<dyn KeySource>,
        introspector: Arc<dyn Introspector>,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = config.leeway_secs;
        validation.validate_exp = true;
        Self {
            config,
            validation,
            source,
            introspector,
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
            api_keys: Mutex::new(HashMap::new()),
            verified: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Verify a bearer credential: an API key (`sk-...`) or an access token.
    pub async fn verify(&self, bearer: &str) -> Result<Principal, VerifyError> {
        if bearer.starts_with(API_KEY_PREFIX) {
            self.verify_api_key(bearer).await
        } else {
            self.verify_access_token(bearer).await
        }
    }

    #[tracing::instrument(skip_all, name = "verify_access_token")]
    pub async fn verify_access_token(&self, token: &str) -> Result<Principal, VerifyError> {
        let now = crate::unix_now();
        if let Some(p) = self.cached(token, now) {
            return Ok(p);
        }
        let principal = self.verify_signed(token).await?;
        self.remember(token, &principal, now);
        Ok(principal)
    }

    fn cached(&self, token: &str, now: i64) -> Option<Principal> {
        let cache = self.verified.lock().ok()?;
        let p = cache.get(token)?;
        match p.credential {
            Credential::AccessToken { exp, .. } if exp > now => Some(p.clone()),
            _ => None,
        }
    }

    fn remember(&self, token: &str, principal: &Principal, now: i64) {
        let Ok(mut cache) = self.verified.lock() else {
            return;
        };
        if cache.len() >= TOKEN_CACHE_MAX {
            cache.retain(
                |_, p| matches!(p.credential, Credential::AccessToken { exp, .. } if exp > now),
            );
            if cache.len() >= TOKEN_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(token.to_owned(), principal.clone());
    }

    async fn verify_signed(&self, token: &str) -> Result<Principal, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(VerifyError::Algorithm);
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let key = self.key(&kid).await?;
        let data =
            jsonwebtoken::decode::<VerifiedClaims>(token, &key, &self.validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => VerifyError::Expired,
                    other => VerifyError::Invalid(format!("{other:?}")),
                }
            })?;
        let c = data.claims;
        Ok(Principal {
            user_id: c.sub,
            username: c.name,
            credential: Credential::AccessToken {
                jti: c.jti,
                exp: c.exp,
            },
        })
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, VerifyError> {
        if let Some(k) = self.keys.read().await.get(kid) {
            return Ok(k.clone());
        }
        self.refetch().await?;
        self.keys
            .read()
            .await
            .get(kid)
            .cloned()
            .ok_or(VerifyError::UnknownKey)
    }

    /// Refetch the key set, unless it was fetched within the refetch interval.
    async fn refetch(&self) -> Result<(), VerifyError> {
        let mut last = self.last_fetch.lock().await;
        if let Some(at) = *last {
            if at.elapsed() < self.config.refetch_interval {
                return Ok(());
            }
        }
        let set = self.source.jwks().await?;
        let mut keys = HashMap::new();
        for jwk in set.keys.iter().filter(|k| k.is_ed25519()) {
            if let Ok(key) = DecodingKey::from_ed_components(&jwk.x) {
                keys.insert(jwk.kid.clone(), key);
            }
        }
        *self.keys.write().await = keys;
        *last = Some(Instant::now());
        Ok(())
    }

    #[tracing::instrument(skip_all, name = "verify_api_key")]
    pub async fn verify_api_key(&self, key: &str) -> Result<Principal, VerifyError> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let ttl = self.config.api_key_cache_ttl;
        if let Some((cached, at)) = self.api_keys.lock().await.get(&digest) {
            if at.elapsed() < ttl {
                return cached.clone().ok_or(VerifyError::ApiKey);
            }
        }
        let answer = self.introspector.api_key(key).await?;
        if !ttl.is_zero() {
            let mut cache = self.api_keys.lock().await;
            if cache.len() >= API_KEY_CACHE_MAX {
                cache.retain(|_, (_, at)| at.elapsed() < ttl);
                if cache.len() >= API_KEY_CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(digest, (answer.clone(), Instant::now()));
        }
        answer.ok_or(VerifyError::ApiKey)
    }
}
