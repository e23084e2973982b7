//! The library's own database: documents, their recognized pages, and the
//! work queue, which is the documents table itself (status, lease,
//! attempts, next try). Times are milliseconds since the epoch.

use kit::database::{Backend, Database, DatabaseError, Migrations};
use sqlx::migrate::Migrator;
use sqlx::{Acquire, AnyPool};
use wire::documents::DocumentStatus;

use crate::search::{PageTerms, Query};

/// The tables are the same on both backends; the search index is not
/// (`tsvector` with a GIN index, an FTS5 table).
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");

static MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES,
    sqlite: &SQLITE,
    lock: 0x5c41_d0c5_0001,
};

const COLUMNS: &str = "id, owner, name, status, options, languages, bytes, sha256, pages_total, \
                       pages_done, attempts, error, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DocumentRow {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub status: String,
    pub options: String,
    pub languages: String,
    pub bytes: i64,
    pub sha256: String,
    pub pages_total: Option<i64>,
    pub pages_done: i64,
    pub attempts: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl DocumentRow {
    pub fn status(&self) -> DocumentStatus {
        self.status.parse().unwrap_or(DocumentStatus::Failed)
    }

    pub fn wire(&self) -> wire::documents::Document {
        wire::documents::Document {
            id: self.id.clone(),
            name: self.name.clone(),
            status: self.status(),
            pages_done: self.pages_done as u32,
            pages_total: self.pages_total.map(|n| n as u32),
            languages: self.languages.clone(),
            bytes: self.bytes as u64,
            sha256: self.sha256.clone(),
            created_at: self.created_at / 1000,
            updated_at: self.updated_at / 1000,
            error: self.error.clone(),
        }
    }
}

/// A document about to be stored.
pub struct NewDocument<'a> {
    pub id: &'a str,
    pub owner: &'a str,
    pub name: &'a str,
    pub options: &'a str,
    pub languages: &'a str,
    pub bytes: i64,
    pub sha256: &'a str,
    pub pages_total: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PageRow {
    pub number: i64,
    /// wire::ocr::Page as JSON: hOCR and TSV are written from it.
    pub result: String,
}

/// A search of one user's library.
pub struct Search<'a> {
    pub query: &'a Query,
    /// Only these documents (all when empty).
    pub documents: &'a [String],
    /// Uploaded in `[since, until)`, milliseconds.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: u32,
    pub offset: u32,
}

/// A matching page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HitRow {
    pub document_id: String,
    pub name: String,
    pub number: i64,
    /// wire::ocr::Page as JSON.
    pub result: String,
    pub score: f64,
}

/// A document a worker holds the lease of.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claim {
    pub id: String,
    pub owner: String,
    pub options: String,
    pub pages_total: Option<i64>,
    /// Claims so far, this one included.
    pub attempts: i64,
    pub error: Option<String>,
}

/// Where a listing resumes: after this document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let (at, id) = s.split_once('.')?;
        let valid_id = !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        valid_id.then_some(())?;
        Some(Self {
            created_at: at.parse().ok()?,
            id: id.to_owned(),
        })
    }
}

/// What a user has stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub documents: u64,
    pub bytes: u64,
}

/// Index every stored page of the library again (after the normalization
/// changed), `progress` told after each batch (pages done, pages in all).
pub async fn reindex(
    config: &crate::DocumentsConfig,
    progress: impl FnMut(u64, u64),
) -> Result<u64, DatabaseError> {
    let url = config.connection_url()?;
    let store = Store::open(secrecy::ExposeSecret::expose_secret(&url), 2).await?;
    Ok(store.reindex(progress).await?)
}

/// Apply the library's migrations (one replica at a time) and close.
pub async fn migrate(config: &crate::DocumentsConfig) -> Result<(), DatabaseError> {
    let url = config.connection_url()?;
    let db = Database::connect(secrecy::ExposeSecret::expose_secret(&url), 1).await?;
    db.migrate(&MIGRATIONS).await
}

#[derive(Clone)]
pub struct Store {
    db: Database,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, DatabaseError> {
        let db = Database::connect(url, max_connections).await?;
        db.migrate(&MIGRATIONS).await?;
        Ok(Self { db })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        self.db.pool()
    }

    pub async fn ready(&self) -> Result<(), String> {
        self.db.ping().await.map_err(|e| e.to_string())?;
        if self.db.migrations_applied(&MIGRATIONS).await {
            Ok(())
        } else {
            Err("documents migrations pending".into())
        }
    }

    pub async fn insert(&self, doc: &NewDocument<'_>) -> Result<(), sqlx::Error> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO documents (id, owner, name, status, options, languages, bytes, sha256, \
             pages_total, pages_done, attempts, not_before, created_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, 0, 0, $9, $9, $9)",
        )
        .bind(doc.id)
        .bind(doc.owner)
        .bind(doc.name)
        .bind(doc.options)
        .bind(doc.languages)
        .bind(doc.bytes)
        .bind(doc.sha256)
        .bind(doc.pages_total)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn get(&self, owner: &str, id: &str) -> Result<Option<DocumentRow>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM documents WHERE id = $1 AND owner = $2"
        ))
        .bind(id)
        .bind(owner)
        .fetch_optional(self.pool())
        .await
    }

    /// `owner`'s documents, newest first, after `cursor`.
    pub async fn list(
        &self,
        owner: &str,
        status: Option<DocumentStatus>,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<DocumentRow>, sqlx::Error> {
        let mut sql = format!("SELECT {COLUMNS} FROM documents WHERE owner = $1");
        let mut n = 1;
        if status.is_some() {
            n += 1;
            sql.push_str(&format!(" AND status = ${n}"));
        }
        if cursor.is_some() {
            sql.push_str(&format!(
                " AND (created_at < ${a} OR (created_at = ${a} AND id < ${b}))",
                a = n + 1,
                b = n + 2
            ));
            n += 2;
        }
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT ${}",
            n + 1
        ));
        let mut query = sqlx::query_as(&sql).bind(owner);
        if let Some(status) = status {
            query = query.bind(status.as_str());
        }
        if let Some(c) = cursor {
            query = query.bind(c.created_at).bind(c.id.as_str());
        }
        query.bind(i64::from(limit)).fetch_all(self.pool()).await
    }

    pub async fn usage(&self, owner: &str) -> Result<Usage, sqlx::Error> {
        let (documents, bytes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM documents WHERE owner = $1",
        )
        .bind(owner)
        .fetch_one(self.pool())
        .await?;
        Ok(Usage {
            documents: documents as u64,
            bytes: bytes as u64,
        })
    }

    /// Remove a document and its pages; false when it is not `owner`'s.
    pub async fn delete(&self, owner: &str, id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let found = sqlx::query("SELECT id FROM documents WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if found {
            sqlx::query("DELETE FROM page_index WHERE document_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM pages WHERE document_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM documents WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(found)
    }

    pub async fn pages(&self, id: &str) -> Result<Vec<PageRow>, sqlx::Error> {
        sqlx::query_as("SELECT number, result FROM pages WHERE document_id = $1 ORDER BY number")
            .bind(id)
            .fetch_all(self.pool())
            .await
    }

    pub async fn page(&self, id: &str, number: i64) -> Result<Option<PageRow>, sqlx::Error> {
        sqlx::query_as("SELECT number, result FROM pages WHERE document_id = $1 AND number = $2")
            .bind(id)
            .bind(number)
            .fetch_optional(self.pool())
            .await
    }

    /// Rows of a table that belong to a document (for checks and tests).
    pub async fn rows_of(&self, id: &str) -> Result<i64, sqlx::Error> {
        let (documents,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM documents WHERE id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        let (pages,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pages WHERE document_id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        let (indexed,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM page_index WHERE document_id = $1")
                .bind(id)
                .fetch_one(self.pool())
                .await?;
        Ok(documents + pages + indexed)
    }

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
        self.index(&mut tx, id, page.number, terms).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Write a page's search terms, replacing what it had.
    async fn index(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: &str,
        number: i64,
        terms: &PageTerms,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM page_index WHERE document_id = $1 AND number = $2")
            .bind(id)
            .bind(number)
            .execute(&mut *conn)
            .await?;
        let insert = match self.db.backend() {
            Backend::Postgres => sqlx::query(
                "INSERT INTO page_index (document_id, number, terms) \
                 VALUES ($1, $2, CAST($3 AS tsvector))",
            )
            .bind(id)
            .bind(number)
            .bind(terms.tsvector()),
            Backend::Sqlite => sqlx::query(
                "INSERT INTO page_index (document_id, number, en, fr) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(number)
            .bind(terms.en.as_str())
            .bind(terms.fr.as_str()),
        };
        insert.execute(&mut *conn).await?;
        Ok(())
    }

    /// Index a stored page again (after the normalization changed).
    async fn reindex_page(
        &self,
        id: &str,
        number: i64,
        terms: &PageTerms,
    ) -> Result<(), sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        self.index(&mut tx, id, number, terms).await?;
        tx.commit().await
    }

    pub async fn reindex(&self, mut progress: impl FnMut(u64, u64)) -> Result<u64, sqlx::Error> {
        let total = self.page_count().await?.max(0) as u64;
        let mut done = 0;
        let mut after: Option<(String, i64)> = None;
        loop {
            let batch = self
                .pages_after(after.as_ref().map(|(id, n)| (id.as_str(), *n)), 200)
                .await?;
            let Some(last) = batch.last() else { break };
            after = Some((last.0.clone(), last.1));
            for (id, number, result) in &batch {
                let terms = serde_json::from_str::<wire::ocr::Page>(result)
                    .map(|page| PageTerms::of_page(&page))
                    .unwrap_or_default();
                self.reindex_page(id, *number, &terms).await?;
            }
            done += batch.len() as u64;
            progress(done, total.max(done));
        }
        Ok(done)
    }

    /// Every stored page after `after` (document id, page number), in that
    /// order, `limit` at a time: what reindexing walks.
    async fn pages_after(
        &self,
        after: Option<(&str, i64)>,
        limit: u32,
    ) -> Result<Vec<(String, i64, String)>, sqlx::Error> {
        let (id, number) = after.unwrap_or(("", 0));
        sqlx::query_as(
            "SELECT document_id, number, result FROM pages \
             WHERE document_id > $1 OR (document_id = $1 AND number > $2) \
             ORDER BY document_id, number LIMIT $3",
        )
        .bind(id)
        .bind(number)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
    }

    async fn page_count(&self) -> Result<i64, sqlx::Error> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pages")
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    /// `owner`'s finished pages that match, best first.
    pub async fn search(
        &self,
        owner: &str,
        search: &Search<'_>,
    ) -> Result<Vec<HitRow>, sqlx::Error> {
        let (matching, score) = match self.db.backend() {
            Backend::Postgres => (
                "page_index.terms @@ CAST($1 AS tsquery)",
                "CAST(ts_rank(page_index.terms, CAST($1 AS tsquery)) AS DOUBLE PRECISION)",
            ),
            // bm25 is lower for a better match. FTS5 wants the table's own
            // name, not an alias.
            Backend::Sqlite => ("page_index MATCH $1", "-bm25(page_index)"),
        };
        // The best pages first, from the index and the documents alone;
        // then the stored results of those few pages only.
        let mut sql = format!(
            "SELECT page_index.document_id AS document_id, page_index.number AS number, \
             d.name AS name, d.created_at AS created_at, {score} AS score \
             FROM page_index \
             JOIN documents d ON d.id = page_index.document_id \
             WHERE {matching} AND d.owner = $2 AND d.status = 'done'"
        );
        let mut n = 2;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if !search.documents.is_empty() {
            let list: Vec<String> = search.documents.iter().map(|_| next()).collect();
            sql.push_str(&format!(" AND d.id IN ({})", list.join(", ")));
        }
        if search.since.is_some() {
            sql.push_str(&format!(" AND d.created_at >= {}", next()));
        }
        if search.until.is_some() {
            sql.push_str(&format!(" AND d.created_at < {}", next()));
        }
        let order = "ORDER BY score DESC, created_at DESC, document_id, number";
        sql.push_str(&format!(" {order} LIMIT {} OFFSET {}", next(), next()));
        let sql = format!(
            "SELECT h.document_id, h.name, h.number, p.result, h.score FROM ({sql}) h \
             JOIN pages p ON p.document_id = h.document_id AND p.number = h.number \
             ORDER BY h.score DESC, h.created_at DESC, h.document_id, h.number"
        );
        let expression = match self.db.backend() {
            Backend::Postgres => search.query.tsquery(),
            Backend::Sqlite => search.query.fts5(),
        };
        let mut query = sqlx::query_as(&sql).bind(expression).bind(owner);
        for id in search.documents {
            query = query.bind(id.as_str());
        }
        if let Some(since) = search.since {
            query = query.bind(since);
        }
        if let Some(until) = search.until {
            query = query.bind(until);
        }
        query
            .bind(i64::from(search.limit))
            .bind(i64::from(search.offset))
            .fetch_all(self.pool())
            .await
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
        let done = sqlx::query(
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
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = Cursor {
            created_at: 1_700_000_000_123,
            id: "0193a0e4-7c1d-7000-8000-0123456789ab".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for junk in ["", "12", "x.abc", "12.", "12.ab'; --"] {
            assert_eq!(Cursor::decode(junk), None, "{junk}");
        }
    }

    async fn empty_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/documents.db?mode=rwc", dir.path().display());
        let store = Store::open(&url, 2).await.unwrap();
        (dir, store)
    }

    async fn insert(store: &Store, id: &str, owner: &str) {
        store
            .insert(&NewDocument {
                id,
                owner,
                name: "a.png",
                options: "{}",
                languages: "eng",
                bytes: 10,
                sha256: "00",
                pages_total: 2,
            })
            .await
            .unwrap();
    }

    async fn store_with_one_document() -> (tempfile::TempDir, Store) {
        let (dir, store) = empty_store().await;
        insert(&store, "d1", "u1").await;
        (dir, store)
    }

    #[tokio::test]
    async fn a_user_with_nothing_being_read_goes_before_one_with_a_document_being_read() {
        let (_dir, store) = empty_store().await;
        for id in ["a1", "a2", "a3"] {
            insert(&store, id, "alice").await;
        }
        // Bob's one document comes after all of Alice's.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        insert(&store, "b1", "bob").await;
        let later = now_ms() + 60_000;
        let first = store.claim("w1", later).await.unwrap().unwrap();
        assert_eq!(first.id, "a1", "the oldest first");
        let second = store.claim("w2", later).await.unwrap().unwrap();
        assert_eq!(second.id, "b1", "Bob has nothing being read, Alice has one");
        let third = store.claim("w3", later).await.unwrap().unwrap();
        assert_eq!(third.id, "a2");
    }

    fn page(number: i64) -> PageRow {
        PageRow {
            number,
            result: "{}".into(),
        }
    }

    #[tokio::test]
    async fn a_lease_fences_every_write_until_it_runs_out() {
        let (_dir, store) = store_with_one_document().await;
        let later = now_ms() + 60_000;
        let claim = store.claim("a", later).await.unwrap().expect("queued work");
        assert_eq!((claim.id.as_str(), claim.attempts), ("d1", 1));
        assert!(
            store.claim("b", later).await.unwrap().is_none(),
            "held by a"
        );
        assert!(!store
            .store_page("d1", "b", &page(1), &PageTerms::default(), later)
            .await
            .unwrap());
        assert!(store
            .store_page("d1", "a", &page(1), &PageTerms::default(), later)
            .await
            .unwrap());
        assert_eq!(store.next_page("d1").await.unwrap(), 2);

        // a's lease runs out: b takes the document, and a can write no more.
        assert!(store.renew("d1", "a", now_ms() - 1).await.unwrap());
        let taken = store
            .claim("b", later)
            .await
            .unwrap()
            .expect("an expired lease");
        assert_eq!(taken.attempts, 2);
        assert!(!store
            .store_page("d1", "a", &page(2), &PageTerms::default(), later)
            .await
            .unwrap());
        assert!(!store.settle("d1", "a", Settle::Done).await.unwrap());
        assert!(store
            .store_page("d1", "b", &page(2), &PageTerms::default(), later)
            .await
            .unwrap());
        assert!(store.settle("d1", "b", Settle::Done).await.unwrap());
        let row = store.get("u1", "d1").await.unwrap().unwrap();
        assert_eq!((row.status(), row.pages_done), (DocumentStatus::Done, 2));
        assert!(
            store.claim("c", later).await.unwrap().is_none(),
            "nothing left"
        );
    }

    #[tokio::test]
    async fn retries_wait_their_turn_and_a_release_costs_no_attempt() {
        let (_dir, store) = store_with_one_document().await;
        let later = now_ms() + 60_000;
        store.claim("a", later).await.unwrap().unwrap();
        let retry = Settle::Retry {
            reason: "busy",
            not_before: now_ms() + 60_000,
        };
        assert!(store.settle("d1", "a", retry).await.unwrap());
        assert!(
            store.claim("a", later).await.unwrap().is_none(),
            "not before its time"
        );
        let row = store.get("u1", "d1").await.unwrap().unwrap();
        assert_eq!(
            (row.status(), row.error.as_deref()),
            (DocumentStatus::Queued, Some("busy"))
        );

        let (_dir, store) = store_with_one_document().await;
        store.claim("a", later).await.unwrap().unwrap();
        assert!(store.settle("d1", "a", Settle::Release).await.unwrap());
        let again = store.claim("b", later).await.unwrap().unwrap();
        assert_eq!(again.attempts, 1, "the released claim was not counted");
        assert!(store.settle("d1", "b", Settle::Failed("no")).await.unwrap());
        let row = store.get("u1", "d1").await.unwrap().unwrap();
        assert_eq!(
            (row.status(), row.error.as_deref()),
            (DocumentStatus::Failed, Some("no"))
        );
    }

    #[tokio::test]
    async fn deleting_a_document_takes_its_pages_and_its_lease() {
        let (_dir, store) = store_with_one_document().await;
        let later = now_ms() + 60_000;
        store.claim("a", later).await.unwrap().unwrap();
        assert!(store
            .store_page("d1", "a", &page(1), &PageTerms::default(), later)
            .await
            .unwrap());
        assert!(!store.delete("u2", "d1").await.unwrap(), "not u2's");
        assert!(store.delete("u1", "d1").await.unwrap());
        assert_eq!(store.rows_of("d1").await.unwrap(), 0);
        assert!(!store.renew("d1", "a", later).await.unwrap());
        assert!(!store
            .store_page("d1", "a", &page(2), &PageTerms::default(), later)
            .await
            .unwrap());
        assert_eq!(store.rows_of("d1").await.unwrap(), 0);
    }

    async fn search(store: &Store, owner: &str, q: &str) -> Vec<(String, i64)> {
        let query: Query = q.parse().unwrap();
        let search = Search {
            query: &query,
            documents: &[],
            since: None,
            until: None,
            limit: 10,
            offset: 0,
        };
        let hits = store.search(owner, &search).await.unwrap();
        hits.into_iter()
            .map(|h| (h.document_id, h.number))
            .collect()
    }

    #[tokio::test]
    async fn a_page_is_found_once_its_document_is_done_and_never_after_a_delete() {
        let (_dir, store) = store_with_one_document().await;
        let later = now_ms() + 60_000;
        store.claim("a", later).await.unwrap().unwrap();
        for (n, text) in [(1, "Le château de la tannerie"), (2, "Invoices are due")] {
            let mut result = wire::ocr::Page::blank(n as usize);
            result.text = text.into();
            let row = PageRow {
                result: serde_json::to_string(&result).unwrap(),
                ..page(n)
            };
            let terms = PageTerms::of_page(&result);
            assert!(store
                .store_page("d1", "a", &row, &terms, later)
                .await
                .unwrap());
        }
        assert_eq!(
            search(&store, "u1", "chateau").await,
            [],
            "still processing"
        );
        assert!(store.settle("d1", "a", Settle::Done).await.unwrap());
        assert_eq!(search(&store, "u1", "chateau").await, [("d1".into(), 1)]);
        assert_eq!(
            search(&store, "u1", "invoice due").await,
            [("d1".into(), 2)]
        );
        assert_eq!(
            search(&store, "u1", "tann* -invoice").await,
            [("d1".into(), 1)]
        );
        assert_eq!(search(&store, "u1", "\"due are\"").await, []);
        assert_eq!(search(&store, "u2", "chateau").await, [], "not u2's");
        assert_eq!(store.rows_of("d1").await.unwrap(), 1 + 2 + 2);

        // An index written by an older normalization: reindexing rebuilds
        // it from the stored results.
        store
            .reindex_page("d1", 1, &PageTerms::default())
            .await
            .unwrap();
        assert_eq!(search(&store, "u1", "chateau").await, []);
        let mut told = Vec::new();
        let done = store.reindex(|n, of| told.push((n, of))).await.unwrap();
        assert_eq!((done, told), (2, vec![(2, 2)]));
        assert_eq!(search(&store, "u1", "chateau").await, [("d1".into(), 1)]);
        assert_eq!(store.rows_of("d1").await.unwrap(), 1 + 2 + 2);

        assert!(store.delete("u1", "d1").await.unwrap());
        assert_eq!(search(&store, "u1", "chateau").await, []);
        assert_eq!(store.rows_of("d1").await.unwrap(), 0);
    }
}
