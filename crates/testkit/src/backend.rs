//! The two database backends every service with a database is tested on.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A new, empty database of this kind: a SQLite file `name` in `dir`, or a
/// database of its own on the test PostgreSQL server.
pub async fn database(db: Db, dir: &Path, name: &str) -> String {
    match db {
        Db::Sqlite => format!("sqlite://{}/{name}.db?mode=rwc", dir.display()),
        Db::Postgres => crate::postgres::fresh_database().await,
    }
}

/// Run an async test body, `async fn name(db: Db)`, on both backends.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Db::Sqlite).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Db::Postgres).await
                }
            )*
        }
    };
}
