//! What a service's own tests share, so that each crate tests its service
//! alone (its router, its configuration, its database) without the others:
//!
//! - [`Issuer`]: signs access tokens as the auth service does, and is the
//!   key source of the [`kit::token::TokenVerifier`] the service checks
//!   them with;
//! - [`Served`]: a router on a port of its own, and [`Api`], requests of
//!   it (the auth API's first steps among them);
//! - [`Sse`]: a server-sent event stream, payload by payload;
//! - [`Db`] and [`both_backends!`]: a test on SQLite and on PostgreSQL,
//!   [`postgres`] a fresh database on the test server (`DATABASE_URL`, or a
//!   throwaway cluster made with `initdb`).
//!
//! Whole-system tests (several services, the gateway, a browser) stay in
//! the binary crate, with the whole application.

pub mod api;
pub mod backend;
pub mod issuer;
pub mod postgres;
pub mod served;
pub mod sse;

pub use api::{Api, PASSWORD};
pub use backend::{database, Db};
pub use issuer::Issuer;
pub use served::Served;
pub use sse::Sse;
