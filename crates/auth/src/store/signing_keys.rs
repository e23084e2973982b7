use super::{Store, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub private_pkcs8: String,
    pub public_key: String,
    pub created_ms: i64,
    pub activates_at: i64,
}

impl Store {
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kid, private_pkcs8, public_key, created_ms, activates_at \
             FROM signing_keys ORDER BY activates_at, created_ms, kid",
        )
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn insert_signing_key(&self, row: &SigningKeyRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_pkcs8, public_key, created_ms, activates_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.kid)
        .bind(&row.private_pkcs8)
        .bind(&row.public_key)
        .bind(row.created_ms)
        .bind(row.activates_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
