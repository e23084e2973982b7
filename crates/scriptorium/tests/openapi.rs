//! Every process documents exactly what it serves. Each service builds its
//! router and its OpenAPI operations from one list (utoipa-axum); here each
//! target set's `/openapi.json` is held against its router: every
//! documented operation is routed (never 404 or 405 without credentials;
//! redirects are not followed),
//! the union of the split processes is the `all` process's document but for
//! introspection, which `all` neither serves nor documents.

mod common;

use std::collections::BTreeSet;

use common::{Db, TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// `METHOD /path` of every operation of a document.
fn operations(doc: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            out.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    out
}

/// A path of the document with each `{parameter}` filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// The document of a process running `targets`, each operation checked to
/// be routed.
async fn served(db: &TestDb, targets: &str) -> BTreeSet<String> {
    let mut config = db.config();
    config.llm.model = "/nonexistent/model.gguf".into();
    if targets != "all" && !targets.contains("auth") {
        // Nothing listens there: a credential would not verify, and none
        // is sent.
        config.tokens.auth_url = Some("http://127.0.0.1:9".into());
    }
    let app = TestApp::start_targets(config, &targets.parse().unwrap()).await;
    let doc: Value = app.get_json("/openapi.json").await;
    let ops = operations(&doc);
    assert!(!ops.is_empty(), "{targets}: an empty document");
    // The operation itself is held to be routed: a retired path answers
    // its redirect, which may lead to a service this process does not run.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for op in &ops {
        let (method, path) = op.split_once(' ').unwrap();
        let r = client
            .request(method.parse().unwrap(), app.url(&concrete(path)))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(
            ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&r.status()),
            "{targets}: {op} is documented but answers {}",
            r.status()
        );
    }
    app.stop().await;
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_documents_what_it_serves() {
    let db = TestDb::new(Db::Sqlite).await;
    let auth = served(&db, "auth").await;
    let ocr = served(&db, "ocr").await;
    let library = served(&db, "ocr,documents").await;
    let llm = served(&db, "llm").await;
    let all = served(&db, "all").await;

    // Auth apart serves introspection for the others, and documents it.
    assert!(auth.contains("POST /auth/introspect"), "{auth:?}");
    assert!(!all.contains("POST /auth/introspect"), "{all:?}");
    assert!(llm.iter().all(|op| op.contains(" /v1/")), "{llm:?}");
    assert!(ocr.is_subset(&library));

    let mut union: BTreeSet<String> = auth.iter().chain(&library).chain(&llm).cloned().collect();
    union.remove("POST /auth/introspect");
    assert_eq!(union, all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_all_process_serves_no_introspection() {
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::start_targets(db.config(), &"all".parse().unwrap()).await;
    let r = app.post("/auth/introspect", json!({ "token": "x" })).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
