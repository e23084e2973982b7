//! Schemathesis (from PyPI, pinned in `scripts/deploy-tools.sh`) against the
//! OpenAPI document of each service's own process, as they run split: auth,
//! OCR with the library, and the LLM on the small real model. It sends
//! generated requests, valid and not, a bounded number per operation; no
//! answer may be a 5xx, and every documented answer must match its schema.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use common::{Db, TestApp, TestDb, PASSWORD};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/smollm2-135m-instruct-q4_1.gguf"
);

/// Generated requests per operation; the LLM's generate text, so fewer.
const EXAMPLES: u32 = 100;
const LLM_EXAMPLES: u32 = 25;

/// `SCHEMATHESIS_BIN`, or the one `scripts/deploy-tools.sh` installs.
fn schemathesis() -> PathBuf {
    let path = std::env::var_os("SCHEMATHESIS_BIN").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/deploy-tools/schemathesis/bin/schemathesis")
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "schemathesis is not installed at {}: `source scripts/deploy-tools.sh && \
         install_deploy_tools` installs it (./test.sh does)",
        path.display()
    );
    path
}

/// Run schemathesis against `app`'s document with `key`; its report on
/// failure.
async fn fuzz(app: &TestApp, key: &str, what: &str, examples: u32) {
    let bin = schemathesis();
    let schema = app.url("/openapi.json");
    let header = format!("Authorization: Bearer {key}");
    let report = std::env::temp_dir().join(format!("schemathesis-{what}"));
    // Schemathesis keeps a cache of past failures under its working
    // directory and replays them: each run starts in an empty one, so a
    // run is its seed's alone and nothing lands in the checkout.
    let work = std::env::temp_dir().join(format!("schemathesis-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("a working directory");
    let cwd = work.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .current_dir(&cwd)
            .args(["run", &schema])
            .args(["--checks", "not_a_server_error,response_schema_conformance"])
            .args([
                "--max-examples",
                &examples.to_string(),
                "--seed",
                "20261205",
            ])
            .args(["--workers", "1", "--request-timeout", "120"])
            // The retired `/v1/ocr/jobs` paths only redirect (tests/
            // documents_api.rs holds them to it); schemathesis infers links
            // from their Location headers that its own stateful phase then
            // rejects as invalid.
            .args(["--exclude-path-regex", "^/v1/ocr/jobs"])
            .args(["--header", &header])
            .arg("--report-dir")
            .arg(&report)
            .env("NO_COLOR", "1")
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&work);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The summary, past libtest's capture, so CI's log shows it.
    let summary = stdout.rsplit("SUMMARY").next().unwrap_or_default();
    // (libtest captures `eprintln!`, not a write to the stream itself.)
    let _ = writeln!(std::io::stderr().lock(), "schemathesis, {what}:{summary}");
    assert!(
        out.status.success(),
        "schemathesis found failures in {what}'s API:\n{stdout}\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_s_document_holds_under_generated_requests() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut config = db.config();
    config.llm.model = MODEL.into();
    config.llm.context_per_slot = 512;
    config.llm.default_max_tokens = 16;
    config.documents.ask.answer_tokens = 16;

    let auth = TestApp::start_targets(config.clone(), &"auth".parse().unwrap()).await;
    auth.register("fuzz", PASSWORD).await;
    let login: serde_json::Value = auth.login("fuzz", PASSWORD).await.json().await.unwrap();
    let access = login["access_token"].as_str().unwrap();
    let mut split = config.clone();
    split.tokens.auth_url = Some(auth.addr.clone());
    let llm = TestApp::start_targets(split.clone(), &"llm".parse().unwrap()).await;
    llm.wait_ready().await;
    split.documents.ask.llm_url = Some(llm.addr.clone());
    let library = TestApp::start_targets(split, &"ocr,documents".parse().unwrap()).await;
    library.wait_ready().await;

    // Each run has an API key of its own: auth's run lists the keys and
    // revokes what it finds (as it should be able to), so it goes last,
    // with the access token.
    for (app, what, path, examples) in [
        (&library, "ocr,documents", "/v1/documents", EXAMPLES),
        (&llm, "llm", "/v1/models", LLM_EXAMPLES),
    ] {
        let key = auth.create_api_key(access, what).await["secret"]
            .as_str()
            .expect("an API key")
            .to_owned();
        // The key opens the process, so the generated requests reach past
        // authentication.
        let r = app.get_auth(path, &key).await;
        assert_eq!(
            r.status(),
            reqwest::StatusCode::OK,
            "{path}: {:?}",
            r.text().await
        );
        fuzz(app, &key, what, examples).await;
    }
    fuzz(&auth, access, "auth", EXAMPLES).await;

    for app in [library, llm, auth] {
        app.stop().await;
    }
}
