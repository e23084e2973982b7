//! Auth benchmark: starts the release server on a fresh database and prints
//! one table with
//! - logins/s at 1, 2, 4 and 8 clients next to this machine's argon2 limit
//!   (cores / time of one hash, measured in the same run);
//! - requests/s of an authenticated `GET /auth/me` next to `GET /healthz`;
//! - p50/p99 latency of each.
//!
//! Run: `bench/auth.sh` (builds in release mode first).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use clap::Parser;
use serde_json::{json, Value};

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

const PASSWORD: &str = "bench-vellum-quill-inkwell-42";

struct Server {
    child: Child,
    _dir: tempfile_dir::Dir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn start(args: &Args) -> anyhow::Result<(Server, String)> {
    let dir = std::env::temp_dir().join(format!("scriptorium-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/auth.db?mode=rwc", dir.display()));
    let port = free_port()?;
    let child = Command::new(&args.server)
        .args([
            "serve",
            "--target",
            "all",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("SCRIPTORIUM_AUTH__DATABASE_URL", db)
        .env("SCRIPTORIUM_AUTH__THROTTLE__REGISTER_PER_IP", "100000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", args.server))?;
    let server = Server {
        child,
        _dir: tempfile_dir::Dir(dir),
    };
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        if Instant::now() > deadline {
            bail!("server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((server, base))
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
    let (_server, base) = start(&args).await?;
    let client = reqwest::Client::new();
    let hash_s = argon2_seconds();
    let limit = cores as f64 / hash_s;

    // One account per client so that no account-level effect is measured.
    for i in 0..8 {
        let r = client
            .post(format!("{base}/auth/register"))
            .json(&json!({ "username": format!("bench{i}"), "password": PASSWORD }))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("register failed: {}", r.text().await?);
        }
    }
    let login: Value = client
        .post(format!("{base}/auth/login"))
        .json(&json!({ "username": "bench0", "password": PASSWORD }))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"].as_str().context("token")?.to_owned();

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
