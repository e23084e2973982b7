use super::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct RefreshTokenRow {
    pub id: String,
    pub family_id: String,
    pub token_hash: String,
    pub parent_id: Option<String>,
    pub created_at: i64,
}

/// A presented refresh token with its family's state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshLookup {
    pub id: String,
    pub family_id: String,
    pub user_id: String,
    pub spent_at: Option<i64>,
    pub family_expires_at: i64,
    pub family_revoked_at: Option<i64>,
}

impl Store {
    /// Start a family (one login) with its first token.
    pub async fn create_family(
        &self,
        family_id: &str,
        user_id: &str,
        now: i64,
        expires_at: i64,
        first: &RefreshTokenRow,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO refresh_families (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(family_id)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        insert_token(&mut tx, first).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_refresh_token(&self, row: &RefreshTokenRow) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        insert_token(&mut tx, row).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn lookup_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshLookup>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT t.id, t.family_id, f.user_id, t.spent_at, \
                    f.expires_at AS family_expires_at, f.revoked_at AS family_revoked_at \
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Mark a token spent; `false` when another request spent it first.
    pub async fn spend_refresh_token(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET spent_at = $1 WHERE id = $2 AND spent_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revoke a family; returns whether it was active.
    pub async fn revoke_family(
        &self,
        family_id: &str,
        now: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 \
             WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(family_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

async fn insert_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    row: &RefreshTokenRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, token_hash, parent_id, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.id)
    .bind(&row.family_id)
    .bind(&row.token_hash)
    .bind(row.parent_id.as_deref())
    .bind(row.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
