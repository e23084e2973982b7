//! The audit trail: who did what, when, from where, under which request id.
//! Never a password or a token.

use super::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    Register,
    LoginSuccess,
    LoginFailure,
    Lockout,
    Logout,
    RefreshReuse,
    KeyRotation,
    ApiKeyCreated,
    ApiKeyRevoked,
    UserDisabled,
}

impl AuditEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::LoginSuccess => "login_success",
            Self::LoginFailure => "login_failure",
            Self::Lockout => "lockout",
            Self::Logout => "logout",
            Self::RefreshReuse => "refresh_reuse",
            Self::KeyRotation => "key_rotation",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::UserDisabled => "user_disabled",
        }
    }
}

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct AuditRecord {
    pub at: i64,
    pub event: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

impl Store {
    pub async fn audit(&self, record: &AuditRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, event, user_id, username, ip, request_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(record.at)
        .bind(&record.event)
        .bind(record.user_id.as_deref())
        .bind(record.username.as_deref())
        .bind(record.ip.as_deref())
        .bind(record.request_id.as_deref())
        .bind(record.detail.as_deref())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn audit_events(&self, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT at, event, user_id, username, ip, request_id, detail \
             FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
