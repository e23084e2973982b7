//! The one boundary between the library and OCR: the library hands OCR a
//! document's bytes and a page number, one page at a time. In one process
//! OCR is called in-process; split, it would be its HTTP API. OCR keeps no
//! state of its own, so its replicas scale on CPU alone.

use async_trait::async_trait;
use bytes::Bytes;
use kit::Problem;
use wire::ocr::OcrOptions;

/// An upload, checked as `/v1/ocr` checks one.
#[derive(Debug, Clone)]
pub struct Opened {
    pub pages: usize,
    /// The languages it will be read in, validated.
    pub languages: String,
}

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
}

/// How an OCR refusal reads to the library: permanent when the document is
/// at fault, to be tried again when OCR is busy or failed on its own.
fn refused(e: ocr::error::OcrError) -> ReadError {
    let problem = Problem::from(e);
    let reason = problem
        .detail
        .clone()
        .unwrap_or_else(|| problem.title.to_owned());
    if problem.status.is_client_error() && problem.status.as_u16() != 429 {
        ReadError::Permanent(reason)
    } else {
        ReadError::Transient(reason)
    }
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
            languages: options.languages,
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
}
