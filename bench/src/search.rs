//! Search benchmark: a library of generated French and English pages
//! (10,000 by default), loaded through `/v1/documents` as born-digital PDFs
//! (their text layer, no OCR), then typical queries through `/v1/search`,
//! each next to the database engine's own time for the same query: the
//! library's search statement run directly on the same database (the
//! floor). On SQLite (FTS5) and PostgreSQL (a throwaway cluster).
//!
//! Prints one table: backend, query, hits, API p50/p99, engine p50/p99 and
//! the API's overhead (p50 over p50). Targets: API p99 under 50 ms at
//! 10,000 pages, overhead at most 2x.
//!
//! Run: `bench/search.sh`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use documents::search::Query;
use documents::store::{Search, Store};
use scriptorium_bench::{percentile, PASSWORD};
use serde_json::Value;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/scriptorium")]
    server: String,
    /// Pages in the library.
    #[arg(long, default_value_t = 10_000)]
    pages: usize,
    /// Pages per uploaded PDF.
    #[arg(long, default_value_t = 50)]
    per_document: usize,
    /// Times each query is asked, through the API and to the engine.
    #[arg(long, default_value_t = 30)]
    rounds: usize,
    /// `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "both")]
    backend: String,
}

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Words of both languages' look: syllables joined in twos and threes,
/// some with French accents, in a fixed order that is their rank.
fn vocabulary() -> Vec<String> {
    const SYLLABLES: [&str; 40] = [
        "ba", "cor", "del", "fi", "gan", "lo", "mer", "nu", "pra", "sel", "tin", "vor", "ré",
        "clé", "mè", "ça", "an", "ter", "ol", "ist", "ing", "ment", "tion", "eau", "ble", "ous",
        "port", "ver", "char", "mon", "pli", "stru", "gra", "phe", "qua", "rin", "sto", "wal",
        "dre", "hou",
    ];
    let mut words: Vec<String> = Vec::new();
    for a in SYLLABLES {
        for b in SYLLABLES {
            words.push(format!("{a}{b}"));
        }
    }
    for (i, a) in SYLLABLES.iter().enumerate() {
        for b in SYLLABLES.iter().skip(i % 7).step_by(7) {
            for c in SYLLABLES.iter().skip(i % 5).step_by(9) {
                words.push(format!("{a}{b}{c}"));
            }
        }
    }
    words.sort();
    words.dedup();
    let mut rng = Rng(0x5EED_0F5E_A7C4);
    for i in (1..words.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        words.swap(i, j);
    }
    words
}

/// Page `n`'s lines: words drawn with Zipf-like frequencies (rank r about
/// 1/r), some in the plural, ten to a line.
fn page_lines(words: &[String], n: usize) -> Vec<String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    (0..24)
        .map(|_| {
            (0..10)
                .map(|_| {
                    let rank = (words.len() as f64).powf(rng.unit()) as usize - 1;
                    let word = &words[rank.min(words.len() - 1)];
                    if rng.next().is_multiple_of(5) {
                        format!("{word}s")
                    } else {
                        word.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The queries asked: a label and the text typed.
fn queries(words: &[String], first_page: &[String]) -> Vec<(&'static str, String)> {
    let bigram: Vec<&str> = first_page[0].split(' ').take(2).collect();
    vec![
        ("common word", words[3].clone()),
        ("mid word", words[150].clone()),
        ("rare word", words[2500].clone()),
        ("plural form", format!("{}s", words[40])),
        ("two words", format!("{} {}", words[12], words[90])),
        ("phrase", format!("\"{} {}\"", bigram[0], bigram[1])),
        (
            "prefix",
            format!("{}*", &words[25].chars().take(4).collect::<String>()),
        ),
        ("exclusion", format!("{} -{}", words[8], words[30])),
    ]
}

struct Row {
    backend: &'static str,
    query: &'static str,
    /// Pages that match (all of them, not only the answer's).
    matching: i64,
    hits: usize,
    api: (f64, f64),
    engine: (f64, f64),
}

async fn measure(
    args: &Args,
    backend: &'static str,
    documents_url: &str,
    blobs: &std::path::Path,
) -> anyhow::Result<(Vec<Row>, f64)> {
    let quota = (args.pages * 10).to_string();
    let server = scriptorium_bench::start_targets(
        &args.server,
        "auth,ocr,documents",
        None,
        &[
            ("SCRIPTORIUM_DOCUMENTS__DATABASE_URL", documents_url),
            (
                "SCRIPTORIUM_DOCUMENTS__BLOBS__PATH",
                &blobs.display().to_string(),
            ),
            ("SCRIPTORIUM_DOCUMENTS__QUOTA_DOCUMENTS", &quota),
            ("SCRIPTORIUM_DOCUMENTS__QUOTA_BYTES", "100000000000"),
        ],
    )
    .await?;
    let base = server.base.clone();
    let token = scriptorium_bench::account(&base, "searcher", PASSWORD).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let me: Value = client
        .get(format!("{base}/auth/me"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let owner = me["id"].as_str().context("no user id")?.to_owned();

    // Load the library, four uploads at a time.
    let words = vocabulary();
    let started = Instant::now();
    let documents = args.pages.div_ceil(args.per_document);
    let uploads = futures::stream::iter((0..documents).map(|d| {
        let (client, base, token, words) = (&client, &base, &token, &words);
        async move {
            let first = d * args.per_document;
            let last = (first + args.per_document).min(args.pages);
            let specs: Vec<_> = (first..last)
                .map(|n| fixtures::PdfPageSpec::Text(page_lines(words, n)))
                .collect();
            let r = client
                .post(format!("{base}/v1/documents?name=part-{d}.pdf"))
                .bearer_auth(token)
                .header("content-type", "application/pdf")
                .body(fixtures::pdf(&specs))
                .send()
                .await?;
            if r.status() != reqwest::StatusCode::ACCEPTED {
                bail!("upload {d}: {} {}", r.status(), r.text().await?);
            }
            let doc: Value = r.json().await?;
            Ok(doc["id"].as_str().unwrap_or_default().to_owned())
        }
    }));
    use futures::StreamExt;
    let ids: Vec<anyhow::Result<String>> = uploads.buffer_unordered(4).collect().await;
    for id in ids {
        let id = id?;
        scriptorium_bench::wait_done(&client, &base, &token, &id, Duration::from_secs(3600))
            .await?;
    }
    let load_rate = args.pages as f64 / started.elapsed().as_secs_f64();

    let store = Store::open(documents_url, 2).await?;
    let pool = sqlx::AnyPool::connect(documents_url).await?;
    let postgres = documents_url.starts_with("postgres");
    // Vacuumed, with fresh statistics, as autovacuum keeps a library in use
    // (right after a bulk load the planner still thinks the tables empty,
    // and autovacuum would run in the middle of the first query's rounds).
    if postgres {
        sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
    }
    let mut rows = Vec::new();
    for (label, q) in queries(&words, &page_lines(&words, 0)) {
        let parsed: Query = q.parse()?;
        let mut api = Vec::with_capacity(args.rounds);
        let mut engine = Vec::with_capacity(args.rounds);
        let mut hits = 0;
        for _ in 0..args.rounds {
            let t = Instant::now();
            let r = client
                .get(format!("{base}/v1/search"))
                .query(&[("q", q.as_str())])
                .bearer_auth(&token)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("search {q}: {}", r.status());
            }
            let body: Value = r.json().await?;
            api.push(t.elapsed().as_secs_f64() * 1000.0);
            hits = body["hits"].as_array().map_or(0, Vec::len);

            // The same statement the service runs (one more row than asked,
            // as it does), without HTTP, auth, JSON or highlighting.
            let search = Search {
                query: &parsed,
                documents: &[],
                since: None,
                until: None,
                limit: 11,
                offset: 0,
            };
            let t = Instant::now();
            store.search(&owner, &search).await?;
            engine.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        // How many pages the engine ranked for it.
        let (matching,): (i64,) = if postgres {
            sqlx::query_as("SELECT COUNT(*) FROM page_index WHERE terms @@ CAST($1 AS tsquery)")
                .bind(parsed.tsquery())
        } else {
            sqlx::query_as("SELECT COUNT(*) FROM page_index WHERE page_index MATCH $1")
                .bind(parsed.fts5())
        }
        .fetch_one(&pool)
        .await?;
        rows.push(Row {
            backend,
            query: label,
            matching,
            hits,
            api: (percentile(&mut api, 0.5), percentile(&mut api, 0.99)),
            engine: (percentile(&mut engine, 0.5), percentile(&mut engine, 0.99)),
        });
    }
    drop(server);
    Ok((rows, load_rate))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rows = Vec::new();
    let mut loads = Vec::new();
    let dir = tempfile::tempdir()?;
    if matches!(args.backend.as_str(), "sqlite" | "both") {
        let url = format!("sqlite://{}/documents.db?mode=rwc", dir.path().display());
        let (r, rate) = measure(&args, "sqlite", &url, &dir.path().join("blobs-sqlite")).await?;
        rows.extend(r);
        loads.push(("sqlite", rate));
    }
    if matches!(args.backend.as_str(), "postgres" | "both") {
        // `DATABASE_URL` (a server of yours), else a throwaway cluster.
        let server = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => fixtures::postgres::start_cluster(),
        };
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&server).await?;
        let name = format!("bench_documents_{}", std::process::id());
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await?;
        let (host, _) = server.rsplit_once('/').context("a database URL")?;
        let url = format!("{host}/{name}");
        let (r, rate) = measure(&args, "postgres", &url, &dir.path().join("blobs-pg")).await?;
        rows.extend(r);
        loads.push(("postgres", rate));
    }
    println!(
        "\n{} pages ({} per PDF), {} rounds per query; ms",
        args.pages, args.per_document, args.rounds
    );
    println!(
        "| backend | query | matching pages | hits | API p50 | API p99 | engine p50 | engine p99 | overhead (p50) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}x |",
            r.backend,
            r.query,
            r.matching,
            r.hits,
            r.api.0,
            r.api.1,
            r.engine.0,
            r.engine.1,
            r.api.0 / r.engine.0
        );
    }
    for (backend, rate) in loads {
        println!("load ({backend}): {rate:.0} pages/s through upload, text layer and indexing");
    }
    Ok(())
}
