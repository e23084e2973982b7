//! The library's own database: documents, their recognized pages, and the
//! work queue, which is the documents table itself (status, lease,
//! attempts, next try). Times are milliseconds since the epoch.

use kit::database::{Backend, Database, DatabaseError, Migrations};
use sqlx::migrate::Migrator;
use sqlx::AnyPool;
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
            let rows = self.index_rows_of(id);
            sqlx::query(&format!("DELETE FROM page_index WHERE {}", rows.condition))
                .bind(rows.bind)
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
}

mod index;
mod queue;
#[cfg(test)]
mod tests;

pub use queue::Settle;
