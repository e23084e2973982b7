//! Auth benchmark: starts the release server on a fresh database and prints
//! one table with
//! - logins/s at 1, 2, 4 and 8 clients next to this machine's argon2 limit
//!   (cores / time of one hash, measured in the same run);
//! - requests/s of an authenticated `GET /auth/me` next to `GET /healthz`;
//! - p50/p99 latency of each.
//!
//! Run: `bench/auth.sh` (builds in release mode first).

use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use clap::Parser;
use scriptorium_bench::PASSWORD;
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// The server binary.
    #[arg(long, default_value = "target/release/scriptorium")]
    server: String,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Database URL (default: a fresh SQLite file).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: Option<String>,
}

/// Seconds for one argon2id verification with the service's parameters.
fn argon2_seconds() -> f64 {
    let params = Params::new(19_456, 2, 1, None).unwrap();
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let phc = a
        .hash_password(PASSWORD.as_bytes(), &salt)
        .unwrap()
        .to_string();
    let parsed = PasswordHash::new(&phc).unwrap();
    let n = 20;
    let start = Instant::now();
    for _ in 0..n {
        a.verify_password(PASSWORD.as_bytes(), &parsed).unwrap();
    }
    start.elapsed().as_secs_f64() / n as f64
}

struct Run {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

#[derive(Clone)]
enum Req {
    Login(String),
    Get(String, Option<String>),
}

/// One client per request in `reqs`, each looping until the time is up.
async fn load(base: &str, reqs: Vec<Req>, seconds: f64) -> Run {
    let base = Arc::new(base.to_owned());
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for req in reqs {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut lat = Vec::new();
            let mut errors = 0;
            while Instant::now() < until {
                let t = Instant::now();
                let r = match &req {
                    Req::Login(user) => {
                        client
                            .post(format!("{base}/auth/login"))
                            .json(&json!({ "username": user, "password": PASSWORD }))
                            .send()
                            .await
                    }
                    Req::Get(path, token) => {
                        let mut b = client.get(format!("{base}{path}"));
                        if let Some(t) = token {
                            b = b.bearer_auth(t);
                        }
                        b.send().await
                    }
                };
                match r {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.unwrap();
        all.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| {
        if all.is_empty() {
            f64::NAN
        } else {
            all[((all.len() as f64 - 1.0) * p).round() as usize]
        }
    };
    Run {
        per_sec: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cores = std::thread::available_parallelism()?.get();
    let server = scriptorium_bench::start(&args.server, args.database_url.as_deref(), &[]).await?;
    let base = server.base.clone();
    let hash_s = argon2_seconds();
    let limit = cores as f64 / hash_s;

    // One account per client so that no account-level effect is measured.
    let mut token = String::new();
    for i in 0..8 {
        let t = scriptorium_bench::account(&base, &format!("bench{i}"), PASSWORD).await?;
        if i == 0 {
            token = t;
        }
    }

    println!(
        "# auth benchmark ({cores} cores, {:.1} s per row)",
        args.seconds
    );
    println!("argon2id m=19456 t=2 p=1: {:.1} ms per hash; limit = {cores} / {:.4} s = {limit:.1} logins/s", hash_s * 1000.0, hash_s);
    println!();
    println!("| workload | clients | req/s | vs reference | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for clients in [1, 2, 4, 8] {
        // Each client logs into its own account.
        let reqs = (0..clients)
            .map(|i| Req::Login(format!("bench{i}")))
            .collect();
        let run = load(&base, reqs, args.seconds).await;
        println!(
            "| POST /auth/login | {clients} | {:.1} | {:.0}% of argon2 limit | {:.1} | {:.1} | {} |",
            run.per_sec,
            100.0 * run.per_sec / limit,
            run.p50_ms,
            run.p99_ms,
            run.errors
        );
    }
    for clients in [1, 8] {
        let health = load(
            &base,
            vec![Req::Get("/healthz".into(), None); clients],
            args.seconds,
        )
        .await;
        let me_req = Req::Get("/auth/me".into(), Some(token.clone()));
        let me = load(&base, vec![me_req; clients], args.seconds).await;
        println!(
            "| GET /healthz | {clients} | {:.0} | reference | {:.2} | {:.2} | {} |",
            health.per_sec, health.p50_ms, health.p99_ms, health.errors
        );
        println!(
            "| GET /auth/me (JWT) | {clients} | {:.0} | {:.0}% of /healthz (auth costs {:.0}%) | {:.2} | {:.2} | {} |",
            me.per_sec,
            100.0 * me.per_sec / health.per_sec,
            100.0 * (1.0 - me.per_sec / health.per_sec),
            me.p50_ms,
            me.p99_ms,
            me.errors
        );
    }
    Ok(())
}
