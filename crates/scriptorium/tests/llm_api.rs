//! The LLM service in the whole application, on a real GGUF model
//! (SmolLM2-135M, fetched by `test.sh`): readiness without a model, the
//! upstream backend through a second instance with auth's API keys, and the
//! `llm` target's OpenAPI document. The service's own behaviour is tested
//! in `crates/llm/tests`.

mod common;

use std::time::{Duration, Instant};

use common::{Db, TestApp, TestDb};
use reqwest::StatusCode;
use scriptorium::configuration::Config;
use serde_json::{json, Value};
use testkit::Sse;

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/smollm2-135m-instruct-q4_1.gguf"
);

struct Llm {
    app: TestApp,
    token: String,
    model_id: String,
    _db: TestDb,
}

async fn llm_app(tweak: impl FnOnce(&mut Config)) -> Llm {
    let db = TestDb::new(Db::Sqlite).await;
    let mut config = db.config();
    let model_id = format!("smollm2-{}", uuid::Uuid::new_v4().simple());
    config.llm.model = MODEL.into();
    config.llm.model_id = Some(model_id.clone());
    config.llm.slots = 4;
    config.llm.context_per_slot = 1024;
    tweak(&mut config);
    let app = TestApp::start_targets(config, &"auth,llm".parse().unwrap()).await;
    app.wait_ready().await;
    let t = app.signed_up("scribe").await;
    Llm {
        token: t["access_token"].as_str().unwrap().to_owned(),
        app,
        model_id,
        _db: db,
    }
}

impl Llm {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn ok(&self, path: &str, body: Value) -> Value {
        let r = self.post(path, body).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }
}

fn user(text: &str) -> Value {
    json!([{ "role": "user", "content": text }])
}

#[tokio::test]
async fn a_missing_model_keeps_the_service_unready() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut config = db.config();
    config.llm.model = "/nonexistent/model.gguf".into();
    let app = TestApp::start_targets(config, &"auth,llm".parse().unwrap()).await;
    let t = app.signed_up("scribe").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = r.text().await.unwrap();
        if body.contains("no model file") || Instant::now() > deadline {
            assert!(body.contains("no model file"), "{body}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .json(&json!({ "messages": user("hi") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no model file"),
        "{e}"
    );
}

#[tokio::test]
async fn the_upstream_backend_round_trips_through_a_second_instance() {
    let upstream = llm_app(|_| {}).await;
    let key = upstream
        .app
        .create_api_key(&upstream.token, "gateway")
        .await;
    let secret = key["secret"].as_str().unwrap().to_owned();

    let db = TestDb::new(Db::Sqlite).await;
    let mut config = db.config();
    config.llm.backend = llm::config::BackendKind::Openai;
    config.llm.upstream.base_url = Some(upstream.app.url("/v1"));
    config.llm.upstream.api_key = Some(secret.into());
    config.llm.model_id = Some(upstream.model_id.clone());
    let front = TestApp::start_targets(config, &"auth,llm".parse().unwrap()).await;
    front.wait_ready().await;
    let t = front.signed_up("reader").await;
    let token = t["access_token"].as_str().unwrap();
    let post = async |body: Value| {
        front
            .client
            .post(front.url("/v1/chat/completions"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    };

    let body = json!({ "messages": user("Say hello."), "max_tokens": 8, "temperature": 0 });
    let direct = upstream.ok("/v1/chat/completions", body.clone()).await;
    let r = post(body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let via: Value = r.json().await.unwrap();
    assert_eq!(
        via["choices"][0]["message"]["content"],
        direct["choices"][0]["message"]["content"]
    );
    assert_eq!(via["usage"], direct["usage"]);

    let r = post(json!({ "messages": user("Say hello."), "max_tokens": 8, "temperature": 0, "stream": true })).await;
    let text: String = Sse::new(r)
        .chunks()
        .await
        .into_iter()
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        text.as_str(),
        direct["choices"][0]["message"]["content"].as_str().unwrap()
    );

    // The front checks requests itself and keeps its own auth.
    let r = post(json!({ "messages": user("hi"), "temperature": 9 })).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = front
        .client
        .post(front.url("/v1/chat/completions"))
        .bearer_auth(&upstream.token)
        .json(&json!({ "messages": user("hi") }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the upstream's tokens are not the front's"
    );
    let models: Value = front
        .get_auth("/v1/models", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], upstream.model_id.as_str());
}

#[tokio::test]
async fn the_llm_target_documents_every_route_it_serves() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut config = db.config();
    config.llm.model = "/nonexistent/model.gguf".into();
    config.tokens.auth_url = Some("http://127.0.0.1:9".into());
    let app = TestApp::start_targets(config, &"llm".parse().unwrap()).await;
    let doc: Value = app.get_json("/openapi.json").await;
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            operations.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations.sort();
    assert_eq!(
        operations,
        [
            "GET /v1/models",
            "POST /v1/chat/completions",
            "POST /v1/completions",
            "POST /v1/detokenize",
            "POST /v1/tokenize",
        ]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["ChatChunk"].is_object());
    // Every documented operation is routed: without a key, 401, never 404
    // or 405.
    for op in &operations {
        let (method, path) = op.split_once(' ').unwrap();
        let r = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{op}");
    }
    app.stop().await;
}
