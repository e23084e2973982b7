//! The auth service: its state, and the in-process answers it gives to the
//! token verifier of the services that share its process.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kit::token::{
    Credential, Introspector, JwkSet, KeySource, Principal, TokenVerifier, VerifierConfig,
    VerifyError,
};
use secrecy::ExposeSecret;

use crate::config::AuthConfig;
use crate::error::AuthError;
use crate::hashing::Hasher;
use crate::keys::KeyRing;
use crate::store::{AuditEvent, AuditRecord, Store, StoreError, UserRow};
use crate::throttle::Throttle;
use crate::tokens;

/// Who is asking, for the audit log and the throttles.
#[derive(Debug, Clone)]
pub struct Context {
    pub ip: IpAddr,
    pub request_id: Option<String>,
}

impl Context {
    /// Actions taken from the command line.
    pub fn local() -> Self {
        Self {
            ip: IpAddr::from([127, 0, 0, 1]),
            request_id: None,
        }
    }
}

#[derive(Clone)]
pub struct Auth(Arc<Inner>);

/// The service's parts; reached through `Auth`'s `Deref` inside the crate.
pub struct Inner {
    pub(crate) config: AuthConfig,
    pub(crate) store: Store,
    pub(crate) hasher: Hasher,
    pub(crate) keys: KeyRing,
    pub(crate) throttle: Throttle,
    /// Recently read accounts for `/auth/me`, by id.
    pub(crate) users: std::sync::Mutex<std::collections::HashMap<String, (UserRow, Instant)>>,
}

impl std::ops::Deref for Auth {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Auth {
    /// Connect, migrate (under a lock), load or create the signing keys, and
    /// fill in the username skeletons that older rows lack.
    /// `hash_threads` is this service's share of the core budget.
    pub async fn open(config: AuthConfig, hash_threads: usize) -> Result<Self, AuthError> {
        let url = config.connection_url().map_err(StoreError::from)?;
        let store = Store::connect(url.expose_secret(), config.max_connections).await?;
        store.migrate().await?;
        let keys = KeyRing::open(
            store.clone(),
            config.signing_key.as_ref().map(|s| s.expose_secret()),
            Duration::from_secs(config.key_cache_secs),
            config.access_ttl_secs + 60,
        )
        .await?;
        let queue_max = config.hash_queue_max;
        let hasher = tokio::task::spawn_blocking(move || Hasher::new(hash_threads, queue_max))
            .await
            .map_err(|e| AuthError::Hash(crate::hashing::HashError::Failed(e.to_string())))??;
        let throttle = Throttle::new(store.clone(), config.throttle.clone());
        let auth = Self(Arc::new(Inner {
            config,
            store,
            hasher,
            keys,
            throttle,
            users: Default::default(),
        }));
        auth.backfill_skeletons().await?;
        Ok(auth)
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// A verifier answered in-process (no HTTP hop, no JWKS fetch).
    pub fn local_verifier(&self, audience: &str) -> Arc<TokenVerifier> {
        let config = VerifierConfig {
            issuer: self.config.issuer.clone(),
            audience: audience.to_owned(),
            refetch_interval: Duration::from_secs(1),
            // In-process look-ups are cheap; revocation takes effect at once.
            api_key_cache_ttl: Duration::ZERO,
            ..VerifierConfig::default()
        };
        Arc::new(TokenVerifier::new(
            config,
            Arc::new(self.clone()),
            Arc::new(self.clone()),
        ))
    }

    /// Ready when the database answers and every migration is applied.
    pub async fn ready(&self) -> Result<(), String> {
        self.store.ping().await.map_err(|e| e.to_string())?;
        match self.store.migrations_applied().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("migrations pending".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Record an audit event; a failure to record is logged, not fatal.
    pub(crate) async fn audit(
        &self,
        ctx: &Context,
        event: AuditEvent,
        user_id: Option<&str>,
        username: Option<&str>,
        detail: Option<String>,
    ) {
        tracing::info!(event = event.as_str(), user_id, username, ip = %ctx.ip, "audit");
        let record = AuditRecord {
            at: kit::unix_now(),
            event: event.as_str().to_owned(),
            user_id: user_id.map(str::to_owned),
            username: username.map(str::to_owned),
            ip: Some(ctx.ip.to_string()),
            request_id: ctx.request_id.clone(),
            detail,
        };
        if let Err(e) = self.store.audit(&record).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    /// Add a signing key that signs after the configured activation delay.
    pub async fn rotate_keys(&self, activation_delay: Option<i64>) -> Result<String, AuthError> {
        let now = kit::unix_now();
        let delay = activation_delay.unwrap_or(self.config.key_activation_delay_secs);
        let kid = crate::keys::create_key(&self.store, now, now + delay).await?;
        self.keys.invalidate().await;
        self.audit(
            &Context::local(),
            AuditEvent::KeyRotation,
            None,
            None,
            Some(format!("kid={kid} activates_in={delay}s")),
        )
        .await;
        Ok(kid)
    }
}

#[async_trait]
impl KeySource for Auth {
    async fn jwks(&self) -> Result<JwkSet, VerifyError> {
        self.keys
            .jwks(kit::unix_now())
            .await
            .map_err(|e| VerifyError::Upstream(e.to_string()))
    }
}

#[async_trait]
impl Introspector for Auth {
    async fn api_key(&self, key: &str) -> Result<Option<Principal>, VerifyError> {
        let found = self
            .store
            .live_api_key(&tokens::digest(key), kit::unix_now())
            .await
            .map_err(|e| VerifyError::Upstream(e.to_string()))?;
        Ok(found.map(|(row, username)| Principal {
            user_id: row.user_id,
            username,
            credential: Credential::ApiKey { key_id: row.id },
        }))
    }
}
