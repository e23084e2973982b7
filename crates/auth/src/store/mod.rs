//! The auth service's own database: PostgreSQL in production, SQLite as the
//! embedded default, one migration set per backend. Queries use `$N`
//! placeholders, which both backends accept, through sqlx's `Any` driver.

mod api_keys;
mod audit;
mod refresh;
mod signing_keys;
mod throttle;
mod users;

use kit::database::{Database, Migrations};
use sqlx::migrate::Migrator;
use sqlx::AnyPool;

pub use api_keys::ApiKeyRow;
pub use audit::{AuditEvent, AuditRecord};
pub use kit::database::{is_unique_violation, Backend, DatabaseError as StoreError};
pub use refresh::{RefreshLookup, RefreshTokenRow};
pub use signing_keys::SigningKeyRow;
pub use users::UserRow;

static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");

static MIGRATIONS: Migrations = Migrations {
    postgres: &POSTGRES,
    sqlite: &SQLITE,
    lock: 0x5c41_9710_a0f1,
};

#[derive(Clone)]
pub struct Store {
    db: Database,
}

impl Store {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Ok(Self {
            db: Database::connect(url, max_connections).await?,
        })
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    pub fn pool(&self) -> &AnyPool {
        self.db.pool()
    }

    /// Apply pending migrations, one replica at a time.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.db.migrate(&MIGRATIONS).await
    }

    /// Whether every known migration has been applied.
    pub async fn migrations_applied(&self) -> Result<bool, StoreError> {
        Ok(self.db.migrations_applied(&MIGRATIONS).await)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await
    }
}
