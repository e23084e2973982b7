//! The auth service: accounts, sessions (access + refresh tokens), signing
//! keys published as JWKS, API keys, introspection, brute-force protection
//! and an audit trail, on PostgreSQL or SQLite.

mod accounts;
pub mod api_keys;
pub mod config;
pub mod domain;
pub mod error;
pub mod hashing;
pub mod keys;
pub mod routes;
mod service;
pub mod sessions;
pub mod store;
mod throttle;
pub mod tokens;

pub use config::AuthConfig;
pub use error::AuthError;
pub use routes::{introspection_openapi, introspection_router, openapi, router, ApiDoc, AuthState};
pub use service::{Auth, Context};
