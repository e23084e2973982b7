//! Searching the library: `GET /v1/search`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ocr::BBox;

/// `GET /v1/search` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words that must all be on the page, `"a phrase"`, `prefix*`,
    /// `-excluded`. Case, accents, plurals and verb forms (English and
    /// French) do not matter.
    pub q: String,
    /// Only these documents: ids separated by commas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<String>,
    /// Only documents uploaded on or after this day (`YYYY-MM-DD`, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Only documents uploaded on or before this day (`YYYY-MM-DD`, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Hits per answer, 1 to 50 (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Hits to skip: `next_offset` of the previous answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
}

/// A piece of a snippet: matched words (`hit`) or the text between them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SnippetPart {
    pub text: String,
    pub hit: bool,
}

impl SnippetPart {
    pub fn new(text: String, hit: bool) -> Self {
        Self { text, hit }
    }
}

/// A page that matches.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SearchHit {
    pub document_id: String,
    pub document_name: String,
    /// 1-based.
    pub page: u32,
    /// Higher is better; comparable within one answer only.
    pub score: f64,
    /// The page's size in pixels, which `boxes` refer to.
    pub width: u32,
    pub height: u32,
    /// `[left, top, right, bottom]` of each matched word.
    #[schema(value_type = Vec<Vec<u32>>)]
    pub boxes: Vec<BBox>,
    /// Words around the first match, the matched ones marked.
    pub snippet: Vec<SnippetPart>,
}

/// Best hits first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    /// Pass as `offset` for more hits; absent when there are no more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u32>,
}
