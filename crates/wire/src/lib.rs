//! The wire types of Scriptorium's APIs: every request, response, stream
//! event and error document, defined once. The services serialize them, the
//! typed client (`client` crate) deserializes them, so a renamed field is a
//! compile error on both sides rather than a silent break.

pub mod ask;
pub mod auth;
pub mod documents;
pub mod llm;
pub mod ocr;
pub mod openapi;
pub mod problem;
pub mod search;

pub use problem::{FieldError, ProblemDocument};
