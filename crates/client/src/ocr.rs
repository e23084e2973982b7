//! OCR's API: stateless reading, as the library calls it when OCR runs in
//! other processes.

use axum::http::Method;
use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use wire::ocr::{Document, OcrOptions, Page, PageCount, PageImage, PageSelection};

use crate::transport::{body_bytes, read_json, refusal, Payload};
use crate::{Caller, Client, ClientError};

/// `client.ocr()`.
pub struct Ocr<'a>(pub(crate) &'a Client);

#[derive(Serialize)]
struct PageQuery<'a, S> {
    #[serde(flatten)]
    options: &'a OcrOptions,
    #[serde(flatten)]
    selection: S,
}

fn raw(bytes: Bytes) -> Payload {
    Payload::Raw {
        content_type: "application/octet-stream".into(),
        bytes,
    }
}

impl Ocr<'_> {
    /// Check a document as OCR would read it and count its pages.
    pub async fn count(
        &self,
        caller: &Caller,
        token: &str,
        bytes: Bytes,
        options: &OcrOptions,
    ) -> Result<PageCount, ClientError> {
        let path = crate::with_query("/v1/ocr/count", options);
        read_json(
            self.0
                .send(caller, Method::POST, &path, Some(token), raw(bytes))
                .await?,
        )
        .await
    }

    /// Read page `number` (1-based) of a document, and only that page.
    pub async fn page(
        &self,
        caller: &Caller,
        token: &str,
        bytes: Bytes,
        options: &OcrOptions,
        number: usize,
    ) -> Result<Page, ClientError> {
        // The JSON document is what a single page is parsed from.
        let options = OcrOptions {
            format: None,
            ..options.clone()
        };
        let query = PageQuery {
            options: &options,
            selection: PageSelection { page: Some(number) },
        };
        let path = crate::with_query("/v1/ocr", &query);
        let doc: Document = read_json(
            self.0
                .send(caller, Method::POST, &path, Some(token), raw(bytes))
                .await?,
        )
        .await?;
        let status = axum::http::StatusCode::OK;
        match <[Page; 1]>::try_from(doc.pages) {
            Ok([page]) if page.page == number => Ok(page),
            Ok([page]) => Err(ClientError::Unexpected {
                status,
                detail: format!("asked for page {number}, got page {}", page.page),
            }),
            Err(pages) => Err(ClientError::Unexpected {
                status,
                detail: format!("asked for one page, got {}", pages.len()),
            }),
        }
    }

    /// Page `number` (1-based) of a document as a grey JPEG to show under
    /// its words, turned by `rotation` as its reading turned it.
    pub async fn page_image(
        &self,
        caller: &Caller,
        token: &str,
        bytes: Bytes,
        options: &OcrOptions,
        number: usize,
        rotation: u32,
    ) -> Result<Bytes, ClientError> {
        let query = PageQuery {
            options,
            selection: PageImage {
                page: number,
                rotation,
            },
        };
        let path = crate::with_query("/v1/ocr/image", &query);
        let res = self
            .0
            .send(caller, Method::POST, &path, Some(token), raw(bytes))
            .await?;
        accepted_bytes(res).await
    }

    /// A searchable PDF of a document from its pages as they were read.
    pub async fn searchable_pdf(
        &self,
        caller: &Caller,
        token: &str,
        bytes: Bytes,
        options: &OcrOptions,
        pages: &[Page],
    ) -> Result<Bytes, ClientError> {
        let pages = serde_json::to_vec(pages).expect("wire types serialize");
        let form = Multipart::new()
            .part("file", Some("document"), "application/octet-stream", &bytes)
            .part("pages", None, "application/json", &pages);
        let path = crate::with_query("/v1/ocr/pdf", options);
        let res = self
            .0
            .send(caller, Method::POST, &path, Some(token), form.payload())
            .await?;
        accepted_bytes(res).await
    }
}

/// The body of an answer that is not a refusal.
async fn accepted_bytes(res: axum::http::Response<axum::body::Body>) -> Result<Bytes, ClientError> {
    if !res.status().is_success() {
        return Err(refusal(res).await);
    }
    Ok(body_bytes(res).await?.1)
}

/// A `multipart/form-data` body (RFC 7578) of a few parts, written whole:
/// the same bytes go over HTTP and through the in-process router.
struct Multipart {
    boundary: String,
    body: BytesMut,
}

impl Multipart {
    fn new() -> Self {
        // A random boundary: 122 random bits never occur by chance in a part.
        let boundary = format!("scriptorium-{}", uuid::Uuid::new_v4().simple());
        Self {
            boundary,
            body: BytesMut::new(),
        }
    }

    fn part(
        mut self,
        name: &str,
        file_name: Option<&str>,
        content_type: &str,
        data: &[u8],
    ) -> Self {
        let file = file_name
            .map(|f| format!("; filename=\"{f}\""))
            .unwrap_or_default();
        self.body.put_slice(
            format!(
                "--{}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\
                 Content-Type: {content_type}\r\n\r\n",
                self.boundary
            )
            .as_bytes(),
        );
        self.body.put_slice(data);
        self.body.put_slice(b"\r\n");
        self
    }

    fn payload(mut self) -> Payload {
        self.body
            .put_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        Payload::Raw {
            content_type: format!("multipart/form-data; boundary={}", self.boundary),
            bytes: self.body.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_body_has_its_parts_between_boundaries() {
        let form = Multipart::new()
            .part("file", Some("document"), "application/pdf", b"%PDF-1.7")
            .part("pages", None, "application/json", b"[]");
        let boundary = form.boundary.clone();
        let Payload::Raw {
            content_type,
            bytes,
        } = form.payload()
        else {
            panic!("a multipart body is raw");
        };
        assert_eq!(
            content_type,
            format!("multipart/form-data; boundary={boundary}")
        );
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let parts: Vec<&str> = text.split(&format!("--{boundary}")).collect();
        // Before the first boundary, two parts, and the closing `--`.
        assert_eq!(parts.len(), 4, "{text}");
        assert!(parts[1].contains("name=\"file\"; filename=\"document\""));
        assert!(parts[1].ends_with("\r\n\r\n%PDF-1.7\r\n"));
        assert!(parts[2].contains("name=\"pages\"\r\n"));
        assert!(parts[2].ends_with("\r\n\r\n[]\r\n"));
        assert_eq!(parts[3], "--\r\n");
    }
}
