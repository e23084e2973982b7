//! The LLM service: an OpenAI-compatible API (chat and text completions,
//! streamed or whole, models, tokenize) served by llama.cpp on CPU with
//! continuous batching, or forwarded to an upstream OpenAI-compatible server.

pub mod auth;
pub mod config;
pub mod engine;
pub mod error;
pub mod grammar;
pub mod request;
pub mod routes;
pub mod service;
pub mod template;
pub mod upstream;

pub use config::LlmConfig;
pub use routes::{openapi, router, ApiDoc, LlmState};
pub use service::Llm;
