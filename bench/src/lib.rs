//! What every benchmark shares: starting the release server on a fresh
//! database and waiting until it is ready.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// The password of every benchmark account.
pub const PASSWORD: &str = "bench-vellum-quill-inkwell-42";

/// The `p` quantile (0 to 1) of `v`, nearest rank; NaN when empty.
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// What a runner did over a set of pages; runs of the same runner in
/// several turns are pooled with [`Run::absorb`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Run {
    pub pages: usize,
    /// Seconds, wall clock.
    pub wall: f64,
    /// CPU seconds (user + system).
    pub cpu: f64,
    /// Sum of the pages' character error rates.
    pub cer: f64,
}

impl Run {
    pub fn absorb(&mut self, other: Run) {
        self.pages += other.pages;
        self.wall += other.wall;
        self.cpu += other.cpu;
        self.cer += other.cer;
    }

    pub fn pages_per_sec(&self) -> f64 {
        self.pages as f64 / self.wall
    }

    pub fn cpu_per_page(&self) -> f64 {
        self.cpu / self.pages as f64
    }

    pub fn cer_per_page(&self) -> f64 {
        self.cer / self.pages as f64
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// User + system CPU seconds of a process so far.
pub fn cpu_of(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("stat format")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / clock_ticks())
}

/// CPU seconds used by finished children of this process.
pub fn children_cpu() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The server process, killed when dropped, with its scratch folder.
pub struct Server {
    child: Child,
    dir: PathBuf,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Start `binary serve --target all` on a free port with SQLite in a fresh
/// folder (or `database_url`), plus `env`; wait for `/readyz`.
pub async fn start(
    binary: &str,
    database_url: Option<&str>,
    env: &[(&str, &str)],
) -> anyhow::Result<Server> {
    start_targets(binary, "all", database_url, env).await
}

/// Like [`start`], for the services in `targets` only.
pub async fn start_targets(
    binary: &str,
    targets: &str,
    database_url: Option<&str>,
    env: &[(&str, &str)],
) -> anyhow::Result<Server> {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("scriptorium-bench-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = database_url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}/auth.db?mode=rwc", dir.display()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(binary)
        .args([
            "serve",
            "--target",
            targets,
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("SCRIPTORIUM_AUTH__DATABASE_URL", db)
        .env("SCRIPTORIUM_AUTH__THROTTLE__REGISTER_PER_IP", "100000")
        .env(
            "RUST_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {binary}"))?;
    let server = Server {
        child,
        dir,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = client.get(format!("{}/readyz", server.base)).send().await {
            if r.status().is_success() {
                return Ok(server);
            }
        }
        if Instant::now() > deadline {
            bail!("server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Poll document `id` until it is `done`; an error when it failed or
/// took longer than `limit`.
pub async fn wait_done(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let doc: Value = client
            .get(format!("{base}/v1/documents/{id}"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        match doc["status"].as_str() {
            Some("done") => return Ok(()),
            Some("failed") => bail!("document {id} failed: {doc}"),
            _ if Instant::now() > deadline => bail!("document {id} not done: {doc}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Register `username` with `password` and return an access token.
pub async fn account(base: &str, username: &str, password: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::new();
    let creds = json!({ "username": username, "password": password });
    let r = client
        .post(format!("{base}/auth/register"))
        .json(&creds)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("register failed: {}", r.text().await?);
    }
    let login: Value = client
        .post(format!("{base}/auth/login"))
        .json(&creds)
        .send()
        .await?
        .json()
        .await?;
    Ok(login["access_token"]
        .as_str()
        .context("no access token")?
        .to_owned())
}
