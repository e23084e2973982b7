//! Migrations under concurrency, key persistence and rotation.

mod common;

use testkit::both_backends;

use common::{Db, TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row;

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_migrate_one_postgres_database_at_once() {
    let url = common::postgres::fresh_database().await;
    let spawn = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_scriptorium"))
            .args(["migrate", "--target", "auth"])
            .env("SCRIPTORIUM_AUTH__DATABASE_URL", &url)
            .env("SCRIPTORIUM_SERVER__LOG_FORMAT", "pretty")
            .output()
    };
    let (a, b) = tokio::join!(spawn(), spawn());
    for out in [a.unwrap(), b.unwrap()] {
        assert!(
            out.status.success(),
            "migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = auth::store::Store::connect(&url, 1).await.unwrap();
    let rows = sqlx::query("SELECT version FROM _sqlx_migrations")
        .fetch_all(store.pool())
        .await
        .unwrap();
    // Every migration of the PostgreSQL set, each applied once.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../auth/migrations/postgres");
    let files = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    let versions: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert!(files > 0, "no migration files in {dir}");
    assert_eq!(rows.len(), files, "each migration applied once");
    assert_eq!(versions.len(), rows.len(), "each migration applied once");
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM users")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    assert!(store.migrations_applied().await.unwrap());
}

async fn keys_survive_a_restart(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up("olga").await;
    let token = t["access_token"].as_str().unwrap().to_owned();
    let before = published_kids(&app).await;
    app.stop().await;

    let app = TestApp::spawn(&db).await;
    assert_eq!(
        published_kids(&app).await,
        before,
        "same keys after restart"
    );
    assert_eq!(
        app.get_auth("/auth/me", &token).await.status(),
        StatusCode::OK
    );
    let t2: Value = app
        .login("olga", common::PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kid_of(t2["access_token"].as_str().unwrap()), kid_of(&token));
    app.stop().await;
}

async fn rotation_keeps_old_tokens_valid(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    let t1 = app.signed_up("pete").await;
    let old = t1["access_token"].as_str().unwrap().to_owned();

    // A key that activates later is published at once but does not sign yet.
    let later = app.auth().rotate_keys(Some(3600)).await.unwrap();
    assert!(published_kids(&app).await.contains(&later));
    let t: Value = app
        .login("pete", common::PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kid_of(t["access_token"].as_str().unwrap()), kid_of(&old));

    // `scriptorium keys rotate` from another process: the new key signs new
    // tokens at once; old tokens still verify.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scriptorium"))
        .args(["keys", "rotate", "--activate-in", "0"])
        .env("SCRIPTORIUM_AUTH__DATABASE_URL", &db.url)
        .env("SCRIPTORIUM_SERVER__LOG_FORMAT", "pretty")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let now = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let t2: Value = app
        .login("pete", common::PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let new = t2["access_token"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&new), now);
    let kids = published_kids(&app).await;
    assert!(kids.contains(&kid_of(&old)) && kids.contains(&now));
    assert_eq!(
        app.get_auth("/auth/me", &old).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_auth("/auth/me", &new).await.status(),
        StatusCode::OK
    );
    let events = app.auth().store().audit_events(100).await.unwrap();
    assert!(events.iter().filter(|e| e.event == "key_rotation").count() == 2);
    app.stop().await;
}

/// Auth in the whole application: health, readiness, the request metrics
/// of every route, both JWKS paths and the OpenAPI document.
async fn health_metrics_jwks_and_openapi(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up("mia").await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let ready = app.wait_ready().await;
    assert_eq!(ready["checks"]["auth"], "ok");
    let metrics = app.text("/metrics").await;
    assert!(metrics.contains("auth_logins_total"), "{metrics}");
    assert!(metrics.contains("http_requests_total"));
    assert!(metrics.contains("route=\"/auth/login\""));
    assert!(metrics.contains("auth_hash_queue_depth"));

    let header = jsonwebtoken::decode_header(t["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    for path in ["/.well-known/jwks.json", "/auth/.well-known/jwks.json"] {
        let jwks: Value = app
            .client
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert!(keys
            .iter()
            .any(|k| k["kid"] == header.kid.clone().unwrap().as_str()));
        assert!(keys
            .iter()
            .all(|k| k["kty"] == "OKP" && k["crv"] == "Ed25519" && k.get("d").is_none()));
    }
    let doc: Value = app.get_json("/openapi.json").await;
    assert!(doc["paths"]["/auth/login"]["post"].is_object());
    assert!(doc["paths"]["/auth/api-keys/{id}"]["delete"].is_object());
    app.stop().await;
}

both_backends!(
    keys_survive_a_restart,
    rotation_keeps_old_tokens_valid,
    health_metrics_jwks_and_openapi
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_the_same_openapi_document_as_the_server() {
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let served: Value = app.get_json("/openapi.json").await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scriptorium"))
        .args(["openapi", "--target", "auth,ocr,web"])
        .env("SCRIPTORIUM_AUTH__DATABASE_URL", &db.url)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, served);
    for path in ["/auth/login", "/v1/ocr", "/v1/ocr/jobs/{id}"] {
        assert!(printed["paths"][path].is_object(), "{path}");
    }
    // Every target's routes, the LLM's included, by default.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_scriptorium"))
        .arg("openapi")
        .output()
        .await
        .unwrap();
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    for path in [
        "/auth/login",
        "/v1/ocr",
        "/v1/chat/completions",
        "/v1/models",
    ] {
        assert!(all["paths"][path].is_object(), "{path}");
    }
    app.stop().await;
}
