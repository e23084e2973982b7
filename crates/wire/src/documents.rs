//! The document library: a stored original, its processing state, and the
//! pages recognized from it.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum DocumentStatus {
    /// Stored, waiting for a worker.
    Queued,
    /// A worker holds it and is reading its pages.
    Processing,
    /// Every page has a result (a page that could not be read has its error).
    Done,
    /// Given up after the retries; `error` says why.
    Failed,
}

impl DocumentStatus {
    pub const ALL: [Self; 4] = [Self::Queued, Self::Processing, Self::Done, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// Queued or being read: it will change without anyone asking.
    pub fn in_progress(self) -> bool {
        matches!(self, Self::Queued | Self::Processing)
    }
}

impl std::str::FromStr for DocumentStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("status '{s}' (expected queued, processing, done or failed)"))
    }
}

/// A document of the library.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Document {
    pub id: String,
    /// The uploaded file's name.
    pub name: String,
    pub status: DocumentStatus,
    pub pages_done: u32,
    /// Known once a worker has opened the document.
    pub pages_total: Option<u32>,
    /// Tesseract languages joined with `+`.
    pub languages: String,
    /// Size of the original.
    pub bytes: u64,
    /// SHA-256 of the original, hex.
    pub sha256: String,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
    /// Why processing failed, when `status` is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One page of documents, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DocumentList {
    pub documents: Vec<Document>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET /v1/documents` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only documents in this status.
    pub status: Option<DocumentStatus>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Documents per page, 1 to 100 (default 50).
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_named_on_the_wire_as_in_queries() {
        for status in DocumentStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(status.as_str().parse::<DocumentStatus>(), Ok(status));
        }
        assert!("finished".parse::<DocumentStatus>().is_err());
    }
}
