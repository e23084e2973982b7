//! The scriptorium binary as separate processes, as in production.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed and reaped when dropped.
pub struct Proc(pub Child);

impl Proc {
    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `scriptorium serve --target TARGET` on `port` with `env`.
pub fn service(target: &str, port: u16, env: &[(&str, String)]) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_scriptorium"))
        .args([
            "serve",
            "--target",
            target,
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("SCRIPTORIUM_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1/32\"]")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .spawn()
        .expect("the scriptorium binary starts");
    Proc(child)
}

/// Poll `url` until it answers 2xx.
pub async fn wait_for(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} never answered 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of a counter or gauge (summed over its labels) in a
/// Prometheus text page.
pub fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let key_name = key.split('{').next()?;
            (key_name == name).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}
