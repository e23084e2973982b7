//! The platform as `deploy/docker/compose.yaml` ships it, in containers:
//! the image's runtime stage around this test build of `scriptorium`,
//! PostgreSQL with its secret and volume, two auth replicas, the console,
//! ocr, llm, two library replicas and the nginx gateway, made and started
//! by `deploy/docker/stack.sh` (stand-ins from Debian's packages where no
//! registry can be reached). Every request goes through the gateway's one
//! published port. Then faults, each under a bounded load of logins and
//! `GET /auth/me`, and a table of what each one cost.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use common::browser::browser;
use common::process::free_port;

/// The compose project: its own containers, networks and volumes.
const PROJECT: &str = "scriptorium-test";
const PASSWORD: &str = "vellum-quill-inkwell-42";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `deploy/docker/stack.sh ARGS` on the test's project.
fn stack_sh(args: &[&str], env: &[(&str, String)]) -> bool {
    Command::new(root().join("deploy/docker/stack.sh"))
        .args(args)
        .env("STACK_PROJECT", PROJECT)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .status()
        .expect("bash runs deploy/docker/stack.sh")
        .success()
}

/// `docker ARGS`, which must succeed; its standard output.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `docker ARGS` off the runtime's threads, so the load keeps running.
async fn docker_async(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        docker(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap()
}

/// The running stack, torn down (containers, networks, volumes, images)
/// when dropped, however the test ends.
struct Stack {
    gateway: String,
}

impl Stack {
    fn up() -> Self {
        let port = free_port();
        let stack = Stack {
            gateway: format!("http://127.0.0.1:{port}"),
        };
        let binary = env!("CARGO_BIN_EXE_scriptorium").to_owned();
        if !stack_sh(
            &["up", &binary],
            &[("GATEWAY_PUBLISHED_PORT", port.to_string())],
        ) {
            stack_sh(&["compose", "ps", "-a"], &[]);
            stack_sh(&["compose", "logs", "--tail", "30"], &[]);
            panic!("the stack did not come up with every healthcheck healthy");
        }
        stack
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    /// The container of replica `n` of `service`.
    fn container(service: &str, n: u32) -> String {
        format!("{PROJECT}-{service}-{n}")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            stack_sh(&["compose", "logs", "--tail", "30"], &[]);
        }
        stack_sh(&["down"], &[]);
    }
}

/// When each replica of `service` last started.
fn started_at(service: &str, replicas: u32) -> Vec<String> {
    (1..=replicas)
        .map(|n| {
            docker(&[
                "inspect",
                "-f",
                "{{.State.StartedAt}} {{.RestartCount}}",
                &Stack::container(service, n),
            ])
        })
        .collect()
}

/// Wait until the container's healthcheck says healthy.
async fn healthy(container: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let state = docker_async(&["inspect", "-f", "{{.State.Health.Status}}", container]).await;
        if state == "healthy" {
            return;
        }
        assert!(Instant::now() < deadline, "{container} is {state}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether `/readyz` of the container answers 200 (asked from inside it).
async fn ready(container: &str) -> bool {
    let container = container.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new("docker")
            .args([
                "exec",
                &container,
                "scriptorium",
                "probe",
                "--path",
                "/readyz",
            ])
            .output()
            .expect("the docker CLI runs")
            .status
            .success()
    })
    .await
    .unwrap()
}

/// One request of the load, when it started and whether it got a 2xx.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    ok: bool,
}

/// A client loop through the gateway: `GET /auth/me`, and a login every
/// tenth request; one request at a time, 5 a second, at most 3000.
struct Load {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(stack: &Stack, username: &str, token: &str) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let client = Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let (me, login) = (stack.url("/auth/me"), stack.url("/auth/login"));
        let creds = json!({ "username": username, "password": PASSWORD });
        let token = token.to_owned();
        let (record, stopped) = (samples.clone(), stop.clone());
        let task = tokio::spawn(async move {
            for i in 0..3000 {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let at = Instant::now();
                let sent = if i % 10 == 0 {
                    client.post(&login).json(&creds).send().await
                } else {
                    client.get(&me).bearer_auth(&token).send().await
                };
                let ok = sent.is_ok_and(|r| r.status().is_success());
                record.lock().unwrap().push(Sample { at, ok });
                tokio::time::sleep_until((at + Duration::from_millis(200)).into()).await;
            }
        });
        Load {
            samples,
            stop,
            task,
        }
    }

    /// The requests that started in `[from, to)`.
    fn between(&self, from: Instant, to: Instant) -> Vec<Sample> {
        let samples = self.samples.lock().unwrap();
        samples
            .iter()
            .filter(|s| s.at >= from && s.at < to)
            .copied()
            .collect()
    }

    /// Whether the requests of the last two seconds all succeeded.
    fn serving(&self) -> bool {
        let now = Instant::now();
        let recent = self.between(now - Duration::from_secs(2), now);
        !recent.is_empty() && recent.iter().all(|s| s.ok)
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
    }
}

/// A line of the table.
struct Row {
    fault: &'static str,
    sent: usize,
    failed: usize,
    lost_writes: usize,
    recovery: Duration,
    /// What else the fault showed.
    note: String,
}

impl Row {
    fn new(fault: &'static str, load: &[Sample], lost_writes: usize, recovery: Duration) -> Self {
        Row {
            fault,
            sent: load.len(),
            failed: load.iter().filter(|s| !s.ok).count(),
            lost_writes,
            recovery,
            note: String::new(),
        }
    }
}

/// Seconds from `from` until the first success after the last failure
/// (zero when nothing failed).
fn recovery(from: Instant, samples: &[Sample]) -> Duration {
    let Some(last_failure) = samples.iter().filter(|s| !s.ok).map(|s| s.at).max() else {
        return Duration::ZERO;
    };
    let back = samples
        .iter()
        .filter(|s| s.ok && s.at > last_failure)
        .map(|s| s.at)
        .min()
        .expect("a success after the last failure");
    back - from
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_stack_serves_through_its_gateway_and_survives_faults() {
    let stack = Stack::up();
    let client = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let token = end_to_end(&stack, &client).await;

    let load = Load::start(&stack, "hypatia", &token);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rows = vec![
        stop_an_auth_replica(&load).await,
        postgres_goes_away_during_registrations(&stack, &load, Outage::Restart, "quick", 8).await,
        postgres_goes_away_during_registrations(
            &stack,
            &load,
            Outage::Down(Duration::from_secs(8)),
            "slow",
            10,
        )
        .await,
        cut_auth_from_the_database(&load).await,
        kill_the_library_mid_document(&stack, &client, &token, &load).await,
    ];
    load.stop().await;

    // Written past the test harness's capture, so CI's log shows it.
    let mut out = std::io::stderr().lock();
    writeln!(
        out,
        "\n| fault | requests sent | failed | lost writes | recovery (s) | |\n|---|---|---|---|---|---|"
    )
    .unwrap();
    for r in &rows {
        writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {} |",
            r.fault,
            r.sent,
            r.failed,
            r.lost_writes,
            r.recovery.as_secs_f64(),
            r.note
        )
        .unwrap();
    }
}

/// Register, sign in, refresh, an API key, OCR of a scanned PDF, a streamed
/// chat, a library document and the console's sign-in in Chromium, all
/// through the gateway. The user's access token.
async fn end_to_end(stack: &Stack, client: &Client) -> String {
    let post = |path: &str, token: Option<&str>, body: Value| {
        let request = client.post(stack.url(path)).json(&body);
        let request = match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };
    let get = |path: &str, token: &str| {
        let request = client.get(stack.url(path)).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let creds = json!({ "username": "hypatia", "password": PASSWORD });
    let r = post("/auth/register", None, creds.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post("/auth/login", None, creds).await;
    assert_eq!(r.status(), StatusCode::OK);
    let login: Value = r.json().await.unwrap();

    // Refresh rotates; the spent refresh token, replayed after the grace
    // period, is refused.
    let refresh = json!({ "refresh_token": login["refresh_token"] });
    let r = post("/auth/refresh", None, refresh.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let rotated: Value = r.json().await.unwrap();
    assert_ne!(rotated["refresh_token"], login["refresh_token"]);
    let token = rotated["access_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let r = post("/auth/refresh", None, refresh).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // An API key works as a bearer token for auth and for the llm service.
    let r = post(
        "/auth/api-keys",
        Some(&token),
        json!({ "name": "notebook" }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let key: Value = r.json().await.unwrap();
    let secret = key["secret"].as_str().unwrap();
    let me: Value = get("/auth/me", secret).await.json().await.unwrap();
    assert_eq!(me["username"], "hypatia", "{me}");
    assert_eq!(get("/v1/models", secret).await.status(), StatusCode::OK);

    // OCR of a scanned PDF by the ocr container.
    let pdf = fixtures::pdf(&[fixtures::scanned_page(&["Containers read scanned pages"])]);
    let form = Form::new().part("file", Part::bytes(pdf).file_name("scan.pdf"));
    let r = client
        .post(stack.url("/v1/ocr?format=text&languages=eng"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("scanned pages"), "{text:?}");

    // A streamed chat answer, event by event, to its end.
    let question = json!({ "messages": [{ "role": "user", "content": "Name three colours." }],
                           "max_tokens": 24, "temperature": 0, "stream": true });
    let r = post("/v1/chat/completions", Some(&token), question).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut body = r.bytes_stream();
    let mut events = String::new();
    while let Some(chunk) = body.next().await {
        events.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(events.trim_end().ends_with("data: [DONE]"), "{events}");
    assert!(events.matches("\"content\"").count() > 3, "{events}");

    // A library document, read by a documents replica.
    let page = fixtures::scanned_page(&["The vault opens at dawn"]);
    let id = upload(stack, client, &token, &[page]).await;
    let doc = until_done(stack, client, &token, &id, Duration::from_secs(120)).await;
    assert_eq!(doc["pages_done"], 1, "{doc}");
    let text = get(&format!("/v1/documents/{id}/text"), &token).await;
    let text = text.text().await.unwrap();
    assert!(text.contains("vault opens"), "{text:?}");

    // The console's sign-in page in Chromium, signing in through the
    // gateway.
    let b = browser().await;
    b.client.goto(&stack.url("/login")).await.unwrap();
    b.fill("#username", "hypatia").await;
    b.fill("#password", PASSWORD).await;
    b.press("form.card button[type=submit]").await;
    b.at("/home").await;
    assert_eq!(b.text("#greeting").await, "Hello, hypatia!");
    b.shot("containers-home").await;
    token
}

async fn upload(
    stack: &Stack,
    client: &Client,
    token: &str,
    pages: &[fixtures::PdfPageSpec],
) -> String {
    let r = client
        .post(stack.url("/v1/documents?name=scan.pdf&languages=eng"))
        .bearer_auth(token)
        .header("content-type", "application/pdf")
        .body(fixtures::pdf(pages))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let doc: Value = r.json().await.unwrap();
    doc["id"].as_str().unwrap().to_owned()
}

/// Poll the document until it is done (answers that are not 200, while a
/// replica is down, are polled through).
async fn until_done(
    stack: &Stack,
    client: &Client,
    token: &str,
    id: &str,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let r = client
            .get(stack.url(&format!("/v1/documents/{id}")))
            .bearer_auth(token)
            .send()
            .await;
        if let Ok(r) = r {
            if r.status() == StatusCode::OK {
                let doc: Value = r.json().await.unwrap();
                assert_ne!(doc["status"], "failed", "{doc}");
                if doc["status"] == "done" {
                    return doc;
                }
            }
        }
        assert!(Instant::now() < deadline, "document {id} is not done");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `docker stop` sends SIGTERM: the replica finishes what it holds and
/// goes; the gateway passes it over.
async fn stop_an_auth_replica(load: &Load) -> Row {
    let auth1 = Stack::container("auth", 1);
    let from = Instant::now();
    docker_async(&["stop", "-t", "10", &auth1]).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let samples = load.between(from, Instant::now());
    let failed = samples.iter().filter(|s| !s.ok).count();
    // One request at a time: at most one was in flight on it.
    assert!(failed <= 1, "{failed} of {} requests failed", samples.len());
    assert!(samples.len() >= 20, "the load kept going");
    let row = Row::new(
        "stop one auth replica",
        &samples,
        0,
        recovery(from, &samples),
    );
    docker_async(&["start", &auth1]).await;
    healthy(&auth1, Duration::from_secs(60)).await;
    row
}

/// How PostgreSQL goes away.
#[derive(Clone, Copy)]
enum Outage {
    /// `docker restart`: a fast shutdown and a start, a second or two.
    Restart,
    /// `docker stop`, this long, `docker start`: longer than a request
    /// waits for a connection.
    Down(Duration),
}

/// PostgreSQL goes away while registrations arrive (each on its own,
/// `prefix-0` ..., the last once auth is ready again): each one that got 201 is in the database
/// afterwards; the others got 503 with `Retry-After`; auth reconnects by
/// itself. auth takes 20 registrations an hour from one address, and every
/// request of this test comes from one: `count` stays within that.
async fn postgres_goes_away_during_registrations(
    stack: &Stack,
    load: &Load,
    outage: Outage,
    prefix: &'static str,
    count: usize,
) -> Row {
    let before = [started_at("auth", 2), started_at("documents", 2)];
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let register = |i: usize, at: Instant| {
        let (client, url) = (client.clone(), stack.url("/auth/register"));
        async move {
            tokio::time::sleep_until(at.into()).await;
            let name = format!("{prefix}-{i}");
            let r = client
                .post(&url)
                .json(&json!({ "username": name, "password": PASSWORD }))
                .send()
                .await
                .expect("the gateway answers");
            let retry_after = r.headers().contains_key("retry-after");
            (at, name, r.status(), retry_after)
        }
    };
    // All but the last arrive at a steady pace, through the fault; the last
    // is sent once PostgreSQL is back, however long that took.
    let spacing = match outage {
        Outage::Restart => 500,
        Outage::Down(_) => 1500,
    };
    let started = Instant::now();
    let storm: Vec<_> = (0..count - 1)
        .map(|i| {
            tokio::spawn(register(
                i,
                started + Duration::from_millis(spacing * i as u64),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let from = Instant::now();
    let postgres = Stack::container("postgres", 1);
    match outage {
        Outage::Restart => {
            docker_async(&["restart", "-t", "10", &postgres]).await;
        }
        Outage::Down(down) => {
            docker_async(&["stop", "-t", "10", &postgres]).await;
            tokio::time::sleep(down).await;
            docker_async(&["start", &postgres]).await;
        }
    }
    let up = Instant::now();
    let mut outcomes = Vec::new();
    for r in storm {
        outcomes.push(r.await.unwrap());
    }
    // Both auth replicas see their database again: the last registration.
    let deadline = up + Duration::from_secs(60);
    for replica in [Stack::container("auth", 1), Stack::container("auth", 2)] {
        while !ready(&replica).await {
            assert!(Instant::now() < deadline, "{replica} is not ready again");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    outcomes.push(register(count - 1, Instant::now()).await);
    // The load comes back too.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !load.serving() {
        assert!(Instant::now() < deadline, "the load never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let samples = load.between(from, Instant::now());

    for (_, name, status, retry_after) in &outcomes {
        assert!(
            *status == StatusCode::CREATED
                || (*status == StatusCode::SERVICE_UNAVAILABLE && *retry_after),
            "{name}: {status} (Retry-After: {retry_after})"
        );
    }
    let created: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.2 == StatusCode::CREATED)
        .map(|o| o.1.as_str())
        .collect();
    assert!(
        outcomes
            .iter()
            .any(|o| o.2 == StatusCode::CREATED && o.0 >= up),
        "registrations succeed again afterwards: {:?}",
        outcomes.iter().map(|o| o.2).collect::<Vec<_>>()
    );
    let stored = docker_async(&[
        "exec",
        &postgres,
        "psql",
        "-U",
        "scriptorium",
        "-d",
        "scriptorium",
        "-tAc",
        &format!("select username from users where username like '{prefix}-%'"),
    ])
    .await;
    let stored: Vec<&str> = stored.lines().collect();
    let lost = created.iter().filter(|n| !stored.contains(n)).count();
    assert_eq!(lost, 0, "created {created:?}, stored {stored:?}");
    assert_eq!(
        [started_at("auth", 2), started_at("documents", 2)],
        before,
        "neither auth nor the library was restarted"
    );

    // The registrations count as requests of this fault.
    let mut events = samples;
    events.extend(outcomes.iter().map(|o| Sample {
        at: o.0,
        ok: o.2 == StatusCode::CREATED,
    }));
    let refused = outcomes.len() - created.len();
    let fault = match outage {
        Outage::Restart => "restart PostgreSQL during registrations",
        Outage::Down(_) => "PostgreSQL down 8 s during registrations",
    };
    let mut row = Row::new(fault, &events, lost, recovery(from, &events));
    row.note = format!(
        "{} registrations: {} 201, {refused} 503",
        outcomes.len(),
        created.len()
    );
    row
}

/// `docker network disconnect` of an auth replica from the database's
/// network: its `/readyz` goes 503, and comes back once reconnected.
async fn cut_auth_from_the_database(load: &Load) -> Row {
    let auth2 = Stack::container("auth", 2);
    let network = format!("{PROJECT}_data");
    assert!(ready(&auth2).await);
    let from = Instant::now();
    docker_async(&["network", "disconnect", &network, &auth2]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready(&auth2).await {
        assert!(
            Instant::now() < deadline,
            "{auth2} stays ready without its database"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    docker_async(&["network", "connect", &network, &auth2]).await;
    let connected = Instant::now();
    let deadline = connected + Duration::from_secs(60);
    while !ready(&auth2).await {
        assert!(Instant::now() < deadline, "{auth2} is not ready again");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let back = connected.elapsed();
    Row::new(
        "disconnect one auth replica from the database network",
        &load.between(from, Instant::now()),
        0,
        back,
    )
}

/// SIGKILL of both library replicas while one reads a document: the
/// document completes once they are back, every page of it.
async fn kill_the_library_mid_document(
    stack: &Stack,
    client: &Client,
    token: &str,
    load: &Load,
) -> Row {
    let lines: Vec<String> = (1..=6)
        .map(|n| format!("Ledger page {n} is kept"))
        .collect();
    let pages: Vec<_> = lines
        .iter()
        .map(|l| fixtures::scanned_page(&[l.as_str()]))
        .collect();
    let id = upload(stack, client, token, &pages).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let doc: Value = client
            .get(stack.url(&format!("/v1/documents/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if doc["status"] == "processing" {
            assert!(doc["pages_done"].as_u64().unwrap() < 6, "{doc}");
            break;
        }
        assert!(Instant::now() < deadline, "{doc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let from = Instant::now();
    let replicas = [
        Stack::container("documents", 1),
        Stack::container("documents", 2),
    ];
    for r in &replicas {
        docker_async(&["kill", "-s", "KILL", r]).await;
    }
    for r in &replicas {
        docker_async(&["start", r]).await;
    }
    let doc = until_done(stack, client, token, &id, Duration::from_secs(180)).await;
    let done = from.elapsed();
    let text = client
        .get(stack.url(&format!("/v1/documents/{id}/text")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let missing = lines.iter().filter(|l| !text.contains(l.as_str())).count();
    assert_eq!(doc["pages_done"], 6, "{doc}");
    assert_eq!(missing, 0, "{text:?}");
    Row::new(
        "kill both library replicas mid-document",
        &load.between(from, Instant::now()),
        missing,
        done,
    )
}
