//! The caller of an LLM route: a bearer JWT or API key, refused in
//! OpenAI's error shape so that OpenAI clients show the message.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use kit::token::{authenticate, Principal, TokenVerifier};

use crate::error::LlmError;

pub struct Caller(pub Principal);

impl<S> FromRequestParts<S> for Caller
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = LlmError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        Ok(Caller(authenticate(parts, &verifier).await?))
    }
}
