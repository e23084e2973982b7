//! RFC 9457 problem documents (`application/problem+json`), the error body
//! of every API except the OpenAI-compatible one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where the `type` URIs of the problem kinds live; the kind follows.
pub const TYPE_BASE: &str = "https://scriptorium.dev/problems/";

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A problem document as sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ProblemDocument {
    /// `https://scriptorium.dev/problems/<kind>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The invalid fields of a 422.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The limit a 413 or 429 was about (an extension member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl ProblemDocument {
    /// The stable machine-readable kind (`username-taken`, ...): the last
    /// part of the `type` URI.
    pub fn kind(&self) -> &str {
        self.type_uri
            .strip_prefix(TYPE_BASE)
            .unwrap_or(&self.type_uri)
    }

    /// What a person should read: the detail, else the title.
    pub fn message(&self) -> &str {
        self.detail.as_deref().unwrap_or(&self.title)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_is_the_end_of_the_type_uri() {
        let doc: ProblemDocument = serde_json::from_str(
            r#"{"type":"https://scriptorium.dev/problems/username-taken","title":"Username taken","status":409}"#,
        )
        .unwrap();
        assert_eq!(doc.kind(), "username-taken");
        assert_eq!(doc.message(), "Username taken");
        assert!(doc.errors.is_empty());
    }

    #[test]
    fn empty_members_are_left_out() {
        let doc = ProblemDocument {
            type_uri: format!("{TYPE_BASE}not-found"),
            title: "Not found".into(),
            status: 404,
            detail: None,
            errors: vec![],
            limit: None,
        };
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 3, "{json}");
    }
}
