//! The axum extractor that gives handlers the authenticated [`Principal`].

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{Principal, TokenVerifier, VerifyError};
use crate::Problem;

/// The bearer credential of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The caller of a request: the principal already found for it, or its
/// bearer credential verified (and remembered in the request's extensions).
pub async fn authenticate(
    parts: &mut Parts,
    verifier: &TokenVerifier,
) -> Result<Principal, VerifyError> {
    if let Some(p) = parts.extensions.get::<Principal>() {
        return Ok(p.clone());
    }
    let token = bearer(parts).ok_or(VerifyError::Missing)?;
    let principal = verifier.verify(token).await?;
    parts.extensions.insert(principal.clone());
    Ok(principal)
}

impl<S> FromRequestParts<S> for Principal
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        Ok(authenticate(parts, &verifier).await?)
    }
}
