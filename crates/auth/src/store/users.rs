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
    /// Insert a user with the skeleton of its name; a taken username or a
    /// lookalike of one surfaces as a unique violation.
    pub async fn insert_user(&self, user: &UserRow, skeleton: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO users (id, username, username_key, password_hash, created_at, \
                                username_skeleton) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.username_key)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .bind(skeleton)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Whether a user's name has this skeleton (looks like this).
    pub async fn skeleton_taken(&self, skeleton: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM users WHERE username_skeleton = $1")
                .bind(skeleton)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }

    /// Users whose skeleton is not stored yet (created before it was), oldest
    /// first: `(id, username)`.
    pub async fn users_without_skeleton(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, username FROM users WHERE username_skeleton IS NULL \
             ORDER BY created_at, id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Store a user's skeleton; a unique violation when another name
    /// already looks the same.
    pub async fn set_skeleton(&self, id: &str, skeleton: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE users SET username_skeleton = $1 WHERE id = $2 AND username_skeleton IS NULL",
        )
        .bind(skeleton)
        .bind(id)
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
