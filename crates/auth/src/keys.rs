//! The signing-key ring. Keys are Ed25519, created on first start and kept in
//! the database (or read from a configured PKCS#8 PEM file, e.g. a Kubernetes
//! Secret). `keys rotate` adds a key that signs from its activation time on;
//! older keys stay published until the last token they signed has expired.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::EncodingKey;
use kit::token::{Jwk, JwkSet};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

use crate::store::{SigningKeyRow, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid signing key: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub public_key: Vec<u8>,
    pub activates_at: i64,
    pub created_ms: i64,
    encoding: Arc<EncodingKey>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn from_pkcs8(der: &[u8], activates_at: i64, created_ms: i64) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        let public_key = pair.public_key().as_ref().to_vec();
        Ok(Self {
            kid: thumbprint(&public_key),
            public_key,
            activates_at,
            created_ms,
            encoding: Arc::new(EncodingKey::from_ed_der(der)),
        })
    }

    /// A PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let der = STANDARD
            .decode(body)
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        Self::from_pkcs8(&der, 0, 0)
    }

    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    pub fn jwk(&self) -> Jwk {
        Jwk::ed25519(&self.kid, &self.public_key)
    }
}

/// RFC 7638 thumbprint of an Ed25519 public key, used as its `kid`.
pub fn thumbprint(public_key: &[u8]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public_key)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Generate a key and store it; it signs from `activates_at` on.
pub async fn create_key(store: &Store, now: i64, activates_at: i64) -> Result<String, KeyError> {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|e| KeyError::Invalid(e.to_string()))?;
    let created_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(now * 1000);
    let key = SigningKey::from_pkcs8(doc.as_ref(), activates_at, created_ms)?;
    store
        .insert_signing_key(&SigningKeyRow {
            kid: key.kid.clone(),
            private_pkcs8: STANDARD.encode(doc.as_ref()),
            public_key: URL_SAFE_NO_PAD.encode(&key.public_key),
            created_ms,
            activates_at,
        })
        .await?;
    Ok(key.kid)
}

enum Source {
    Database { store: Store },
    Static(SigningKey),
}

struct Loaded {
    at: Instant,
    keys: Arc<Vec<SigningKey>>,
}

pub struct KeyRing {
    source: Source,
    cache_for: Duration,
    /// How long after being superseded a key stays published.
    retire_after: i64,
    loaded: RwLock<Option<Loaded>>,
}

impl KeyRing {
    /// Open the ring, creating the first key when the database has none.
    pub async fn open(
        store: Store,
        static_pem: Option<&str>,
        cache_for: Duration,
        retire_after: i64,
    ) -> Result<Self, KeyError> {
        let source = match static_pem {
            Some(pem) => Source::Static(SigningKey::from_pem(pem)?),
            None => {
                if store.signing_keys().await?.is_empty() {
                    let now = kit::unix_now();
                    let kid = create_key(&store, now, now).await?;
                    tracing::info!(%kid, "created the first signing key");
                }
                Source::Database { store }
            }
        };
        Ok(Self {
            source,
            cache_for,
            retire_after,
            loaded: RwLock::new(None),
        })
    }

    async fn keys(&self) -> Result<Arc<Vec<SigningKey>>, KeyError> {
        let store = match &self.source {
            Source::Static(key) => return Ok(Arc::new(vec![key.clone()])),
            Source::Database { store } => store,
        };
        if let Some(loaded) = self.loaded.read().await.as_ref() {
            if loaded.at.elapsed() < self.cache_for {
                return Ok(loaded.keys.clone());
            }
        }
        let mut keys = Vec::new();
        for row in store.signing_keys().await? {
            let der = STANDARD
                .decode(&row.private_pkcs8)
                .map_err(|e| KeyError::Invalid(e.to_string()))?;
            keys.push(SigningKey::from_pkcs8(
                &der,
                row.activates_at,
                row.created_ms,
            )?);
        }
        keys.sort_by_key(|k| (k.activates_at, k.created_ms));
        let keys = Arc::new(keys);
        *self.loaded.write().await = Some(Loaded {
            at: Instant::now(),
            keys: keys.clone(),
        });
        Ok(keys)
    }

    /// Forget the cache so that the next use reloads from the database.
    pub async fn invalidate(&self) {
        *self.loaded.write().await = None;
    }

    /// The key to sign with now: the most recently activated one.
    pub async fn signer(&self, now: i64) -> Result<SigningKey, KeyError> {
        let keys = self.keys().await?;
        keys.iter()
            .rev()
            .find(|k| k.activates_at <= now)
            .or_else(|| keys.first())
            .cloned()
            .ok_or_else(|| KeyError::Invalid("no signing key".into()))
    }

    /// Keys to publish: upcoming ones, the active one, and superseded ones
    /// whose tokens may still be valid.
    pub async fn jwks(&self, now: i64) -> Result<JwkSet, KeyError> {
        let keys = self.keys().await?;
        let mut published = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let superseded_at = keys[i + 1..]
                .iter()
                .filter(|k| k.activates_at <= now)
                .map(|k| k.activates_at)
                .min();
            let live = superseded_at.is_none_or(|at| at + self.retire_after > now);
            if live {
                published.push(key.jwk());
            }
        }
        Ok(JwkSet { keys: published })
    }
}
