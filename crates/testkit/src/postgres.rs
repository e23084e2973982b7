//! A PostgreSQL server for tests: `DATABASE_URL` when set, else a throwaway
//! cluster created with `initdb` from the installed binaries and killed when
//! the test process exits.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::Connection;

/// A new, empty database on the test server.
pub async fn fresh_database() -> String {
    let server = server_url();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = loop {
        match sqlx::PgConnection::connect(&server).await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot connect to {server}: {e}"),
        }
    };
    sqlx::Executor::execute(&mut conn, format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("create test database");
    with_database(&server, &name)
}

/// Replace the database name of a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").expect("URL has a scheme");
    let host = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{scheme}://{host}/{name}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub fn server_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => fixtures::postgres::start_cluster(),
    })
    .clone()
}
