//! Microservices mode on one machine: auth, the console, ocr, llm and the
//! library (documents with its own OCR engines) as five
//! `scriptorium serve --target X` processes behind a real nginx running
//! `deploy/nginx/gateway.conf.template`; every request of the test goes
//! through the gateway, and the console calls the APIs through it too.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use image::ImageFormat;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use common::process::{free_port, service, wait_for, Proc};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/smollm2-135m-instruct-q4_1.gguf"
);
const TEMPLATE: &str = include_str!("../../../deploy/nginx/gateway.conf.template");
const PASSWORD: &str = "vellum-quill-inkwell-42";

/// A child process killed when the test ends, however it ends.
/// The gateway's configuration: public on `port`, the internal listener on
/// `internal`.
fn nginx_conf(
    dir: &Path,
    (port, internal): (u16, u16),
    [auth, console, ocr, llm, documents]: [u16; 5],
) -> String {
    let gateway = TEMPLATE
        .replace(
            "listen ${INTERNAL_PORT};",
            &format!("listen 127.0.0.1:{internal};"),
        )
        .replace("${INTERNAL_PORT}", &internal.to_string())
        .replace("${AUTH_UPSTREAM}", &format!("127.0.0.1:{auth}"))
        .replace("${CONSOLE_UPSTREAM}", &format!("127.0.0.1:{console}"))
        .replace("${OCR_UPSTREAM}", &format!("127.0.0.1:{ocr}"))
        .replace("${LLM_UPSTREAM}", &format!("127.0.0.1:{llm}"))
        .replace("${DOCUMENTS_UPSTREAM}", &format!("127.0.0.1:{documents}"))
        .replace("${GATEWAY_PORT}", &format!("127.0.0.1:{port}"))
        .replace(
            "access_log /dev/stdout gateway_json;",
            &format!("access_log {}/access.log gateway_json;", dir.display()),
        );
    assert!(!gateway.contains("${"), "every placeholder is filled");
    std::fs::write(dir.join("gateway.conf"), gateway).unwrap();
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
         http {{\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         include {d}/gateway.conf;\n}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_ocr_and_a_streamed_chat_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let (auth_port, console_port, ocr_port, llm_port, documents_port, gw_port) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let internal_port = free_port();
    let auth_url = format!("http://127.0.0.1:{auth_port}");
    let gw = format!("http://127.0.0.1:{gw_port}");
    // The console and the library call the APIs through the gateway's
    // internal listener, which counts their users apart.
    let internal = format!("http://127.0.0.1:{internal_port}");
    let db = format!("sqlite://{}/auth.db?mode=rwc", dir.path().display());
    let _auth = service("auth", auth_port, &[("SCRIPTORIUM_AUTH__DATABASE_URL", db)]);
    // The console alone: no database, the APIs through the gateway.
    let _console = service(
        "web",
        console_port,
        &[
            ("SCRIPTORIUM_WEB__API_URL", internal.clone()),
            ("SCRIPTORIUM_TOKENS__AUTH_URL", auth_url.clone()),
            (
                "SCRIPTORIUM_WEB__SESSION_KEY",
                format!("{:032x}", rand::random::<u128>()),
            ),
        ],
    );
    let remote = [("SCRIPTORIUM_TOKENS__AUTH_URL", auth_url.clone())];
    let _ocr = service("ocr", ocr_port, &remote);
    let mut llm_env = remote.to_vec();
    llm_env.push(("SCRIPTORIUM_LLM__MODEL", MODEL.to_string()));
    llm_env.push(("SCRIPTORIUM_LLM__CONTEXT_PER_SLOT", "1024".to_string()));
    let _llm = service("llm", llm_port, &llm_env);
    // The library asks the model through the gateway, as any client would.
    let mut documents_env = remote.to_vec();
    documents_env.extend([
        (
            "SCRIPTORIUM_DOCUMENTS__DATABASE_URL",
            format!("sqlite://{}/documents.db?mode=rwc", dir.path().display()),
        ),
        (
            "SCRIPTORIUM_DOCUMENTS__BLOBS__PATH",
            dir.path().join("blobs").display().to_string(),
        ),
        ("SCRIPTORIUM_DOCUMENTS__ASK__LLM_URL", internal.clone()),
    ]);
    let _documents = service("ocr,documents", documents_port, &documents_env);

    let ports = [auth_port, console_port, ocr_port, llm_port, documents_port];
    let conf = nginx_conf(dir.path(), (gw_port, internal_port), ports);
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let nginx = Command::new("nginx")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .stdout(Stdio::null())
        .spawn()
        .map(Proc)
        .expect("nginx (Debian's, installed by scripts/deps.sh) starts");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    for port in ports {
        wait_for(&client, &format!("http://127.0.0.1:{port}/readyz")).await;
    }
    wait_for(&client, &format!("{gw}/.well-known/jwks.json")).await;

    // Register and sign in through the gateway, with our own request id.
    let creds = json!({ "username": "hypatia", "password": PASSWORD });
    let r = client
        .post(format!("{gw}/auth/register"))
        .header("x-request-id", "gateway-test-register")
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["x-request-id"], "gateway-test-register");
    let r = client
        .post(format!("{gw}/auth/login"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().contains_key("x-request-id"),
        "the gateway makes one"
    );
    let login: Value = r.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();

    // Internal routes are not reachable from outside.
    for path in [
        "/auth/introspect",
        "/auth/check/v1/models",
        "/healthz",
        "/metrics",
    ] {
        let r = client.post(format!("{gw}{path}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // The JSON body limit is the gateway's too.
    let big = "x".repeat(2 * 1024 * 1024);
    let r = client
        .post(format!("{gw}/auth/login"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // OCR: the ocr process verifies the token with auth's JWKS.
    let page = fixtures::render(&["Gateway test page"], 48.0);
    let mut png = Vec::new();
    page.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    let form = Form::new().part("file", Part::bytes(png).file_name("page.png"));
    let r = client
        .post(format!("{gw}/v1/ocr?format=text&languages=eng"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("Gateway"), "{text:?}");

    // A streamed chat arrives event by event, not in one buffered lump.
    let r = client
        .post(format!("{gw}/v1/chat/completions"))
        .bearer_auth(&token)
        .json(
            &json!({ "messages": [{ "role": "user", "content": "Count from one to fifty." }],
                       "max_tokens": 120, "temperature": 0, "stream": true }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut body = r.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    let first_events = String::from_utf8_lossy(&first).matches("data:").count();
    let mut rest = String::new();
    while let Some(chunk) = body.next().await {
        rest.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    let later_events = rest.matches("data:").count();
    assert!(rest.trim_end().ends_with("data: [DONE]"), "{rest}");
    assert!(
        first_events <= 3 && later_events > 5,
        "the first read held {first_events} events, the rest {later_events}"
    );

    // The library: an upload, its search and a question, the answer from
    // the llm process that the documents process reached through the
    // gateway with the user's token.
    let pdf = fixtures::pdf(&[fixtures::PdfPageSpec::Text(vec![
        "The archive opens at nine on weekdays.".into(),
    ])]);
    let r = client
        .post(format!("{gw}/v1/documents?name=hours.pdf"))
        .bearer_auth(&token)
        .header("content-type", "application/pdf")
        .body(pdf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let doc: Value = r.json().await.unwrap();
    let id = doc["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = client
            .get(format!("{gw}/v1/documents/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let doc: Value = r.json().await.unwrap();
        if doc["status"] == "done" {
            break;
        }
        assert!(Instant::now() < deadline, "{doc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = client
        .get(format!("{gw}/v1/search?q=archive"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let hits: Value = r.json().await.unwrap();
    assert_eq!(hits["hits"][0]["document_id"], id.as_str(), "{hits}");
    let r = client
        .post(format!("{gw}/v1/ask"))
        .bearer_auth(&token)
        .json(&json!({ "question": "When does the archive open?" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["found"], true, "{answer}");
    assert_eq!(
        answer["citations"][0]["document_id"],
        id.as_str(),
        "{answer}"
    );
    assert!(answer["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    // Without a token the llm process refuses, through the gateway too.
    let r = client
        .post(format!("{gw}/v1/chat/completions"))
        .json(&json!({ "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The console is served through the gateway as well, and signs in
    // through it.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser.get(format!("{gw}/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    let csrf = html[at..].split('"').next().unwrap().to_owned();
    let r = browser
        .post(format!("{gw}/login"))
        .form(&[
            ("username", "hypatia"),
            ("password", PASSWORD),
            ("csrf", &csrf),
            ("next", "/home"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/home");
    let r = browser.get(format!("{gw}/home")).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("Hello, hypatia!"));

    // Rate limits (sign-in: 10/s, a burst of 20). On the internal
    // listener each user the console names is limited alone; on the public
    // one, an X-Forwarded-For of the client's own making changes nothing.
    let flood = |base: String, visitor: Option<&'static str>| {
        let client = client.clone();
        async move {
            let mut refused = 0;
            for i in 0..40 {
                let mut req = client.get(format!("{base}/auth/me"));
                let xff = visitor.map_or_else(|| format!("192.0.2.{i}"), str::to_owned);
                req = req.header("x-forwarded-for", xff);
                let r = req.send().await.unwrap();
                refused += usize::from(r.status() == StatusCode::TOO_MANY_REQUESTS);
            }
            refused
        }
    };
    let one = flood(internal.clone(), Some("198.51.100.1")).await;
    assert!(one > 0, "a flood of one user behind the console is limited");
    let r = client
        .get(format!("{internal}/auth/me"))
        .header("x-forwarded-for", "198.51.100.2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "another user is not");
    let spoofed = flood(gw.clone(), None).await;
    assert!(spoofed > 0, "a client cannot name itself anew each time");

    // JSON access logs carry the request id.
    drop(nginx);
    let log = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("gateway-test-register"))
        .expect("the register request is logged");
    let entry: Value = serde_json::from_str(line).unwrap();
    assert_eq!(entry["uri"], "/auth/register");
    assert_eq!(entry["status"], 201);
}

/// A service process exports its request spans over OTLP/HTTP, in the
/// trace its caller started (W3C `traceparent`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_in_the_callers_trace() {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let sink = received.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().extend_from_slice(&body);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let db = format!("sqlite://{}/auth.db?mode=rwc", dir.path().display());
    let _auth = service(
        "auth",
        port,
        &[
            ("SCRIPTORIUM_AUTH__DATABASE_URL", db),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{collector_addr}"),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
            ("OTEL_SERVICE_NAME", "scriptorium-auth".into()),
            ("RUST_LOG", "info".into()),
        ],
    );
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/.well-known/jwks.json");
    wait_for(&client, &format!("http://127.0.0.1:{port}/readyz")).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = client
        .get(&url)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let id: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        {
            let body = received.lock().unwrap();
            if body.windows(16).any(|w| w == id.as_slice()) {
                let name = b"scriptorium-auth";
                assert!(
                    body.windows(name.len()).any(|w| w == name),
                    "the service's name"
                );
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no span of the caller's trace was exported"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
