//! API keys for programs, and token introspection for the other services.

use kit::problem::FieldError;
use kit::token::{Credential, Principal, TokenVerifier, API_KEY_PREFIX};
use wire::auth::Introspection;

use crate::error::AuthError;
use crate::service::{Auth, Context};
use crate::store::{ApiKeyRow, AuditEvent};
use crate::tokens;

pub const NAME_MAX: usize = 64;

impl Auth {
    /// Create a key; the secret is returned once and only its digest is kept.
    #[tracing::instrument(skip_all, name = "create_api_key")]
    pub async fn create_api_key(
        &self,
        ctx: &Context,
        owner: &Principal,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<(ApiKeyRow, String), AuthError> {
        let now = kit::unix_now();
        let name = name.trim();
        let mut errors = Vec::new();
        if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                "name",
                format!("must be 1 to {NAME_MAX} printable characters"),
            ));
        }
        if expires_at.is_some_and(|at| at <= now) {
            errors.push(FieldError::new("expires_at", "must be in the future"));
        }
        if !errors.is_empty() {
            return Err(AuthError::Validation(errors));
        }
        self.active_user(&owner.user_id).await?;
        let minted = tokens::api_key();
        let row = ApiKeyRow {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: owner.user_id.clone(),
            name: name.to_owned(),
            prefix: minted.secret[..tokens::API_KEY_SHOWN_PREFIX].to_owned(),
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        self.store.insert_api_key(&row, &minted.digest).await?;
        self.audit(
            ctx,
            AuditEvent::ApiKeyCreated,
            Some(&owner.user_id),
            Some(&owner.username),
            Some(format!("key_id={}", row.id)),
        )
        .await;
        Ok((row, minted.secret))
    }

    pub async fn api_keys(&self, owner: &Principal) -> Result<Vec<ApiKeyRow>, AuthError> {
        Ok(self.store.api_keys_of(&owner.user_id).await?)
    }

    pub async fn revoke_api_key(
        &self,
        ctx: &Context,
        owner: &Principal,
        id: &str,
    ) -> Result<(), AuthError> {
        if !self
            .store
            .revoke_api_key(&owner.user_id, id, kit::unix_now())
            .await?
        {
            return Err(AuthError::NotFound);
        }
        self.audit(
            ctx,
            AuditEvent::ApiKeyRevoked,
            Some(&owner.user_id),
            Some(&owner.username),
            Some(format!("key_id={id}")),
        )
        .await;
        Ok(())
    }

    /// Whether `token` (an access token or an API key) is valid, and for whom.
    #[tracing::instrument(skip_all, name = "introspect")]
    pub async fn introspect(
        &self,
        verifier: &TokenVerifier,
        token: &str,
    ) -> Result<Introspection, AuthError> {
        use kit::token::Introspector;
        if token.starts_with(API_KEY_PREFIX) {
            return Ok(match Introspector::api_key(self, token).await? {
                Some(p) => {
                    let key_id = match p.credential {
                        Credential::ApiKey { key_id } => Some(key_id),
                        _ => None,
                    };
                    Introspection {
                        active: true,
                        sub: Some(p.user_id),
                        username: Some(p.username),
                        token_type: Some("api_key".into()),
                        key_id,
                        ..Default::default()
                    }
                }
                None => Introspection::default(),
            });
        }
        Ok(match verifier.verify_access_token(token).await {
            Ok(p) => {
                let exp = match p.credential {
                    Credential::AccessToken { exp, .. } => Some(exp),
                    _ => None,
                };
                Introspection {
                    active: true,
                    sub: Some(p.user_id),
                    username: Some(p.username),
                    token_type: Some("access_token".into()),
                    exp,
                    ..Default::default()
                }
            }
            Err(_) => Introspection::default(),
        })
    }
}
