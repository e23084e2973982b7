//! Asking the library: `POST /v1/ask`, and the conversations it keeps.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ocr::BBox;

/// `POST /v1/ask` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    /// The question, in English or French.
    pub question: String,
    /// The documents the model may see (default: all of the caller's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_ids: Option<Vec<String>>,
    /// Continue this conversation (default: start one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Whether the library is searched and cited (default: true). False
    /// talks with the model alone, the conversation kept all the same. A
    /// conversation keeps the choice it started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<bool>,
    /// Answer as server-sent events: `conversation`, `piece`s,
    /// `citations`, then `done` (or `error`).
    #[serde(default)]
    pub stream: bool,
}

/// A passage an answer rests on: where it is, and its words.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Citation {
    /// The `[n]` the answer refers to it by.
    pub n: u32,
    pub document_id: String,
    pub document_name: String,
    /// 1-based.
    pub page: u32,
    /// The passage as the model read it.
    pub quote: String,
    /// The page's size in pixels, which `boxes` refer to.
    pub width: u32,
    pub height: u32,
    /// `[left, top, right, bottom]` of the passage's lines.
    #[schema(value_type = Vec<Vec<u32>>)]
    pub boxes: Vec<BBox>,
}

/// A passage the model was given, cited or not.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PassageRef {
    pub n: u32,
    pub document_id: String,
    pub document_name: String,
    pub page: u32,
}

/// Tokens of one answer.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AskUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// The model's context, which the prompt and the answer fit in.
    pub context_tokens: u32,
    /// Passages given to the model.
    pub passages: u32,
}

/// A whole answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AskResponse {
    pub conversation_id: String,
    pub answer: String,
    /// Whether any passage of the library was relevant; when not, the
    /// answer says so and the model was not asked. Always false without
    /// the library (`library: false`), where the model answers alone.
    pub found: bool,
    /// The passages the answer cites, in the order it cites them.
    pub citations: Vec<Citation>,
    /// Every passage the model was given, best first.
    pub passages: Vec<PassageRef>,
    /// Absent when the model was not asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<AskUsage>,
}

/// `event: conversation` of a streamed answer, first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AskStarted {
    pub conversation_id: String,
}

/// `event: piece`: the next piece of the answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AskPiece {
    pub text: String,
}

/// `event: citations`, after the last piece.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AskCitations {
    pub found: bool,
    pub citations: Vec<Citation>,
    pub passages: Vec<PassageRef>,
}

/// `event: done`, last: the answer is complete and stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AskDone {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<AskUsage>,
}

/// One question and its answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Turn {
    pub question: String,
    pub answer: String,
    pub found: bool,
    pub citations: Vec<Citation>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A conversation as listed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ConversationSummary {
    pub id: String,
    /// Its first question, shortened.
    pub title: String,
    pub turns: u32,
    /// Whether its answers come from the library (see `AskRequest`).
    pub library: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A conversation and all its turns, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Conversation {
    pub id: String,
    pub title: String,
    pub library: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub turns: Vec<Turn>,
}

/// The caller's conversations, the latest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ConversationList {
    pub conversations: Vec<ConversationSummary>,
}
