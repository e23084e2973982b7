//! The one boundary between the library and OCR: the library hands OCR a
//! document's bytes and a page number, one page at a time: in-process when
//! OCR runs in the same process ([`LocalOcr`]), over OCR's HTTP API when it
//! runs in others ([`HttpOcr`]). OCR keeps no state of its own, so its
//! replicas scale on CPU alone.

use async_trait::async_trait;
use axum::http::StatusCode;
use bytes::Bytes;
use client::{Caller, Client, ClientError};
use kit::Problem;
use secrecy::{ExposeSecret, SecretString};
use wire::ocr::{OcrOptions, PageCount};

/// An upload, checked as `/v1/ocr` checks one, and its page count.
pub type Opened = PageCount;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// The document cannot be read, and trying again will not change that.
    #[error("{0}")]
    Permanent(String),
    /// OCR is busy or failed for a reason of its own: try again later.
    #[error("{0}")]
    Transient(String),
}

#[async_trait]
pub trait PageReader: Send + Sync + 'static {
    /// Check an upload (format, limits, options) and count its pages; the
    /// refusal is the answer to give the uploader.
    async fn open(&self, bytes: Bytes, options: &OcrOptions) -> Result<Opened, Problem>;

    /// Recognize page `index` (0-based) of `owner`'s document.
    async fn read(
        &self,
        owner: &str,
        bytes: Bytes,
        options: &OcrOptions,
        index: usize,
    ) -> Result<wire::ocr::Page, ReadError>;

    /// A searchable PDF of a document, from its original and its pages as
    /// they were read.
    async fn searchable_pdf(
        &self,
        bytes: Bytes,
        options: &OcrOptions,
        pages: &[wire::ocr::Page],
    ) -> Result<Vec<u8>, ReadError>;

    /// Page `index` (0-based) as a grey JPEG to show under its words,
    /// turned by `rotation` as its reading turned it.
    async fn page_image(
        &self,
        bytes: Bytes,
        options: &OcrOptions,
        index: usize,
        rotation: u32,
    ) -> Result<Vec<u8>, ReadError>;
}

/// How a refusal of OCR reads to the library: permanent when the document
/// is at fault, to be tried again when OCR is busy or failed on its own.
fn read_error(status: StatusCode, reason: String) -> ReadError {
    let busy = [StatusCode::TOO_MANY_REQUESTS, StatusCode::REQUEST_TIMEOUT];
    if status.is_client_error() && !busy.contains(&status) {
        ReadError::Permanent(reason)
    } else {
        ReadError::Transient(reason)
    }
}

fn refused(e: ocr::error::OcrError) -> ReadError {
    let problem = Problem::from(e);
    let reason = problem
        .detail
        .clone()
        .unwrap_or_else(|| problem.title.to_string());
    read_error(problem.status, reason)
}

/// OCR in this process.
pub struct LocalOcr(pub ocr::Ocr);

#[async_trait]
impl PageReader for LocalOcr {
    async fn open(&self, bytes: Bytes, options: &OcrOptions) -> Result<Opened, Problem> {
        let options = self.0.options(options)?;
        let pages = self.0.count_pages(bytes, &options).await?;
        Ok(Opened {
            pages,
            languages: options.languages.into(),
        })
    }

    async fn read(
        &self,
        owner: &str,
        bytes: Bytes,
        options: &OcrOptions,
        index: usize,
    ) -> Result<wire::ocr::Page, ReadError> {
        let options = self.0.options(options).map_err(refused)?;
        let (result, _) = self
            .0
            .run_page(owner, bytes, &options, index)
            .await
            .map_err(refused)?;
        Ok(result)
    }

    async fn searchable_pdf(
        &self,
        bytes: Bytes,
        options: &OcrOptions,
        pages: &[wire::ocr::Page],
    ) -> Result<Vec<u8>, ReadError> {
        let options = self.0.options(options).map_err(refused)?;
        self.0
            .searchable_pdf(bytes, &options, pages)
            .await
            .map_err(refused)
    }

    async fn page_image(
        &self,
        bytes: Bytes,
        options: &OcrOptions,
        index: usize,
        rotation: u32,
    ) -> Result<Vec<u8>, ReadError> {
        let options = self.0.options(options).map_err(refused)?;
        self.0
            .page_image(bytes, &options, index, rotation)
            .await
            .map_err(refused)
    }
}

/// OCR in other processes, through its HTTP API (`documents.ocr_url`, a
/// gateway or the OCR service), with the library's own credential: an API
/// key of the account the library reads as (`documents.ocr_api_key`).
pub struct HttpOcr {
    client: Client,
    key: SecretString,
}

impl HttpOcr {
    pub fn new(client: Client, key: SecretString) -> Self {
        Self { client, key }
    }

    fn token(&self) -> &str {
        self.key.expose_secret()
    }
}

/// Times a page is offered to a busy OCR (a few minutes at most) before the
/// document goes back to the queue.
const BUSY_TRIES: usize = 60;

/// What the library makes of a failed call to OCR.
fn call_failed(e: ClientError) -> ReadError {
    match e.status() {
        // OCR's own verdict on the document.
        Some(status) if e.problem().is_some() => read_error(status, e.to_string()),
        // Unreachable, cut off, or an answer that is not OCR's: try again.
        _ => ReadError::Transient(e.to_string()),
    }
}

#[async_trait]
impl PageReader for HttpOcr {
    async fn open(&self, bytes: Bytes, options: &OcrOptions) -> Result<Opened, Problem> {
        let caller = Caller::default();
        self.client
            .ocr()
            .count(&caller, self.token(), bytes, options)
            .await
            .map_err(|e| match e {
                // The uploader gets OCR's answer about the document.
                ClientError::Refused {
                    status,
                    problem,
                    retry_after,
                } if status.is_client_error()
                    && ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status) =>
                {
                    let relayed = Problem::relayed(status, &problem);
                    match retry_after {
                        Some(secs) => relayed.retry_after(secs),
                        None => relayed,
                    }
                }
                // Anything else is the library's trouble, not the uploader's.
                e => {
                    tracing::error!(error = %e, "OCR could not check an upload");
                    Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "ocr-unavailable",
                        "OCR is not available",
                    )
                    .retry_after(5)
                }
            })
    }

    async fn read(
        &self,
        _owner: &str,
        bytes: Bytes,
        options: &OcrOptions,
        index: usize,
    ) -> Result<wire::ocr::Page, ReadError> {
        // A busy OCR (429) is waited for, as the in-process reader waits for
        // room in the queue: the lease is renewed meanwhile, and the claim
        // is not spent on OCR's load. Other failures go back to the queue.
        for _ in 0..BUSY_TRIES {
            let read = self
                .client
                .ocr()
                .page(
                    &Caller::default(),
                    self.token(),
                    bytes.clone(),
                    options,
                    index + 1,
                )
                .await;
            match read {
                Err(e) if e.status() == Some(StatusCode::TOO_MANY_REQUESTS) => {
                    let secs = e.retry_after().unwrap_or(1).clamp(1, 10);
                    tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
                }
                read => return read.map_err(call_failed),
            }
        }
        Err(ReadError::Transient("OCR stayed busy".into()))
    }

    async fn searchable_pdf(
        &self,
        bytes: Bytes,
        options: &OcrOptions,
        pages: &[wire::ocr::Page],
    ) -> Result<Vec<u8>, ReadError> {
        self.client
            .ocr()
            .searchable_pdf(&Caller::default(), self.token(), bytes, options, pages)
            .await
            .map(Vec::from)
            .map_err(call_failed)
    }

    async fn page_image(
        &self,
        bytes: Bytes,
        options: &OcrOptions,
        index: usize,
        rotation: u32,
    ) -> Result<Vec<u8>, ReadError> {
        self.client
            .ocr()
            .page_image(
                &Caller::default(),
                self.token(),
                bytes,
                options,
                index + 1,
                rotation,
            )
            .await
            .map(Vec::from)
            .map_err(call_failed)
    }
}
