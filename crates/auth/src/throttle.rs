//! Brute-force policy: per-account and per-address lockouts with exponential
//! backoff, and a registration rate per address.

use std::net::IpAddr;

use crate::config::ThrottleConfig;
use crate::store::{Store, StoreError};

pub struct Throttle {
    store: Store,
    cfg: ThrottleConfig,
}

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
        let user = account_bucket(username_key);
        let ip = ip_bucket(ip);
        self.store.locked_for(&[&user, &ip], now).await
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
        for (bucket, max) in [
            (account_bucket(username_key), c.account_max_failures),
            (ip_bucket(ip), c.ip_max_failures),
        ] {
            let failures = self.store.bump(&bucket, now, c.failure_window_secs).await?;
            if let Some(secs) = lockout_secs(failures, max, c.lockout_base_secs, c.lockout_max_secs)
            {
                self.store.lock_until(&bucket, now + secs).await?;
                locked = locked.max(Some(secs));
            }
        }
        Ok(locked)
    }

    pub async fn login_succeeded(&self, username_key: &str) -> Result<(), StoreError> {
        self.store.clear(&account_bucket(username_key)).await
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
    use super::lockout_secs;

    #[test]
    fn lockout_doubles_and_caps() {
        assert_eq!(lockout_secs(4, 5, 30, 3600), None);
        assert_eq!(lockout_secs(5, 5, 30, 3600), Some(30));
        assert_eq!(lockout_secs(6, 5, 30, 3600), Some(60));
        assert_eq!(lockout_secs(8, 5, 30, 3600), Some(240));
        assert_eq!(lockout_secs(100, 5, 30, 3600), Some(3600));
    }
}
