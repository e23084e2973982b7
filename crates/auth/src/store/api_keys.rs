use super::{Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct LiveKey {
    id: String,
    user_id: String,
    name: String,
    prefix: String,
    created_at: i64,
    expires_at: Option<i64>,
    username: String,
}

impl Store {
    pub async fn insert_api_key(&self, row: &ApiKeyRow, key_hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.id)
        .bind(&row.user_id)
        .bind(&row.name)
        .bind(&row.prefix)
        .bind(key_hash)
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn api_keys_of(&self, user_id: &str) -> Result<Vec<ApiKeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, user_id, name, prefix, created_at, expires_at, revoked_at \
             FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The live key with this hash (not revoked, not expired, owner enabled),
    /// with its owner's username.
    pub async fn live_api_key(
        &self,
        key_hash: &str,
        now: i64,
    ) -> Result<Option<(ApiKeyRow, String)>, StoreError> {
        let row: Option<LiveKey> = sqlx::query_as(
            "SELECT k.id, k.user_id, k.name, k.prefix, k.created_at, k.expires_at, u.username \
             FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND u.disabled_at IS NULL \
               AND (k.expires_at IS NULL OR k.expires_at > $2)",
        )
        .bind(key_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|k| {
            let key = ApiKeyRow {
                id: k.id,
                user_id: k.user_id,
                name: k.name,
                prefix: k.prefix,
                created_at: k.created_at,
                expires_at: k.expires_at,
                revoked_at: None,
            };
            (key, k.username)
        }))
    }

    /// Revoke one of a user's keys; `false` when it is not theirs or unknown.
    pub async fn revoke_api_key(
        &self,
        user_id: &str,
        id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
