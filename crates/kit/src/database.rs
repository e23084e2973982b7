//! A service's own database: PostgreSQL in production, SQLite as the
//! embedded default, one migration set per backend. Queries use `$N`
//! placeholders, which both backends accept, through sqlx's `Any` driver.

use std::path::Path;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A service's migrations, one set per backend, and the PostgreSQL advisory
/// lock held while they run, so that replicas starting together migrate
/// one after the other.
pub struct Migrations {
    pub postgres: &'static Migrator,
    pub sqlite: &'static Migrator,
    pub lock: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("unsupported database URL (expected postgres:// or sqlite:)")]
    UnsupportedUrl,
    #[error(transparent)]
    Url(#[from] DatabaseUrlError),
    #[error("cannot create the database directory: {0}")]
    Directory(#[from] std::io::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error("the database URL is not a valid URL")]
    Invalid,
    #[error("a database user, password or name applies to PostgreSQL URLs only")]
    CredentialsNeedPostgres,
}

/// Where a service's database is, with the credentials that a ConfigMap's
/// URL leaves out (from Secret files).
pub struct DatabaseAddress<'a> {
    pub url: &'a str,
    pub user: Option<&'a str>,
    pub password: Option<&'a SecretString>,
    pub name: Option<&'a str>,
}

impl DatabaseAddress<'_> {
    /// The URL with the user, password and name put in (escaped). Only
    /// PostgreSQL URLs take them.
    pub fn connection_url(&self) -> Result<SecretString, DatabaseUrlError> {
        if self.user.is_none() && self.password.is_none() && self.name.is_none() {
            return Ok(self.url.to_owned().into());
        }
        let mut url = url::Url::parse(self.url).map_err(|_| DatabaseUrlError::Invalid)?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(DatabaseUrlError::CredentialsNeedPostgres);
        }
        if let Some(user) = self.user {
            url.set_username(user)
                .map_err(|_| DatabaseUrlError::Invalid)?;
        }
        if let Some(password) = self.password {
            url.set_password(Some(password.expose_secret()))
                .map_err(|_| DatabaseUrlError::Invalid)?;
        }
        if let Some(name) = self.name {
            url.set_path(name);
        }
        Ok(url.to_string().into())
    }
}

#[derive(Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DatabaseError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(DatabaseError::UnsupportedUrl);
        };
        if backend == Backend::Sqlite {
            ensure_sqlite_dir(url)?;
        }
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Apply pending migrations. On PostgreSQL the whole run (including the
    /// creation of the migrations table) holds the advisory lock.
    #[tracing::instrument(skip_all, name = "migrate")]
    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), DatabaseError> {
        match self.backend {
            Backend::Sqlite => migrations.sqlite.run(&self.pool).await?,
            Backend::Postgres => {
                let mut conn = self.pool.acquire().await?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(migrations.lock)
                    .execute(&mut *conn)
                    .await?;
                let result = migrations.postgres.run(&mut *conn).await;
                let unlock = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(migrations.lock)
                    .execute(&mut *conn)
                    .await;
                result?;
                unlock?;
            }
        }
        Ok(())
    }

    /// Whether every known migration has been applied.
    pub async fn migrations_applied(&self, migrations: &Migrations) -> bool {
        let expected = match self.backend {
            Backend::Postgres => migrations.postgres,
            Backend::Sqlite => migrations.sqlite,
        };
        let latest = expected.iter().map(|m| m.version).max().unwrap_or(0);
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .unwrap_or(None);
        row.map(|(v,)| v >= latest).unwrap_or(false)
    }

    pub async fn ping(&self) -> Result<(), DatabaseError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Create the parent folder of a SQLite file URL such as `sqlite://data/auth.db`.
fn ensure_sqlite_dir(url: &str) -> std::io::Result<()> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    match Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

/// Whether an error is a unique-constraint violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether `e` says the database cannot be reached or is not serving now
/// (a restart, a cut network, every connection busy) rather than that the
/// query is wrong: the caller gets 503 and tries again.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        // SQLSTATE 08 (connection exception), 53 (insufficient
        // resources), 57P01-57P03 (shut down, cannot connect now).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
        }),
        _ => false,
    }
}

/// How long a query waits for a connection before its caller is told the
/// database is unavailable.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_unavailable_and_query_errors_are_not() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::ColumnNotFound("x".into())));
    }

    fn postgres(password: Option<&SecretString>) -> DatabaseAddress<'_> {
        DatabaseAddress {
            url: "postgres://postgres:5432/app?sslmode=disable",
            user: None,
            password,
            name: None,
        }
    }

    #[test]
    fn url_is_kept_without_overrides() {
        let url = postgres(None).connection_url().unwrap();
        assert_eq!(
            url.expose_secret(),
            "postgres://postgres:5432/app?sslmode=disable"
        );
    }

    #[test]
    fn credentials_are_put_into_the_url_escaped() {
        let password: SecretString = "p@ss/word:1".to_string().into();
        let address = DatabaseAddress {
            user: Some("scriptorium"),
            name: Some("accounts"),
            ..postgres(Some(&password))
        };
        let url = address.connection_url().unwrap();
        assert_eq!(
            url.expose_secret(),
            "postgres://scriptorium:p%40ss%2Fword%3A1@postgres:5432/accounts?sslmode=disable"
        );
    }

    #[test]
    fn sqlite_refuses_credentials() {
        let password: SecretString = "x".to_string().into();
        let address = DatabaseAddress {
            url: "sqlite://data/auth.db?mode=rwc",
            ..postgres(Some(&password))
        };
        assert!(matches!(
            address.connection_url(),
            Err(DatabaseUrlError::CredentialsNeedPostgres)
        ));
    }
}
