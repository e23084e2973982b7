//! Registration and account look-ups.

use kit::problem::FieldError;

use crate::domain::{NewPassword, Username};
use crate::error::AuthError;
use crate::service::{Auth, Context};
use crate::store::{is_unique_violation, AuditEvent, UserRow};

const USER_CACHE_MAX: usize = 10_000;

impl Auth {
    /// Register a user. Rate limited per address; 409 for a taken username
    /// in any case or normalization form.
    #[tracing::instrument(skip_all, name = "register")]
    pub async fn register(
        &self,
        ctx: &Context,
        username: &str,
        password: &str,
    ) -> Result<UserRow, AuthError> {
        if let Some(wait) = self
            .throttle
            .register_attempt(ctx.ip, kit::unix_now())
            .await?
        {
            return Err(AuthError::TooManyAttempts { retry_after: wait });
        }
        let user = self.create_user(username, password).await?;
        self.audit(
            ctx,
            AuditEvent::Register,
            Some(&user.id),
            Some(&user.username),
            None,
        )
        .await;
        Ok(user)
    }

    /// Validate and create an account (no rate limit: also used by the CLI).
    pub async fn create_user(&self, username: &str, password: &str) -> Result<UserRow, AuthError> {
        let (username, password) = self.validate(username, password)?;
        // A lookalike of a taken name is as taken as the name itself.
        if self.store.user_by_key(username.key()).await?.is_some()
            || self.store.skeleton_taken(username.skeleton()).await?
        {
            return Err(AuthError::UsernameTaken);
        }
        let hash = self.hasher.hash(password.expose().to_owned()).await?;
        let user = UserRow {
            id: uuid::Uuid::now_v7().to_string(),
            username: username.as_str().to_owned(),
            username_key: username.key().to_owned(),
            password_hash: hash,
            created_at: kit::unix_now(),
            disabled_at: None,
        };
        match self.store.insert_user(&user, username.skeleton()).await {
            Ok(()) => Ok(user),
            Err(e) if is_unique_violation(&e) => Err(AuthError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Store the skeleton of accounts made before skeletons were stored. A
    /// name that already looks like an older one keeps working but is left
    /// without one (the older name's skeleton keeps new lookalikes out).
    pub(crate) async fn backfill_skeletons(&self) -> Result<(), AuthError> {
        for (id, username) in self.store.users_without_skeleton().await? {
            match self
                .store
                .set_skeleton(&id, &Username::skeleton_of(&username))
                .await
            {
                Ok(()) => {}
                Err(e) if is_unique_violation(&e) => {
                    tracing::warn!(user_id = %id, %username, "this username looks like an older one")
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn validate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(Username, NewPassword), AuthError> {
        let mut errors: Vec<FieldError> = Vec::new();
        let username = Username::parse(username).map_err(|e| errors.push(e)).ok();
        let password = NewPassword::parse(
            password,
            username.as_ref().map(Username::as_str),
            self.config.password_min_score,
        )
        .map_err(|e| errors.push(e))
        .ok();
        match (username, password) {
            (Some(u), Some(p)) => Ok((u, p)),
            _ => Err(AuthError::Validation(errors)),
        }
    }

    /// The current account of an authenticated caller, read at most every
    /// `auth.user_cache_secs` (access tokens are valid for minutes anyway).
    /// For answers only: sensitive operations use [`Auth::active_user`].
    pub async fn user(&self, id: &str) -> Result<UserRow, AuthError> {
        let ttl = std::time::Duration::from_secs(self.config.user_cache_secs);
        if let Ok(cache) = self.users.lock() {
            if let Some((user, at)) = cache.get(id) {
                if at.elapsed() < ttl {
                    return Ok(user.clone());
                }
            }
        }
        let u = self.active_user(id).await?;
        if !ttl.is_zero() {
            if let Ok(mut cache) = self.users.lock() {
                if cache.len() >= USER_CACHE_MAX {
                    cache.clear();
                }
                cache.insert(id.to_owned(), (u.clone(), std::time::Instant::now()));
            }
        }
        Ok(u)
    }

    /// The account as the database has it now, never from the cache: for
    /// sensitive operations (creating credentials), so that a `users
    /// disable` run in another process takes effect at once.
    pub async fn active_user(&self, id: &str) -> Result<UserRow, AuthError> {
        match self.store.user_by_id(id).await? {
            Some(u) if u.disabled_at.is_none() => Ok(u),
            Some(_) => {
                if let Ok(mut cache) = self.users.lock() {
                    cache.remove(id);
                }
                Err(AuthError::Disabled)
            }
            None => Err(AuthError::NotFound),
        }
    }

    pub async fn disable_user(&self, username: &str) -> Result<bool, AuthError> {
        let key = Username::key_of(username);
        let done = self.store.disable_user(&key, kit::unix_now()).await?;
        if let Ok(mut cache) = self.users.lock() {
            cache.retain(|_, (u, _)| u.username_key != key);
        }
        if done {
            self.audit(
                &Context::local(),
                AuditEvent::UserDisabled,
                None,
                Some(username),
                None,
            )
            .await;
        }
        Ok(done)
    }
}
