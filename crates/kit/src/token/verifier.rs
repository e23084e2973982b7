//! The verifier: signature, algorithm, `exp`, `nbf`, `iss` and `aud` for access
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

/// Why a credential was refused. `Display` is what the client is told, in
/// its own terms; the technical detail goes to the log where it is found.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("missing bearer token")]
    Missing,
    #[error("the token is not valid")]
    Malformed,
    #[error("the token is not valid")]
    Algorithm,
    #[error("the token is not valid")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not meant for this service")]
    Audience,
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Any other failed check; the detail is for the log, not the client.
    #[error("the token is not valid")]
    Invalid(String),
    #[error("invalid or revoked API key")]
    ApiKey,
    #[error("token service unavailable: {0}")]
    Upstream(String),
}

impl From<VerifyError> for crate::Problem {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Upstream(detail) => {
                tracing::warn!(error = %detail, "the token service is unavailable");
                crate::Problem::unavailable("the token service is unavailable", 5)
            }
            _ => crate::Problem::unauthorized(e.to_string()),
        }
    }
}

/// Log why a token was refused, then refuse it.
fn rejected(error: VerifyError, reason: &dyn std::fmt::Display) -> VerifyError {
    tracing::info!(%reason, "access token rejected: {error}");
    error
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
        // Checked when present; Scriptorium's own tokens carry none.
        validation.validate_nbf = true;
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
        use jsonwebtoken::errors::ErrorKind;
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| rejected(VerifyError::Malformed, &e))?;
        if header.alg != Algorithm::EdDSA {
            let alg = format!("algorithm {:?}", header.alg);
            return Err(rejected(VerifyError::Algorithm, &alg));
        }
        let kid = header
            .kid
            .ok_or_else(|| rejected(VerifyError::UnknownKey, &"no kid"))?;
        let key = self.key(&kid).await.map_err(|e| match e {
            VerifyError::UnknownKey => rejected(e, &format!("unknown kid {kid:?}")),
            other => other,
        })?;
        let data =
            jsonwebtoken::decode::<VerifiedClaims>(token, &key, &self.validation).map_err(|e| {
                let error = match e.kind() {
                    ErrorKind::ExpiredSignature => VerifyError::Expired,
                    ErrorKind::InvalidAudience => VerifyError::Audience,
                    ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
                    other => VerifyError::Invalid(format!("{other:?}")),
                };
                rejected(error, &format!("{:?}", e.kind()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    /// A throwaway Ed25519 key (PKCS#8 DER) for these tests only, and the
    /// `x` of its public half.
    const TEST_PKCS8: [u8; 48] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20, 0x4a, 0xbb, 0xf0, 0xbf, 0x6a, 0x5c, 0xba, 0x25, 0xe1, 0x10, 0xad, 0x13, 0xe4, 0x4d,
        0x60, 0x4e, 0x83, 0x5a, 0x42, 0xc8, 0x19, 0xb0, 0xaf, 0xd0, 0x39, 0xc8, 0x42, 0x48, 0x65,
        0x3e, 0x97, 0x1b,
    ];
    const TEST_X: &str = "VyzYEzgg06-oDOHUtBoSkN88SFW7caA2q3Yggwj6KTQ";

    struct OneKey;

    #[async_trait]
    impl KeySource for OneKey {
        async fn jwks(&self) -> Result<JwkSet, VerifyError> {
            Ok(JwkSet {
                keys: vec![crate::token::Jwk {
                    kty: "OKP".into(),
                    crv: "Ed25519".into(),
                    x: TEST_X.into(),
                    kid: "test".into(),
                    alg: Some("EdDSA".into()),
                    use_: Some("sig".into()),
                }],
            })
        }
    }

    struct NoApiKeys;

    #[async_trait]
    impl Introspector for NoApiKeys {
        async fn api_key(&self, _: &str) -> Result<Option<Principal>, VerifyError> {
            Ok(None)
        }
    }

    fn verifier() -> TokenVerifier {
        TokenVerifier::new(
            VerifierConfig::default(),
            Arc::new(OneKey),
            Arc::new(NoApiKeys),
        )
    }

    fn token(extra: serde_json::Value) -> String {
        let now = crate::unix_now();
        let mut claims = json!({ "iss": "scriptorium", "sub": "u1", "aud": ["scriptorium"],
                                 "iat": now, "exp": now + 300, "jti": "j1", "name": "ada" });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("test".into());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&TEST_PKCS8)).unwrap()
    }

    #[tokio::test]
    async fn a_token_signed_with_the_key_passes() {
        let p = verifier().verify(&token(json!({}))).await.unwrap();
        assert_eq!(p.username, "ada");
    }

    #[tokio::test]
    async fn a_token_not_yet_valid_is_refused() {
        let nbf = crate::unix_now() + 3600;
        let err = verifier()
            .verify(&token(json!({ "nbf": nbf })))
            .await
            .unwrap_err();
        assert!(matches!(err, VerifyError::NotYetValid), "{err:?}");
    }

    #[tokio::test]
    async fn a_past_nbf_is_accepted() {
        let nbf = crate::unix_now() - 60;
        assert!(verifier()
            .verify(&token(json!({ "nbf": nbf })))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn the_client_is_told_of_a_wrong_audience_in_plain_words() {
        let err = verifier()
            .verify(&token(json!({ "aud": ["another-service"] })))
            .await
            .unwrap_err();
        let problem = crate::Problem::from(err);
        assert_eq!(
            problem.detail.as_deref(),
            Some("the token is not meant for this service")
        );
    }

    #[test]
    fn the_detail_of_an_invalid_token_is_not_shown() {
        let err = VerifyError::Invalid("InvalidIssuer".into());
        assert_eq!(err.to_string(), "the token is not valid");
    }

    #[test]
    fn an_unavailable_token_service_is_not_described() {
        let err = VerifyError::Upstream("connect error: http://auth:8080".into());
        let problem = crate::Problem::from(err);
        assert_eq!(problem.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(!problem.detail.unwrap().contains("auth:8080"));
    }
}
