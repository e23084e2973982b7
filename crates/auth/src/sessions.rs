//! Login, refresh-token rotation with reuse detection, and logout.
//!
//! Every login starts a refresh-token *family*. Refreshing spends the
//! presented token and issues its child. A spent token presented again after
//! the grace period means a copy is in someone else's hands: the whole family
//! is revoked. Within the grace period it is a concurrent refresh (two tabs,
//! a retried request) and gets a sibling token instead.

use crate::domain::Username;
use crate::error::AuthError;
use crate::service::{Auth, Context};
use crate::store::{AuditEvent, RefreshTokenRow, UserRow};
use crate::tokens;

/// Tokens handed to a client after login or refresh.
#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub user_id: String,
    pub username: String,
}

impl Auth {
    #[tracing::instrument(skip_all, name = "login")]
    pub async fn login(
        &self,
        ctx: &Context,
        username: &str,
        password: &str,
    ) -> Result<Session, AuthError> {
        let key = Username::key_of(username);
        let now = kit::unix_now();
        if let Some(wait) = self.throttle.login_locked(&key, ctx.ip, now).await? {
            metrics::counter!("auth_logins_total", "outcome" => "locked").increment(1);
            return Err(AuthError::TooManyAttempts { retry_after: wait });
        }
        let user = self.store.user_by_key(&key).await?;
        let phc = user.as_ref().map(|u| u.password_hash.clone());
        let matches = self.hasher.verify(password.to_owned(), phc).await?;
        let user = match user {
            Some(u) if matches && u.disabled_at.is_none() => u,
            found => {
                metrics::counter!("auth_logins_total", "outcome" => "failure").increment(1);
                let user_id = found.as_ref().map(|u| u.id.as_str());
                self.audit(ctx, AuditEvent::LoginFailure, user_id, Some(username), None)
                    .await;
                if let Some(secs) = self.throttle.login_failed(&key, ctx.ip, now).await? {
                    self.audit(
                        ctx,
                        AuditEvent::Lockout,
                        user_id,
                        Some(username),
                        Some(format!("locked for {secs}s")),
                    )
                    .await;
                }
                return Err(AuthError::InvalidCredentials);
            }
        };
        self.throttle.login_succeeded(&key, ctx.ip).await?;
        metrics::counter!("auth_logins_total", "outcome" => "success").increment(1);
        let session = self.start_family(&user, now).await?;
        self.audit(
            ctx,
            AuditEvent::LoginSuccess,
            Some(&user.id),
            Some(&user.username),
            None,
        )
        .await;
        Ok(session)
    }

    async fn start_family(&self, user: &UserRow, now: i64) -> Result<Session, AuthError> {
        let family_id = uuid::Uuid::now_v7().to_string();
        let expires_at = now + self.config.refresh_ttl_secs;
        let minted = tokens::refresh_token();
        let first = RefreshTokenRow {
            id: uuid::Uuid::now_v7().to_string(),
            family_id: family_id.clone(),
            token_hash: minted.digest,
            parent_id: None,
            created_at: now,
        };
        self.store
            .create_family(&family_id, &user.id, now, expires_at, &first)
            .await?;
        self.session(user, minted.secret, expires_at, now).await
    }

    async fn session(
        &self,
        user: &UserRow,
        refresh_token: String,
        refresh_expires_at: i64,
        now: i64,
    ) -> Result<Session, AuthError> {
        let key = self.keys.signer(now).await?;
        let c = &self.config;
        let access = tokens::access_token(
            &key,
            &c.issuer,
            &c.audience,
            c.access_ttl_secs,
            &user.id,
            &user.username,
            now,
        )?;
        Ok(Session {
            access_token: access.token,
            expires_in: access.expires_at - now,
            refresh_token,
            refresh_expires_in: refresh_expires_at - now,
            user_id: user.id.clone(),
            username: user.username.clone(),
        })
    }

    #[tracing::instrument(skip_all, name = "refresh")]
    pub async fn refresh(&self, ctx: &Context, refresh_token: &str) -> Result<Session, AuthError> {
        let now = kit::unix_now();
        let found = self
            .store
            .lookup_refresh_token(&tokens::digest(refresh_token))
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        if found.family_revoked_at.is_some() || found.family_expires_at <= now {
            return Err(AuthError::InvalidRefreshToken);
        }
        let grace = self.config.refresh_reuse_grace_secs;
        let won = match found.spent_at {
            None => self.store.spend_refresh_token(&found.id, now).await?,
            Some(_) => false,
        };
        if !won {
            // Spent before: by a concurrent request (within the grace) or by
            // whoever holds a copy of this token.
            let spent_at = match found.spent_at {
                Some(at) => at,
                None => now, // lost the race just now
            };
            if now - spent_at >= grace {
                self.store
                    .revoke_family(&found.family_id, now, "refresh token reused")
                    .await?;
                metrics::counter!("auth_refresh_reuse_total").increment(1);
                self.audit(
                    ctx,
                    AuditEvent::RefreshReuse,
                    Some(&found.user_id),
                    None,
                    Some(format!("family={}", found.family_id)),
                )
                .await;
                return Err(AuthError::InvalidRefreshToken);
            }
        }
        let user = match self.store.user_by_id(&found.user_id).await? {
            Some(u) if u.disabled_at.is_none() => u,
            _ => return Err(AuthError::InvalidRefreshToken),
        };
        let minted = tokens::refresh_token();
        self.store
            .insert_refresh_token(&RefreshTokenRow {
                id: uuid::Uuid::now_v7().to_string(),
                family_id: found.family_id.clone(),
                token_hash: minted.digest,
                parent_id: Some(found.id.clone()),
                created_at: now,
            })
            .await?;
        self.session(&user, minted.secret, found.family_expires_at, now)
            .await
    }

    /// Revoke the family of `refresh_token`. Unknown tokens are ignored, as
    /// RFC 7009 asks, so that logout cannot probe for valid tokens.
    #[tracing::instrument(skip_all, name = "logout")]
    pub async fn logout(&self, ctx: &Context, refresh_token: &str) -> Result<(), AuthError> {
        let now = kit::unix_now();
        if let Some(found) = self
            .store
            .lookup_refresh_token(&tokens::digest(refresh_token))
            .await?
        {
            if self
                .store
                .revoke_family(&found.family_id, now, "logout")
                .await?
            {
                self.audit(ctx, AuditEvent::Logout, Some(&found.user_id), None, None)
                    .await;
            }
        }
        Ok(())
    }
}
