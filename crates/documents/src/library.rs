//! The library: what an upload, a listing, a read or a delete does, over
//! the database, the blob store and OCR.

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use wire::documents::{DocumentList, DocumentStatus, ListQuery};
use wire::ocr::OcrOptions;

use crate::blob::{BlobError, Blobs};
use crate::config::DocumentsConfig;
use crate::error::DocumentsError;
use crate::reader::PageReader;
use crate::store::{Cursor, DocumentRow, NewDocument, PageRow, Store};

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the documents database: {0}")]
    Database(#[from] kit::database::DatabaseError),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

#[derive(Clone)]
pub struct Library {
    pub(crate) store: Store,
    pub(crate) blobs: Blobs,
    pub(crate) reader: Arc<dyn PageReader>,
    pub(crate) config: Arc<DocumentsConfig>,
    /// Wakes an idle worker of this process when a document is queued here.
    pub(crate) queued: Arc<Notify>,
}

/// A document as its owner uploads it.
pub struct Upload {
    pub bytes: Bytes,
    pub name: Option<String>,
    pub options: OcrOptions,
}

impl Library {
    pub async fn open(
        config: DocumentsConfig,
        reader: Arc<dyn PageReader>,
    ) -> Result<Self, OpenError> {
        let url = config
            .connection_url()
            .map_err(kit::database::DatabaseError::from)?;
        let store = Store::open(
            secrecy::ExposeSecret::expose_secret(&url),
            config.max_connections,
        )
        .await?;
        let blobs = Blobs::open(&config.blobs)?;
        Ok(Self {
            store,
            blobs,
            reader,
            config: Arc::new(config),
            queued: Arc::new(Notify::new()),
        })
    }

    pub fn config(&self) -> &DocumentsConfig {
        &self.config
    }

    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// Rows of a document left in the database (for checks).
    pub async fn rows_of(&self, id: &str) -> Result<i64, sqlx::Error> {
        self.store.rows_of(id).await
    }

    pub async fn ready(&self) -> Result<(), String> {
        self.store.ready().await?;
        self.blobs.ping().await.map_err(|e| e.to_string())
    }

    /// Check, store and queue an upload. Nothing is stored when it is
    /// refused.
    #[tracing::instrument(skip_all, name = "document_upload", fields(user = owner, bytes = upload.bytes.len()))]
    pub async fn upload(&self, owner: &str, upload: Upload) -> Result<DocumentRow, DocumentsError> {
        let size = upload.bytes.len() as u64;
        let opened = self
            .reader
            .open(upload.bytes.clone(), &upload.options)
            .await
            .map_err(DocumentsError::Refused)?;
        let usage = self.store.usage(owner).await?;
        if usage.documents >= self.config.quota_documents {
            return Err(DocumentsError::QuotaDocuments {
                stored: usage.documents,
            });
        }
        if usage.bytes + size > self.config.quota_bytes {
            return Err(DocumentsError::QuotaBytes {
                size,
                total: usage.bytes + size,
                limit: self.config.quota_bytes,
            });
        }
        let id = uuid::Uuid::now_v7().to_string();
        let sha256 = hex::encode(Sha256::digest(&upload.bytes));
        let name = clean_name(upload.name.as_deref());
        let options = serde_json::to_string(&upload.options).unwrap_or_else(|_| "{}".into());
        // The original first: a row is never without its original.
        self.blobs.put_original(&id, upload.bytes).await?;
        let new = NewDocument {
            id: &id,
            owner,
            name: &name,
            options: &options,
            languages: &opened.languages,
            bytes: size as i64,
            sha256: &sha256,
            pages_total: opened.pages as i64,
        };
        if let Err(e) = self.store.insert(&new).await {
            if let Err(orphan) = self.blobs.delete_document(&id).await {
                tracing::warn!(document = %id, error = %orphan, "original left without a row");
            }
            return Err(e.into());
        }
        metrics::counter!("documents_uploaded_total").increment(1);
        self.queued.notify_one();
        self.get(owner, &id).await
    }

    pub async fn get(&self, owner: &str, id: &str) -> Result<DocumentRow, DocumentsError> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(DocumentsError::NotFound);
        }
        self.store
            .get(owner, id)
            .await?
            .ok_or(DocumentsError::NotFound)
    }

    pub async fn list(
        &self,
        owner: &str,
        query: &ListQuery,
    ) -> Result<DocumentList, DocumentsError> {
        let limit = query.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(DocumentsError::BadLimit(limit));
        }
        let cursor = match query.cursor.as_deref() {
            Some(c) => Some(Cursor::decode(c).ok_or(DocumentsError::BadCursor)?),
            None => None,
        };
        // One more than asked says whether there is a next page.
        let mut rows = self
            .store
            .list(owner, query.status, cursor.as_ref(), limit + 1)
            .await?;
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| {
                Cursor {
                    created_at: r.created_at,
                    id: r.id.clone(),
                }
                .encode()
            })
        } else {
            None
        };
        Ok(DocumentList {
            documents: rows.iter().map(DocumentRow::wire).collect(),
            next_cursor,
        })
    }

    pub async fn original(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<(DocumentRow, Bytes), DocumentsError> {
        let row = self.get(owner, id).await?;
        let bytes = self.blobs.original_of(&row.id).await?;
        Ok((row, bytes))
    }

    /// Every page's result of a document that is done.
    pub async fn results(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<(DocumentRow, Vec<PageRow>), DocumentsError> {
        let row = self.get(owner, id).await?;
        if row.status() != DocumentStatus::Done {
            return Err(DocumentsError::NotReady {
                status: row.status().as_str(),
                done: row.pages_done,
                total: row.pages_total.unwrap_or(0),
            });
        }
        let pages = self.store.pages(&row.id).await?;
        Ok((row, pages))
    }

    /// One page's result, once it has been read.
    pub async fn page(
        &self,
        owner: &str,
        id: &str,
        number: i64,
    ) -> Result<PageRow, DocumentsError> {
        let row = self.get(owner, id).await?;
        self.store
            .page(&row.id, number)
            .await?
            .ok_or(DocumentsError::NoPage(number))
    }

    /// Remove a document, its results and every object of it. A worker
    /// reading it loses its lease and stops.
    #[tracing::instrument(skip_all, name = "document_delete", fields(user = owner, document = id))]
    pub async fn delete(&self, owner: &str, id: &str) -> Result<(), DocumentsError> {
        let row = self.get(owner, id).await?;
        if !self.store.delete(owner, &row.id).await? {
            return Err(DocumentsError::NotFound);
        }
        self.blobs.delete_document(&row.id).await?;
        Ok(())
    }
}

/// The name a document is listed under: the file's own name without its
/// folders and control characters, at most 200 characters.
fn clean_name(name: Option<&str>) -> String {
    let base = name
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "document".into()
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::clean_name;

    #[test]
    fn names_lose_folders_and_control_characters() {
        assert_eq!(clean_name(Some("C:\\scans\\lettre.pdf")), "lettre.pdf");
        assert_eq!(clean_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(clean_name(Some("a\u{0}b\nc.png")), "abc.png");
        assert_eq!(clean_name(Some("   ")), "document");
        assert_eq!(clean_name(None), "document");
        assert_eq!(clean_name(Some(&"x".repeat(500))).len(), 200);
    }
}
