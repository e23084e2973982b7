//! The document library's API.

use axum::http::Method;
use bytes::Bytes;
use serde::Serialize;
use wire::ask::{AskRequest, AskResponse, Conversation, ConversationList};
use wire::documents::{Document, DocumentList, ListQuery};
use wire::ocr::OcrOptions;
use wire::search::{SearchQuery, SearchResults};

use crate::ask::AskStream;
use crate::auth::path_segment;
use crate::transport::{no_content, read_json, refusal, Payload};
use crate::{with_query, Caller, Client, ClientError};

/// `client.documents()`.
pub struct Documents<'a>(pub(crate) &'a Client);

/// The query of an upload: the OCR options and the document's name.
#[derive(Serialize)]
struct UploadQuery<'a> {
    #[serde(flatten)]
    options: &'a OcrOptions,
    name: &'a str,
}

/// `/v1/documents/{id}` and below.
fn document_path(id: &str, rest: &str) -> String {
    format!("/v1/documents/{}{rest}", path_segment(id))
}

fn conversation_path(id: &str) -> String {
    format!("/v1/conversations/{}", path_segment(id))
}

impl Documents<'_> {
    /// Store and queue a document.
    pub async fn upload(
        &self,
        caller: &Caller,
        token: &str,
        bytes: Bytes,
        name: &str,
        options: &OcrOptions,
    ) -> Result<Document, ClientError> {
        let path = with_query("/v1/documents", &UploadQuery { options, name });
        let body = Payload::Raw {
            content_type: "application/octet-stream".into(),
            bytes,
        };
        read_json(
            self.0
                .send(caller, Method::POST, &path, Some(token), body)
                .await?,
        )
        .await
    }

    pub async fn list(
        &self,
        caller: &Caller,
        token: &str,
        query: &ListQuery,
    ) -> Result<DocumentList, ClientError> {
        let path = with_query("/v1/documents", query);
        read_json(
            self.0
                .send(caller, Method::GET, &path, Some(token), Payload::Empty)
                .await?,
        )
        .await
    }

    pub async fn get(
        &self,
        caller: &Caller,
        token: &str,
        id: &str,
    ) -> Result<Document, ClientError> {
        let path = document_path(id, "");
        read_json(
            self.0
                .send(caller, Method::GET, &path, Some(token), Payload::Empty)
                .await?,
        )
        .await
    }

    /// Every page of a document that is done.
    pub async fn results(
        &self,
        caller: &Caller,
        token: &str,
        id: &str,
    ) -> Result<wire::ocr::Document, ClientError> {
        let path = document_path(id, "/json");
        read_json(
            self.0
                .send(caller, Method::GET, &path, Some(token), Payload::Empty)
                .await?,
        )
        .await
    }

    /// Your finished pages that match, best first.
    pub async fn search(
        &self,
        caller: &Caller,
        token: &str,
        query: &SearchQuery,
    ) -> Result<SearchResults, ClientError> {
        let path = with_query("/v1/search", query);
        read_json(
            self.0
                .send(caller, Method::GET, &path, Some(token), Payload::Empty)
                .await?,
        )
        .await
    }

    /// A whole answer from your library, with its citations.
    pub async fn ask(
        &self,
        caller: &Caller,
        token: &str,
        request: &AskRequest,
    ) -> Result<AskResponse, ClientError> {
        let request = AskRequest {
            stream: false,
            ..request.clone()
        };
        read_json(self.asking(caller, token, &request).await?).await
    }

    /// An answer as it is written. A refusal before the answer begins is an
    /// `Err`; a failure midway is an [`AskEvent::Failed`].
    pub async fn ask_stream(
        &self,
        caller: &Caller,
        token: &str,
        request: &AskRequest,
    ) -> Result<AskStream, ClientError> {
        let request = AskRequest {
            stream: true,
            ..request.clone()
        };
        let res = self.asking(caller, token, &request).await?;
        if !res.status().is_success() {
            return Err(refusal(res).await);
        }
        Ok(AskStream::new(res))
    }

    async fn asking(
        &self,
        caller: &Caller,
        token: &str,
        request: &AskRequest,
    ) -> Result<axum::http::Response<axum::body::Body>, ClientError> {
        let body = Payload::json(request);
        self.0
            .send(caller, Method::POST, "/v1/ask", Some(token), body)
            .await
    }

    /// Your conversations, the latest first.
    pub async fn conversations(
        &self,
        caller: &Caller,
        token: &str,
    ) -> Result<ConversationList, ClientError> {
        let res = self
            .0
            .send(
                caller,
                Method::GET,
                "/v1/conversations",
                Some(token),
                Payload::Empty,
            )
            .await?;
        read_json(res).await
    }

    pub async fn conversation(
        &self,
        caller: &Caller,
        token: &str,
        id: &str,
    ) -> Result<Conversation, ClientError> {
        let path = conversation_path(id);
        let res = self
            .0
            .send(caller, Method::GET, &path, Some(token), Payload::Empty)
            .await?;
        read_json(res).await
    }

    pub async fn delete_conversation(
        &self,
        caller: &Caller,
        token: &str,
        id: &str,
    ) -> Result<(), ClientError> {
        let path = conversation_path(id);
        let res = self
            .0
            .send(caller, Method::DELETE, &path, Some(token), Payload::Empty)
            .await?;
        no_content(res).await
    }

    /// A file of a document as the API sends it (`original`, `pdf`,
    /// `text`, `hocr`, `tsv`, `json`): its body streams, its headers name
    /// it; a refusal is an `Err`.
    pub async fn download(
        &self,
        caller: &Caller,
        token: &str,
        id: &str,
        what: &str,
    ) -> Result<axum::http::Response<axum::body::Body>, ClientError> {
        let path = document_path(id, &format!("/{}", path_segment(what)));
        self.file(caller, token, &path).await
    }

    /// Page `number` (1-based) of a document as a grey JPEG in the frame of
    /// its word boxes, as [`Self::download`] gives a file.
    pub async fn page_image(
        &self,
        caller: &Caller,
        token: &str,
        id: &str,
        number: usize,
    ) -> Result<axum::http::Response<axum::body::Body>, ClientError> {
        let path = document_path(id, &format!("/pages/{number}/image"));
        self.file(caller, token, &path).await
    }

    async fn file(
        &self,
        caller: &Caller,
        token: &str,
        path: &str,
    ) -> Result<axum::http::Response<axum::body::Body>, ClientError> {
        let res = self
            .0
            .send(caller, Method::GET, path, Some(token), Payload::Empty)
            .await?;
        if res.status().is_success() {
            Ok(res)
        } else {
            Err(refusal(res).await)
        }
    }

    pub async fn delete(&self, caller: &Caller, token: &str, id: &str) -> Result<(), ClientError> {
        let path = document_path(id, "");
        no_content(
            self.0
                .send(caller, Method::DELETE, &path, Some(token), Payload::Empty)
                .await?,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::documents::DocumentStatus;

    #[test]
    fn queries_carry_options_names_and_filters() {
        let options = OcrOptions {
            languages: Some("fra+eng".into()),
            ..OcrOptions::default()
        };
        let upload = UploadQuery {
            options: &options,
            name: "lettre d'été.pdf",
        };
        assert_eq!(
            with_query("/v1/documents", &upload),
            "/v1/documents?languages=fra%2Beng&name=lettre+d%27%C3%A9t%C3%A9.pdf"
        );
        let list = ListQuery {
            status: Some(DocumentStatus::Done),
            ..ListQuery::default()
        };
        assert_eq!(
            with_query("/v1/documents", &list),
            "/v1/documents?status=done"
        );
        assert_eq!(
            with_query("/v1/documents", &ListQuery::default()),
            "/v1/documents"
        );
        let search = SearchQuery {
            q: "\"due date\" tann* -draft".into(),
            limit: Some(5),
            ..SearchQuery::default()
        };
        assert_eq!(
            with_query("/v1/search", &search),
            "/v1/search?q=%22due+date%22+tann*+-draft&limit=5"
        );
        assert_eq!(
            document_path("a/../b", "/json"),
            "/v1/documents/a%2F..%2Fb/json"
        );
    }
}
