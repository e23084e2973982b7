//! The library: what an upload, a listing, a read or a delete does, over
//! the database, the blob store and OCR.

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use wire::documents::{DocumentList, DocumentStatus, ListQuery};
use wire::ocr::OcrOptions;
use wire::search::{SearchHit, SearchQuery, SearchResults};

use crate::blob::{BlobError, Blobs};
use crate::config::DocumentsConfig;
use crate::error::DocumentsError;
use crate::reader::PageReader;
use crate::search;
use crate::store::{Cursor, DocumentRow, NewDocument, PageRow, Search, Store};

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
    /// The OpenAI-compatible API that answers questions (in this process
    /// or over HTTP); asking is unavailable without it.
    pub(crate) llm: Option<client::Client>,
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
            llm: None,
        })
    }

    /// Questions are answered by the model behind `llm`.
    pub fn with_llm(mut self, llm: client::Client) -> Self {
        self.llm = Some(llm);
        self
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
            .map_err(|p| DocumentsError::Refused(Box::new(p)))?;
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

    /// After an object of document `id` was made: a document deleted
    /// meanwhile leaves nothing behind, and is not found.
    async fn still_kept(&self, owner: &str, id: &str) -> Result<(), DocumentsError> {
        if self.store.get(owner, id).await?.is_none() {
            self.blobs.delete_document(id).await?;
            return Err(DocumentsError::NotFound);
        }
        Ok(())
    }

    /// Page `number` of a document as a grey JPEG to show under its words,
    /// in the frame of its boxes: made by OCR from the original on the
    /// first request once the page is read, then kept beside the original.
    #[tracing::instrument(skip_all, name = "document_page_image", fields(user = owner, document = id, page = number))]
    pub async fn page_image(
        &self,
        owner: &str,
        id: &str,
        number: i64,
    ) -> Result<Bytes, DocumentsError> {
        let row = self.get(owner, id).await?;
        let read = self
            .store
            .page(&row.id, number)
            .await?
            .ok_or(DocumentsError::NoPage(number))?;
        if let Some(jpeg) = self.blobs.page_image_of(&row.id, number).await? {
            return Ok(jpeg);
        }
        let rotation =
            serde_json::from_str::<wire::ocr::Page>(&read.result).map_or(0, |p| p.rotation);
        let options: OcrOptions = serde_json::from_str(&row.options).unwrap_or_default();
        let original = self.blobs.original_of(&row.id).await?;
        let index = usize::try_from(number - 1).map_err(|_| DocumentsError::NoPage(number))?;
        let jpeg = Bytes::from(
            self.reader
                .page_image(original, &options, index, rotation)
                .await
                .map_err(DocumentsError::NoImage)?,
        );
        self.blobs
            .put_page_image(&row.id, number, jpeg.clone())
            .await?;
        self.still_kept(owner, &row.id).await?;
        Ok(jpeg)
    }

    /// A searchable PDF of a document that is done: made on the first
    /// request from the original and the stored pages, then kept in the
    /// blob store beside the original.
    #[tracing::instrument(skip_all, name = "document_pdf", fields(user = owner, document = id))]
    pub async fn searchable_pdf(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<(DocumentRow, Bytes), DocumentsError> {
        let (row, stored) = self.results(owner, id).await?;
        if let Some(pdf) = self.blobs.searchable_pdf_of(&row.id).await? {
            return Ok((row, pdf));
        }
        let options: OcrOptions = serde_json::from_str(&row.options).unwrap_or_default();
        let pages: Vec<wire::ocr::Page> = stored
            .iter()
            .map(|p| {
                serde_json::from_str(&p.result)
                    .unwrap_or_else(|_| wire::ocr::Page::blank(p.number as usize))
            })
            .collect();
        let original = self.blobs.original_of(&row.id).await?;
        let pdf = Bytes::from(
            self.reader
                .searchable_pdf(original, &options, &pages)
                .await
                .map_err(|e| DocumentsError::NoPdf(e.to_string()))?,
        );
        self.blobs.put_searchable_pdf(&row.id, pdf.clone()).await?;
        self.still_kept(owner, &row.id).await?;
        metrics::counter!("documents_pdfs_made_total").increment(1);
        Ok((row, pdf))
    }

    /// `owner`'s finished pages that match `query`, best first, with the
    /// matched words' boxes and a snippet.
    #[tracing::instrument(skip_all, name = "document_search", fields(user = owner))]
    pub async fn search(
        &self,
        owner: &str,
        query: &SearchQuery,
    ) -> Result<SearchResults, DocumentsError> {
        let parsed: search::Query = query.q.parse()?;
        let limit = query.limit.unwrap_or(10);
        if !(1..=50).contains(&limit) {
            return Err(DocumentsError::BadFilter(format!(
                "limit {limit} (expected 1 to 50)"
            )));
        }
        let offset = query.offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(DocumentsError::BadFilter(format!(
                "offset {offset} (at most {MAX_OFFSET})"
            )));
        }
        let documents = document_ids(query.documents.as_deref())?;
        let since = query
            .since
            .as_deref()
            .map(|d| day_start(d, "since"))
            .transpose()?;
        let until = query
            .until
            .as_deref()
            .map(|d| day_start(d, "until").map(|ms| ms + DAY_MS))
            .transpose()?;
        // One more than asked says whether there are more.
        let rows = self
            .store
            .search(
                owner,
                &Search {
                    query: &parsed,
                    documents: &documents,
                    since,
                    until,
                    limit: limit + 1,
                    offset,
                },
            )
            .await?;
        let next_offset = (rows.len() > limit as usize).then_some(offset + limit);
        let mut highlighter = search::Highlighter::new(&parsed);
        let hits = rows
            .into_iter()
            .take(limit as usize)
            .map(|row| {
                let page = serde_json::from_str(&row.result)
                    .unwrap_or_else(|_| search::StoredPage::blank());
                let found = highlighter.stored(&page);
                SearchHit {
                    document_id: row.document_id,
                    document_name: row.name,
                    page: row.number as u32,
                    score: row.score,
                    width: page.width,
                    height: page.height,
                    boxes: found.boxes,
                    snippet: found.snippet,
                }
            })
            .collect();
        Ok(SearchResults { hits, next_offset })
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

/// The most hits a search skips.
const MAX_OFFSET: u32 = 1000;
const DAY_MS: i64 = 86_400_000;

/// The ids of a `documents` filter (comma separated).
pub(crate) fn document_ids(list: Option<&str>) -> Result<Vec<String>, DocumentsError> {
    let ids: Vec<String> = list
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| {
            uuid::Uuid::parse_str(id)
                .map(|u| u.to_string())
                .map_err(|_| {
                    DocumentsError::BadFilter(format!(
                        "documents: '{}' is not a document id",
                        id.chars().take(40).collect::<String>()
                    ))
                })
        })
        .collect::<Result<_, _>>()?;
    if ids.len() > 100 {
        return Err(DocumentsError::BadFilter(
            "documents: at most 100 ids".into(),
        ));
    }
    Ok(ids)
}

/// Midnight UTC of a `YYYY-MM-DD` day, in milliseconds.
fn day_start(day: &str, field: &str) -> Result<i64, DocumentsError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(day, &format)
        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
        .map_err(|_| {
            DocumentsError::BadFilter(format!(
                "{field}: '{}' is not a day (YYYY-MM-DD)",
                day.chars().take(40).collect::<String>()
            ))
        })
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
    use super::*;

    #[test]
    fn filters_are_checked() {
        let id = "0193a0e4-7c1d-7000-8000-0123456789ab";
        assert_eq!(document_ids(Some(&format!(" {id},, "))).unwrap(), [id]);
        assert!(document_ids(Some("x'; --")).is_err());
        assert_eq!(day_start("1970-01-02", "since").unwrap(), DAY_MS);
        for junk in ["2026-13-01", "yesterday", "2026-1-1x"] {
            assert!(day_start(junk, "since").is_err(), "{junk}");
        }
    }

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
