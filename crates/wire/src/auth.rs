//! The auth API: accounts, tokens, API keys, introspection.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /auth/register` and `POST /auth/login`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// An account, as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// OAuth 2.0 token response fields.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds.
    pub expires_in: i64,
    pub refresh_token: String,
    /// Seconds.
    pub refresh_expires_in: i64,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// `POST /auth/refresh` and `POST /auth/logout`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `POST /auth/api-keys`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewApiKey {
    pub name: String,
    /// Unix seconds; absent for a key that does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A key just made: the listing fields and the key itself.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The key itself. Shown once: only its digest is stored.
    pub secret: String,
}

/// `POST /auth/introspect`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct IntrospectRequest {
    pub token: String,
}

/// What introspection says of a token (RFC 7662 field names).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Introspection {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `access_token` or `api_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = Credentials {
            username: "ada".into(),
            password: "correct horse".into(),
        };
        assert!(!format!("{c:?}").contains("horse"));
        let t = TokenResponse {
            access_token: "eyJ.secret".into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            refresh_token: "rt-secret".into(),
            refresh_expires_in: 60,
        };
        assert!(!format!("{t:?}").contains("secret"));
    }

    #[test]
    fn a_created_key_is_flat() {
        let json = r#"{"id":"k1","name":"ci","prefix":"sk-ab","created_at":1,"expires_at":null,"revoked_at":null,"secret":"sk-abc"}"#;
        let k: CreatedApiKey = serde_json::from_str(json).unwrap();
        assert_eq!(k.key.prefix, "sk-ab");
        assert_eq!(k.secret, "sk-abc");
    }
}
