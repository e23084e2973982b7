use super::{Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub username_key: String,
    pub password_hash: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

const COLUMNS: &str = "id, username, username_key, password_hash, created_at, disabled_at";

impl Store {
    /// Insert a user; a taken username surfaces as a unique violation.
    pub async fn insert_user(&self, user: &UserRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO users (id, username, username_key, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.username_key)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn user_by_key(&self, username_key: &str) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE username_key = $1");
        Ok(sqlx::query_as(&sql)
            .bind(username_key)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM users ORDER BY created_at, username_key");
        Ok(sqlx::query_as(&sql).fetch_all(self.pool()).await?)
    }

    /// Disable an account; returns whether it existed.
    pub async fn disable_user(&self, username_key: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET disabled_at = $1 WHERE username_key = $2 AND disabled_at IS NULL",
        )
        .bind(now)
        .bind(username_key)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
