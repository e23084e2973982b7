//! What a user types in the search box: parsed, then written out as an
//! FTS5 expression and run as a MATCH on an index made by the library's
//! own migration. A query the parser accepts must be one SQLite accepts:
//! anything else would be a 500 for what a user typed. (PostgreSQL's
//! `to_tsquery` text is made from the same pieces.)
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::SqlitePool;

fn index() -> &'static (tokio::runtime::Runtime, SqlitePool) {
    static INDEX: OnceLock<(tokio::runtime::Runtime, SqlitePool)> = OnceLock::new();
    INDEX.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let pool = runtime.block_on(async {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect("sqlite::memory:")
                .await
                .unwrap();
            let migration = include_str!("../../crates/documents/migrations/sqlite/0002_search.sql");
            sqlx::raw_sql(migration).execute(&pool).await.unwrap();
            sqlx::query("INSERT INTO page_index (en, fr, document_id, number) VALUES ('invoic tann chateau', 'factur tann chateau', 'd', 1)")
                .execute(&pool)
                .await
                .unwrap();
            pool
        });
        (runtime, pool)
    })
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(query) = text.parse::<documents::search::Query>() else {
        return;
    };
    let fts5 = query.fts5();
    let _ = query.tsquery();
    let (runtime, pool) = index();
    let answer = runtime.block_on(
        sqlx::query("SELECT rowid FROM page_index WHERE page_index MATCH ?")
            .bind(&fts5)
            .fetch_all(pool),
    );
    if let Err(e) = answer {
        panic!("{text:?} became {fts5:?}, which SQLite refused: {e}");
    }
});
