//! The work queue: claims with a lease, renewals, each page stored under
//! the lease, and settling.

use sqlx::Acquire;

use super::{now_ms, Backend, Claim, PageRow, PageTerms, Store};

impl Store {
    /// Take the next document to read, with a lease until `until`: a queued
    /// one whose time has come, or one whose holder's lease ran out. Users
    /// with fewer documents being read go first, then the oldest document.
    pub async fn claim(&self, holder: &str, until: i64) -> Result<Option<Claim>, sqlx::Error> {
        let now = now_ms();
        let lock = match self.db.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            // SQLite has one writer at a time: the statement is the lock.
            Backend::Sqlite => "",
        };
        sqlx::query_as(&format!(
            "UPDATE documents SET status = 'processing', lease_holder = $1, lease_until = $2, \
             attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT d.id FROM documents d \
               WHERE (d.status = 'queued' AND d.not_before <= $3) \
                  OR (d.status = 'processing' AND d.lease_until < $3) \
               ORDER BY (SELECT COUNT(*) FROM documents o WHERE o.owner = d.owner \
                          AND o.status = 'processing' AND o.lease_until >= $3), \
                        d.created_at, d.id \
               LIMIT 1 {lock}) \
             RETURNING id, owner, options, pages_total, attempts, error"
        ))
        .bind(holder)
        .bind(until)
        .bind(now)
        .fetch_optional(self.pool())
        .await
    }

    /// Extend a lease; false when it is no longer `holder`'s (ran out and
    /// taken, or the document was deleted).
    pub async fn renew(&self, id: &str, holder: &str, until: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE documents SET lease_until = $3 \
             WHERE id = $1 AND lease_holder = $2 AND status = 'processing'",
        )
        .bind(id)
        .bind(holder)
        .bind(until)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The first page number (1-based) without a result.
    pub async fn next_page(&self, id: &str) -> Result<i64, sqlx::Error> {
        let (last,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(number), 0) FROM pages WHERE document_id = $1")
                .bind(id)
                .fetch_one(self.pool())
                .await?;
        Ok(last + 1)
    }

    /// Store one page's result and extend the lease, only while `holder`
    /// still holds it; false otherwise (nothing is written then).
    pub async fn store_page(
        &self,
        id: &str,
        holder: &str,
        page: &PageRow,
        terms: &PageTerms,
        until: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        let held = sqlx::query(
            "UPDATE documents SET pages_done = $3, lease_until = $4, updated_at = $5 \
             WHERE id = $1 AND lease_holder = $2 AND status = 'processing'",
        )
        .bind(id)
        .bind(holder)
        .bind(page.number)
        .bind(until)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !held {
            return Ok(false);
        }
        sqlx::query("INSERT INTO pages (document_id, number, result) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(page.number)
            .bind(page.result.as_str())
            .execute(&mut *tx)
            .await?;
        self.index(&mut tx, id, page.number, terms, None).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Settle a held document: `done`, `failed` with a reason, or back to
    /// the queue until `not_before`. `refund`: this claim does not count
    /// (the process is stopping, nothing went wrong).
    pub async fn settle(
        &self,
        id: &str,
        holder: &str,
        outcome: Settle<'_>,
    ) -> Result<bool, sqlx::Error> {
        let now = now_ms();
        let (status, error, not_before, refund) = match outcome {
            Settle::Done => ("done", None, now, 0_i64),
            Settle::Failed(reason) => ("failed", Some(reason), now, 0),
            Settle::Retry { reason, not_before } => ("queued", Some(reason), not_before, 0),
            Settle::Release => ("queued", None, now, 1),
        };
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        let settled = sqlx::query(
            "UPDATE documents SET status = $3, error = COALESCE($4, error), not_before = $5, \
             attempts = attempts - $6, lease_holder = NULL, lease_until = NULL, updated_at = $7 \
             WHERE id = $1 AND lease_holder = $2 AND status = 'processing'",
        )
        .bind(id)
        .bind(holder)
        .bind(status)
        .bind(error)
        .bind(not_before)
        .bind(refund)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if settled && status == "done" {
            self.publish(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(settled)
    }

    /// Documents waiting, and the age of the oldest, in milliseconds.
    pub async fn queue_depth(&self) -> Result<(i64, i64), sqlx::Error> {
        let now = now_ms();
        let (depth, oldest): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(MIN(created_at), $1) AS BIGINT) FROM documents \
             WHERE status = 'queued' OR status = 'processing'",
        )
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok((depth, now - oldest))
    }
}

/// How a worker leaves a document it held.
pub enum Settle<'a> {
    Done,
    Failed(&'a str),
    Retry { reason: &'a str, not_before: i64 },
    Release,
}
