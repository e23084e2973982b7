//! Full-text search over a user's library: one normalization in Rust
//! ([`terms`]), one query language ([`query`]) written out for SQLite FTS5
//! or PostgreSQL `tsvector`, and the hits' words found again on the page
//! ([`highlight`]).

pub mod highlight;
pub mod query;
pub mod terms;

pub use highlight::{highlight, Highlight, Highlighter, StoredPage};
pub use query::{Query, QueryError};
pub use terms::PageTerms;
