//! The document library: every original kept in a blob store, every page's
//! result and a durable work queue in the library's own database, read
//! once by whichever replica claims it.

pub mod ask;
pub mod blob;
pub mod config;
pub mod conversations;
pub mod error;
pub mod library;
pub mod reader;
pub mod routes;
pub mod search;
pub mod store;
pub mod worker;

pub use config::DocumentsConfig;
pub use library::Library;
pub use routes::{openapi, router, ApiDoc, DocumentsState};
pub use worker::Workers;
