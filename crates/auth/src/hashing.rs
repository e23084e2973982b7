//! Password hashing with argon2id (OWASP: m=19456 KiB, t=2, p=1) on a bounded
//! set of blocking threads sized to the core budget. Waiting requests queue
//! (reported as `auth_hash_queue_depth`); past `queue_max` they get 503.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

pub const M_COST_KIB: u32 = 19_456;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("too many password checks waiting")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

pub fn argon2() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash synchronously (for the blocking pool, the CLI and benchmarks).
pub fn hash_blocking(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Failed(e.to_string()))
}

/// Verify synchronously; the parameters come from the PHC string.
pub fn verify_blocking(password: &str, phc: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(|e| HashError::Failed(e.to_string()))?;
    Ok(argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    queue_max: usize,
    /// A hash of a random password, verified for unknown users so that a
    /// wrong username costs the same time as a wrong password.
    dummy: Arc<String>,
}

impl Hasher {
    pub fn new(threads: usize, queue_max: usize) -> Result<Self, HashError> {
        let random: [u8; 16] = rand::random();
        let dummy = hash_blocking(&format!("{random:?}"))?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(threads.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue_max,
            dummy: Arc::new(dummy),
        })
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move || hash_blocking(&password)).await
    }

    /// Verify `password` against `phc`, or against the dummy hash when there
    /// is no such user (the answer is then always `false`).
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, HashError> {
        let real = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.as_str().to_owned());
        let ok = self.run(move || verify_blocking(&password, &phc)).await?;
        Ok(ok && real)
    }

    #[tracing::instrument(skip_all, name = "argon2")]
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let depth = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        metrics::gauge!("auth_hash_queue_depth").set(depth as f64);
        let permit = if depth > self.queue_max {
            None
        } else {
            self.permits.clone().acquire_owned().await.ok()
        };
        let depth = self.waiting.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("auth_hash_queue_depth").set(depth as f64);
        let permit = permit.ok_or(HashError::Busy)?;
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))?;
        result
    }
}
