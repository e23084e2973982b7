//! Brute-force policy, after OWASP's Authentication Cheat Sheet: lockouts
//! with exponential backoff on three counters, and a registration rate per
//! address.
//!
//! - account and address together (`account_max_failures`): guessing one
//!   password from one place locks that place out of that account only, so
//!   nobody can lock a user out by failing on their name from elsewhere;
//! - address (`ip_max_failures`): one place trying many accounts;
//! - account, from anywhere (`account_wide_max_failures`, much higher):
//!   guessing spread over many addresses. This one locks the owner out too,
//!   which is what it takes so many failures to reach.

use std::net::IpAddr;

use crate::config::ThrottleConfig;
use crate::store::{Store, StoreError};

pub struct Throttle {
    store: Store,
    cfg: ThrottleConfig,
}

/// Failures on one account from one address.
pub fn account_ip_bucket(username_key: &str, ip: IpAddr) -> String {
    format!("login:user_ip:{username_key}:{ip}")
}

/// Failures on one account from anywhere.
pub fn account_bucket(username_key: &str) -> String {
    format!("login:user:{username_key}")
}

pub fn ip_bucket(ip: IpAddr) -> String {
    format!("login:ip:{ip}")
}

fn register_bucket(ip: IpAddr) -> String {
    format!("register:ip:{ip}")
}

/// Lock length after `failures` failures with `max` allowed: `base` doubled
/// for every failure past the limit, capped.
pub fn lockout_secs(failures: i64, max: i64, base: i64, cap: i64) -> Option<i64> {
    if failures < max {
        return None;
    }
    let doublings = (failures - max).min(30) as u32;
    Some(base.saturating_mul(1_i64 << doublings).min(cap))
}

impl Throttle {
    pub fn new(store: Store, cfg: ThrottleConfig) -> Self {
        Self { store, cfg }
    }

    /// Seconds to wait before this login may be tried, if locked.
    pub async fn login_locked(
        &self,
        username_key: &str,
        ip: IpAddr,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let buckets = self.login_buckets(username_key, ip);
        let names: Vec<&str> = buckets.iter().map(|(b, _)| b.as_str()).collect();
        self.store.locked_for(&names, now).await
    }

    /// Count a failed login; returns the lock it caused, if any.
    pub async fn login_failed(
        &self,
        username_key: &str,
        ip: IpAddr,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let c = &self.cfg;
        let mut locked = None;
        for (bucket, max) in self.login_buckets(username_key, ip) {
            let failures = self.store.bump(&bucket, now, c.failure_window_secs).await?;
            if let Some(secs) = lockout_secs(failures, max, c.lockout_base_secs, c.lockout_max_secs)
            {
                self.store.lock_until(&bucket, now + secs).await?;
                locked = locked.max(Some(secs));
            }
        }
        Ok(locked)
    }

    /// A correct password from `ip` forgives that address's failures on the
    /// account. The account-wide count is left to expire with the failure
    /// window: were it cleared too, every login of the owner would hand a
    /// distributed guesser a fresh allowance.
    pub async fn login_succeeded(&self, username_key: &str, ip: IpAddr) -> Result<(), StoreError> {
        self.store.clear(&account_ip_bucket(username_key, ip)).await
    }

    /// The login counters with their limits.
    fn login_buckets(&self, username_key: &str, ip: IpAddr) -> [(String, i64); 3] {
        let c = &self.cfg;
        [
            (account_ip_bucket(username_key, ip), c.account_max_failures),
            (ip_bucket(ip), c.ip_max_failures),
            (account_bucket(username_key), c.account_wide_max_failures),
        ]
    }

    /// Count a registration attempt; `Some(wait)` when over the rate.
    pub async fn register_attempt(&self, ip: IpAddr, now: i64) -> Result<Option<i64>, StoreError> {
        let bucket = register_bucket(ip);
        if let Some(wait) = self.store.locked_for(&[&bucket], now).await? {
            return Ok(Some(wait));
        }
        let c = &self.cfg;
        let count = self
            .store
            .bump(&bucket, now, c.register_window_secs)
            .await?;
        if count > c.register_per_ip {
            self.store
                .lock_until(&bucket, now + c.register_window_secs)
                .await?;
            return Ok(Some(c.register_window_secs));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_doubles_and_caps() {
        assert_eq!(lockout_secs(4, 5, 30, 3600), None);
        assert_eq!(lockout_secs(5, 5, 30, 3600), Some(30));
        assert_eq!(lockout_secs(6, 5, 30, 3600), Some(60));
        assert_eq!(lockout_secs(8, 5, 30, 3600), Some(240));
        assert_eq!(lockout_secs(100, 5, 30, 3600), Some(3600));
    }

    #[test]
    fn the_account_and_address_bucket_names_both() {
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            account_ip_bucket("bob", ip),
            "login:user_ip:bob:203.0.113.9"
        );
        assert_ne!(
            account_ip_bucket("bob", ip),
            account_ip_bucket("bob", "198.51.100.7".parse().unwrap())
        );
    }
}
