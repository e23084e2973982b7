//! Counters behind login lockouts and rate limits, in the database so that
//! every replica sees the same counts.

use super::{Store, StoreError};

impl Store {
    /// Seconds until the latest lock on any of `buckets` ends, if one holds.
    pub async fn locked_for(&self, buckets: &[&str], now: i64) -> Result<Option<i64>, StoreError> {
        let mut longest = None;
        for bucket in buckets {
            let row: Option<(i64,)> =
                sqlx::query_as("SELECT locked_until FROM throttle WHERE bucket = $1")
                    .bind(*bucket)
                    .fetch_optional(self.pool())
                    .await?;
            if let Some((until,)) = row {
                if until > now {
                    longest = longest.max(Some(until - now));
                }
            }
        }
        Ok(longest)
    }

    /// Count one more event on `bucket`; the count restarts when the last
    /// event is older than `window` seconds. Returns the new count.
    pub async fn bump(&self, bucket: &str, now: i64, window: i64) -> Result<i64, StoreError> {
        let (count,): (i64,) = sqlx::query_as(
            "INSERT INTO throttle (bucket, failures, updated_at, locked_until) VALUES ($1, 1, $2, 0) \
             ON CONFLICT (bucket) DO UPDATE SET \
               failures = CASE WHEN throttle.updated_at < $3 THEN 1 ELSE throttle.failures + 1 END, \
               updated_at = $2 \
             RETURNING failures",
        )
        .bind(bucket)
        .bind(now)
        .bind(now - window)
        .fetch_one(self.pool())
        .await?;
        Ok(count)
    }

    pub async fn lock_until(&self, bucket: &str, until: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE throttle SET locked_until = $1 WHERE bucket = $2")
            .bind(until)
            .bind(bucket)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn clear(&self, bucket: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM throttle WHERE bucket = $1")
            .bind(bucket)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
