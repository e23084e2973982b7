//! The auth service's error enum and its mapping to problem documents.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kit::problem::FieldError;
use kit::token::VerifyError;
use kit::Problem;

use crate::hashing::HashError;
use crate::keys::KeyError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("username is taken")]
    UsernameTaken,
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("too many attempts")]
    TooManyAttempts { retry_after: i64 },
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    #[error(transparent)]
    Token(#[from] VerifyError),
    #[error("account disabled")]
    Disabled,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("signing failed: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Database(e))
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Validation(errors) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid input",
            )
            .errors(errors),
            AuthError::UsernameTaken => {
                Problem::new(StatusCode::CONFLICT, "username-taken", "Username taken")
                    .detail("this username is taken")
            }
            AuthError::InvalidCredentials => Problem::unauthorized("invalid username or password"),
            // Only a caller holding a valid credential of the account gets
            // here, so saying so tells a stranger nothing.
            AuthError::Disabled => Problem::new(
                StatusCode::FORBIDDEN,
                "account-disabled",
                "Account disabled",
            )
            .detail("this account is disabled"),
            AuthError::TooManyAttempts { retry_after } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-attempts",
                "Too many attempts",
            )
            .detail(format!("try again in {retry_after} seconds"))
            .retry_after(retry_after.max(1) as u64),
            AuthError::InvalidRefreshToken => {
                Problem::unauthorized("invalid, expired or revoked refresh token")
            }
            AuthError::Token(e) => e.into(),
            AuthError::NotFound => Problem::not_found(),
            AuthError::Hash(HashError::Busy) => {
                Problem::unavailable("too many password checks in progress", 2)
            }
            AuthError::Store(StoreError::Database(e)) if kit::database::is_unavailable(&e) => {
                tracing::warn!(error = %e, "accounts database unavailable");
                Problem::unavailable("the accounts database is unavailable", 2)
            }
            other => Problem::internal(&other),
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}
