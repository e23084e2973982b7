//! Test harness: spawn the real application on port 0 against a real
//! database. PostgreSQL comes from `DATABASE_URL` when set, otherwise from a
//! throwaway cluster made with `initdb`; every test gets its own database.

#![allow(dead_code)]

pub mod browser;
pub mod library;
pub mod process;
pub mod s3;

#[allow(unused_imports)]
pub use testkit::{postgres, Api, Db, PASSWORD};

use std::time::Duration;

use reqwest::StatusCode;
use scriptorium::configuration::Config;
use scriptorium::startup::Application;
use scriptorium::targets::Targets;
use serde_json::Value;
use tokio::sync::oneshot;

/// A database for one test, and the library's own database and blob
/// folder beside it; the folder lives as long as this value.
pub struct TestDb {
    pub url: String,
    pub documents_url: String,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(db: Db) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // Each service has a database of its own.
        let url = testkit::database(db, dir.path(), "auth").await;
        let documents_url = testkit::database(db, dir.path(), "documents").await;
        Self {
            url,
            documents_url,
            dir,
        }
    }

    /// The blob folder of the library.
    pub fn blobs(&self) -> std::path::PathBuf {
        self.dir.path().join("blobs")
    }

    /// A test configuration on these databases and this blob folder.
    pub fn config(&self) -> Config {
        let mut c = test_config(&self.url);
        c.documents.database_url = self.documents_url.clone();
        c.documents.max_connections = 5;
        c.documents.blobs.path = self.blobs().display().to_string();
        c
    }
}

pub fn test_config(db_url: &str) -> Config {
    let mut c = Config::default();
    c.server.bind = "127.0.0.1:0".parse().unwrap();
    c.server.log_format = kit::config::LogFormat::Pretty;
    c.auth.database_url = db_url.to_owned();
    c.auth.max_connections = 5;
    c.auth.key_cache_secs = 0;
    // Tests register many users from one address.
    c.auth.throttle.register_per_ip = 10_000;
    c.auth.throttle.ip_max_failures = 10_000;
    // A test binary runs as many tests at once as there are cores, each
    // with its own engine. llama.cpp's threads spin at every barrier of a
    // step, so two engines of two threads on two cores stall each other
    // (in CI, one 100-token request ran past a minute); one thread each
    // has no barriers and shares the cores.
    c.llm.threads = Some(1);
    // Console sessions are sealed with a key of the test's own, never a
    // file under data/.
    c.web.session_key = Some(format!("{:032x}", rand::random::<u128>()));
    c
}

pub struct TestApp {
    api: Api,
    auth: Option<auth::Auth>,
    pub ocr: Option<ocr::Ocr>,
    pub library: Option<documents::Library>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = db.config();
        tweak(&mut config);
        Self::start(config).await
    }

    /// Every service but the LLM, which only its own tests load.
    pub async fn start(config: Config) -> Self {
        let targets: Targets = "auth,ocr,web".parse().unwrap();
        Self::start_targets(config, &targets).await
    }

    /// A console on its own (`--target web`), calling the APIs of `apis`
    /// over HTTP, with the session key `key`.
    pub async fn console_for(apis: &TestApp, db: &TestDb, key: &str) -> Self {
        let mut config = db.config();
        config.web.api_url = Some(apis.addr.clone());
        config.tokens.auth_url = Some(apis.addr.clone());
        config.web.session_key = Some(key.to_owned());
        // A gateway in front of the console sets X-Forwarded-For.
        config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        Self::start_targets(config, &"web".parse().unwrap()).await
    }

    pub async fn start_targets(config: Config, targets: &Targets) -> Self {
        kit::telemetry::init_with(config.server.log_format, "warn");
        let app = Application::build(config, targets)
            .await
            .expect("application builds");
        let port = app.port();
        let auth = app.auth.clone();
        let ocr = app.ocr.clone();
        let library = app.library.clone();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            api: Api::new(format!("http://127.0.0.1:{port}")),
            auth,
            ocr,
            library,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// The auth service of this process.
    pub fn auth(&self) -> &auth::Auth {
        self.auth.as_ref().expect("auth is mounted")
    }

    /// Stop serving and wait until the server has closed.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Poll `/readyz` until it answers 200 (OCR engines warm up after the
    /// listener opens); returns its body.
    pub async fn wait_ready(&self) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.client.get(self.url("/readyz")).send().await.unwrap();
            if r.status() == StatusCode::OK {
                return r.json().await.unwrap();
            }
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(std::time::Instant::now() < deadline, "never ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A born-digital PDF of `lines` stored in `token`'s library as `name`,
    /// once it is read: its id.
    pub async fn stored_text(&self, token: &str, name: &str, lines: &[&str]) -> String {
        let lines = lines.iter().map(|l| l.to_string()).collect();
        let pdf = fixtures::pdf(&[fixtures::PdfPageSpec::Text(lines)]);
        let r = self
            .client
            .post(self.url(&format!("/v1/documents?name={name}")))
            .bearer_auth(token)
            .header("content-type", "application/pdf")
            .body(pdf)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let doc: Value = self
                .get_auth(&format!("/v1/documents/{id}"), token)
                .await
                .json()
                .await
                .unwrap();
            if doc["status"] == "done" {
                return id;
            }
            assert!(std::time::Instant::now() < deadline, "{doc}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl std::ops::Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}
