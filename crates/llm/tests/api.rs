//! The LLM service alone, end to end on a real GGUF model (SmolLM2-135M,
//! fetched by `test.sh`): the OpenAI API, streaming, sampling controls,
//! grammar, batching, queue limits, cancellation and per-user fairness.

use std::time::{Duration, Instant};

use llm::config::GrammarEngine;
use llm::{Llm as Service, LlmConfig, LlmState};
use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::{Issuer, Served, Sse};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/smollm2-135m-instruct-q4_1.gguf"
);

/// A prompt the model continues for as long as it is allowed to.
const COUNTING: &str = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,";

struct Llm {
    served: Served,
    issuer: std::sync::Arc<Issuer>,
    token: String,
    model_id: String,
}

async fn llm_app(tweak: impl FnOnce(&mut LlmConfig)) -> Llm {
    kit::metrics::handle();
    let model_id = format!("smollm2-{}", uuid::Uuid::new_v4().simple());
    let mut config = LlmConfig {
        model: MODEL.into(),
        model_id: Some(model_id.clone()),
        slots: 4,
        context_per_slot: 1024,
        ..LlmConfig::default()
    };
    tweak(&mut config);
    // Tests run side by side on few cores: llama.cpp's threads spin at
    // every barrier of a step, so engines of one thread each share them.
    let llm = Service::start(&config, 1).expect("the service starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Err(e) = llm.ready() {
        assert!(Instant::now() < deadline, "never ready: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let issuer = Issuer::new();
    let served = Served::start(llm::router(LlmState {
        llm,
        verifier: issuer.verifier(),
    }))
    .await;
    Llm {
        token: issuer.token("scribe"),
        issuer,
        served,
        model_id,
    }
}

impl Llm {
    fn url(&self, path: &str) -> String {
        self.served.url(path)
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.post_as(&self.token, path, body).await
    }

    async fn ok(&self, path: &str, body: Value) -> Value {
        let r = self.post(path, body).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }

    /// A gauge or counter of the process's metrics for this model.
    async fn metric(&self, name: &str) -> f64 {
        let text = kit::metrics::handle().render();
        let prefix = format!("{name}{{model=\"{}\"}} ", self.model_id);
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0.0)
    }

    async fn wait_metric(&self, name: &str, want: f64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.metric(name).await;
            if v == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} stayed {v}, wanted {want}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Another user's access token.
    fn other_user(&self, name: &str) -> String {
        self.issuer.token(name)
    }

    async fn post_as(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.served
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

fn user(text: &str) -> Value {
    json!([{ "role": "user", "content": text }])
}

#[tokio::test]
async fn chat_and_completions_answer_with_usage() {
    let llm = llm_app(|_| {}).await;
    let v = llm
        .ok(
            "/v1/chat/completions",
            json!({ "messages": user("What is the capital of France?"), "max_tokens": 12, "temperature": 0 }),
        )
        .await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], llm.model_id.as_str());
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!text.trim().is_empty(), "{v}");
    let usage = &v["usage"];
    let completion = usage["completion_tokens"].as_u64().unwrap();
    assert!((1..=12).contains(&completion), "{usage}");
    // The chat template wraps the question in role markers.
    let question = llm
        .ok(
            "/v1/tokenize",
            json!({ "content": "What is the capital of France?" }),
        )
        .await;
    let question_tokens = question["tokens"].as_array().unwrap().len() as u64;
    assert!(
        usage["prompt_tokens"].as_u64().unwrap() > question_tokens,
        "{usage}"
    );
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + completion
    );
    let finish = v["choices"][0]["finish_reason"].as_str().unwrap();
    assert!(
        finish == "stop" || (finish == "length" && completion == 12),
        "{v}"
    );

    // Completions count exactly the prompt's tokens.
    let v = llm
        .ok(
            "/v1/completions",
            json!({ "prompt": COUNTING, "max_tokens": 8, "temperature": 0 }),
        )
        .await;
    assert_eq!(v["object"], "text_completion");
    let tokens = llm
        .ok(
            "/v1/tokenize",
            json!({ "content": COUNTING, "add_special": true }),
        )
        .await;
    assert_eq!(
        v["usage"]["prompt_tokens"].as_u64().unwrap(),
        tokens["tokens"].as_array().unwrap().len() as u64
    );
    assert_eq!(v["usage"]["completion_tokens"], 8);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    let text = v["choices"][0]["text"].as_str().unwrap();
    assert!(text.contains("13"), "counting goes on: {text:?}");

    // Detokenizing gives the text back.
    let back = llm
        .ok("/v1/detokenize", json!({ "tokens": tokens["tokens"] }))
        .await;
    assert!(
        back["content"].as_str().unwrap().ends_with(COUNTING),
        "{back}"
    );

    let models: Value = llm
        .served
        .get_auth("/v1/models", &llm.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], llm.model_id.as_str());
}

#[tokio::test]
async fn streams_follow_the_openai_chunk_format() {
    let llm = llm_app(|_| {}).await;
    let r = llm
        .post(
            "/v1/chat/completions",
            json!({ "messages": user("Say hello."), "max_tokens": 10, "temperature": 0,
                    "stream": true, "stream_options": { "include_usage": true } }),
        )
        .await;
    let chunks = Sse::new(r).chunks().await;
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-") && chunks.iter().all(|c| c["id"] == id));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!text.trim().is_empty());
    // The last choice chunk carries the finish reason; then usage alone.
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"].as_array().unwrap().len(), 0);
    let finish_chunk = &chunks[chunks.len() - 2];
    let finish = finish_chunk["choices"][0]["finish_reason"]
        .as_str()
        .unwrap();
    let completion = usage_chunk["usage"]["completion_tokens"].as_u64().unwrap();
    assert!(finish == "stop" || (finish == "length" && completion == 10));
    assert!(usage_chunk["usage"]["prompt_tokens"].as_u64().unwrap() > 3);

    // The same text as the whole answer with the same settings.
    let whole = llm
        .ok(
            "/v1/chat/completions",
            json!({ "messages": user("Say hello."), "max_tokens": 10, "temperature": 0 }),
        )
        .await;
    assert_eq!(whole["choices"][0]["message"]["content"], text.as_str());

    // Completions stream too, without usage unless asked.
    let r = llm
        .post(
            "/v1/completions",
            json!({ "prompt": COUNTING, "max_tokens": 6, "temperature": 0, "stream": true }),
        )
        .await;
    let chunks = Sse::new(r).chunks().await;
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "text_completion" && c.get("usage").is_none()));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "length"
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert!(text.contains("13"), "{text:?}");
}

#[tokio::test]
async fn seeds_stops_and_lengths() {
    let llm = llm_app(|_| {}).await;
    let sampled = |seed: u64| {
        json!({ "messages": user("Write a sentence about the sea."), "max_tokens": 24,
                "temperature": 0.9, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "seed": seed })
    };
    let a = llm.ok("/v1/chat/completions", sampled(7)).await;
    let b = llm.ok("/v1/chat/completions", sampled(7)).await;
    assert_eq!(
        a["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"],
        "the same seed gives the same text"
    );

    // max_tokens ends with `length` after exactly that many tokens.
    let v = llm
        .ok(
            "/v1/completions",
            json!({ "prompt": COUNTING, "max_tokens": 5, "temperature": 0 }),
        )
        .await;
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 5);

    // `stop` ends the output before the stop string.
    let free = llm
        .ok(
            "/v1/completions",
            json!({ "prompt": COUNTING, "max_tokens": 20, "temperature": 0 }),
        )
        .await;
    let free = free["choices"][0]["text"].as_str().unwrap().to_owned();
    let at = free.find("16").expect("counting reaches 16");
    let stopped = llm
        .ok(
            "/v1/completions",
            json!({ "prompt": COUNTING, "max_tokens": 20, "temperature": 0, "stop": ["16", "never"] }),
        )
        .await;
    assert_eq!(stopped["choices"][0]["finish_reason"], "stop");
    assert_eq!(stopped["choices"][0]["text"].as_str().unwrap(), &free[..at]);
}

#[tokio::test]
async fn json_modes_give_parseable_json_with_llguidance() {
    json_modes_give_parseable_json(GrammarEngine::Llguidance).await;
}

#[tokio::test]
async fn json_modes_give_parseable_json_with_gbnf() {
    json_modes_give_parseable_json(GrammarEngine::Gbnf).await;
}

async fn json_modes_give_parseable_json(engine: GrammarEngine) {
    let llm = llm_app(|c| c.grammar_engine = engine).await;
    let v = llm
        .ok(
            "/v1/chat/completions",
            json!({ "messages": user("Repeat exactly: {\"animal\": \"cat\", \"legs\": 4}"),
                    "max_tokens": 200, "temperature": 0,
                    "response_format": { "type": "json_object" } }),
        )
        .await;
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "stop", "{content:?}");
    let parsed: Value =
        serde_json::from_str(content).unwrap_or_else(|e| panic!("{e}: {content:?}"));
    assert!(parsed.is_object(), "{parsed}");

    let schema = json!({ "type": "object", "properties": {
        "name": { "type": "string", "maxLength": 12 },
        "legs": { "type": "integer" } }, "required": ["name", "legs"], "additionalProperties": false });
    let v = llm
        .ok(
            "/v1/chat/completions",
            json!({ "messages": user("A cat, as JSON."), "max_tokens": 100, "temperature": 0.7, "seed": 3,
                    "response_format": { "type": "json_schema", "json_schema": { "name": "animal", "schema": schema } } }),
        )
        .await;
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    let parsed: Value =
        serde_json::from_str(content).unwrap_or_else(|e| panic!("{e}: {content:?}"));
    assert!(
        parsed["name"].is_string() && parsed["legs"].is_i64(),
        "{parsed}"
    );
    assert_eq!(parsed.as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn concurrent_streams_are_batched() {
    // One user's four streams: no per-user limit here.
    let llm = llm_app(|c| c.max_sequences_per_user = Some(0)).await;
    let started = Instant::now();
    let streams = (0..4).map(|i| {
        let r = llm.post(
            "/v1/completions",
            json!({ "prompt": format!("{i}: {COUNTING}"), "max_tokens": 24, "temperature": 0, "stream": true }),
        );
        async move {
            let mut sse = Sse::new(r.await);
            let mut times = Vec::new();
            let mut finish = None;
            while let Some(p) = sse.next().await {
                if p == "[DONE]" {
                    break;
                }
                let c: Value = serde_json::from_str(&p).unwrap();
                if let Some(f) = c["choices"][0]["finish_reason"].as_str() {
                    finish = Some(f.to_owned());
                } else {
                    times.push(started.elapsed());
                }
            }
            (times, finish)
        }
    });
    let results = futures::future::join_all(streams).await;
    for (times, finish) in &results {
        assert_eq!(finish.as_deref(), Some("length"));
        assert!(times.len() >= 10, "{times:?}");
    }
    // Batched: every stream had output before any stream finished.
    let latest_first = results.iter().map(|(t, _)| t[0]).max().unwrap();
    let earliest_last = results
        .iter()
        .map(|(t, _)| *t.last().unwrap())
        .min()
        .unwrap();
    assert!(
        latest_first < earliest_last,
        "streams ran one after another: first tokens up to {latest_first:?}, a stream ended at {earliest_last:?}"
    );
}

#[tokio::test]
async fn a_full_queue_answers_429_and_a_dropped_client_frees_its_slot() {
    let llm = llm_app(|c| {
        c.slots = 1;
        c.queue_depth = 1;
        c.max_sequences_per_user = Some(0);
    })
    .await;
    let long =
        || json!({ "prompt": COUNTING, "max_tokens": 900, "temperature": 0, "stream": true });

    // One request runs...
    let mut running = Sse::new(llm.post("/v1/completions", long()).await);
    running.next().await.expect("a first chunk");
    llm.wait_metric("llm_running_sequences", 1.0).await;
    // ...one waits...
    let waiting = llm
        .served
        .client
        .post(llm.url("/v1/completions"))
        .bearer_auth(&llm.token)
        .json(&long())
        .send();
    let waiting = tokio::spawn(async move { waiting.await.unwrap().status() });
    llm.wait_metric("llm_queue_depth", 1.0).await;
    // ...and the next is refused.
    let r = llm.post("/v1/completions", long()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "rate_limit_error");

    // Dropping the running stream frees the slot for the waiting one.
    drop(running);
    assert_eq!(waiting.await.unwrap(), StatusCode::OK);
    llm.wait_metric("llm_queue_depth", 0.0).await;
}

#[tokio::test]
async fn one_user_cannot_hold_every_slot() {
    // Four slots; by default one user may have half of them.
    let llm = llm_app(|_| {}).await;
    let long =
        || json!({ "prompt": COUNTING, "max_tokens": 900, "temperature": 0, "stream": true });
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut sse = Sse::new(llm.post("/v1/completions", long()).await);
        sse.next().await.expect("a first chunk");
        held.push(sse);
    }
    let r = llm.post("/v1/completions", long()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "per_user_limit", "{e}");
    assert_eq!(e["error"]["limit"], 2, "{e}");

    // Another user is served at once, beside the held streams.
    let other = llm.other_user("second-user");
    let started = Instant::now();
    let r = llm
        .post_as(
            &other,
            "/v1/completions",
            json!({ "prompt": COUNTING, "max_tokens": 4, "temperature": 0 }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(10));
    // The first user's two streams still run.
    llm.wait_metric("llm_running_sequences", 2.0).await;

    // A finished (here: dropped) stream gives its unit back.
    held.pop();
    llm.wait_metric("llm_running_sequences", 1.0).await;
    let mut again = Sse::new(llm.post("/v1/completions", long()).await);
    assert!(again.next().await.is_some());
}

#[tokio::test]
async fn waiting_requests_are_served_in_turn_across_users() {
    let llm = llm_app(|c| {
        c.slots = 1;
        c.max_sequences_per_user = Some(0);
    })
    .await;
    let other = llm.other_user("late-user");
    let mut running = Sse::new(
        llm.post(
            "/v1/completions",
            json!({ "prompt": COUNTING, "max_tokens": 900, "temperature": 0, "stream": true }),
        )
        .await,
    );
    running.next().await.expect("a first chunk");
    llm.wait_metric("llm_running_sequences", 1.0).await;

    // The first user queues three requests, then the second user one.
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let short = json!({ "prompt": COUNTING, "max_tokens": 2, "temperature": 0 });
    let mut waiting = Vec::new();
    for (i, token) in [&llm.token, &llm.token, &llm.token, &other]
        .into_iter()
        .enumerate()
    {
        let rb = llm
            .served
            .client
            .post(llm.url("/v1/completions"))
            .bearer_auth(token)
            .json(&short);
        let order = order.clone();
        let name = if i < 3 {
            format!("first-{i}")
        } else {
            "second".into()
        };
        waiting.push(tokio::spawn(async move {
            assert_eq!(rb.send().await.unwrap().status(), StatusCode::OK);
            order.lock().unwrap().push(name);
        }));
        llm.wait_metric("llm_queue_depth", (i + 1) as f64).await;
    }
    drop(running);
    for w in waiting {
        w.await.unwrap();
    }
    let order = order.lock().unwrap().clone();
    let second = order.iter().position(|n| n == "second").unwrap();
    // In turn: first-0, second, first-1, first-2 (arrival order would put
    // the second user last).
    assert!(second <= 1, "served in the order {order:?}");
}

#[tokio::test]
async fn a_quiet_users_request_goes_ahead_of_a_long_stream() {
    let llm = llm_app(|_| {}).await;
    let mut long = Sse::new(
        llm.post(
            "/v1/completions",
            json!({ "prompt": COUNTING, "max_tokens": 900, "temperature": 0, "stream": true }),
        )
        .await,
    );
    // Well past turns::SLACK tokens of service before the other user comes.
    for _ in 0..60 {
        long.next().await.expect("the long stream runs");
    }
    let pieces = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = pieces.clone();
    let reader = tokio::spawn(async move {
        while long.next().await.is_some() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let other = llm.other_user("quiet-user");
    let before = pieces.load(std::sync::atomic::Ordering::SeqCst);
    let v: Value = llm
        .post_as(
            &other,
            "/v1/completions",
            json!({ "prompt": COUNTING, "max_tokens": 48, "temperature": 0 }),
        )
        .await
        .json()
        .await
        .unwrap();
    let during = pieces.load(std::sync::atomic::Ordering::SeqCst) - before;
    let generated = v["usage"]["completion_tokens"].as_u64().unwrap();
    assert_eq!(generated, 48, "{v}");
    // Sharing every step, the long stream would advance one piece per
    // token of the quiet user's; ahead, it gets one step in four.
    assert!(
        during <= 24,
        "the long stream advanced {during} pieces while the quiet user got {generated} tokens"
    );
    assert!(during >= 4, "the long stream stopped: {during} pieces");
    reader.abort();
}

#[tokio::test]
async fn schemas_over_the_limits_are_refused_before_any_work() {
    let llm = llm_app(|_| {}).await;
    let values: Vec<String> = (0..30_000).map(|i| format!("v{i}")).collect();
    let branches: Vec<Value> = (0..5000).map(|i| json!({ "const": i })).collect();
    for (schema, what) in [
        (json!({ "type": "string", "enum": values }), "bytes"),
        (json!({ "anyOf": branches[..100] }), "limit is"),
        (
            json!({ "type": "string", "enum": values[..65] }),
            "enum and const values",
        ),
    ] {
        let started = Instant::now();
        let r = llm
            .post(
                "/v1/chat/completions",
                json!({ "messages": user("Pick one."), "max_tokens": 6,
                    "response_format": { "type": "json_schema",
                        "json_schema": { "name": "pick", "schema": schema } } }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["param"], "response_format", "{e}");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains(what), "{message}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    assert_eq!(llm.metric("llm_running_sequences").await, 0.0);
}

#[tokio::test]
async fn a_disconnected_stream_frees_its_slot_within_a_step() {
    let llm = llm_app(|c| c.slots = 2).await;
    let body = json!({ "prompt": COUNTING, "max_tokens": 900, "temperature": 0, "stream": true });
    let mut sse = Sse::new(llm.post("/v1/completions", body).await);
    for _ in 0..3 {
        sse.next().await.unwrap();
    }
    assert_eq!(llm.metric("llm_running_sequences").await, 1.0);
    drop(sse);
    let dropped = Instant::now();
    llm.wait_metric("llm_running_sequences", 0.0).await;
    // One decode step of this model takes milliseconds; allow scheduling slack.
    assert!(
        dropped.elapsed() < Duration::from_secs(2),
        "{:?}",
        dropped.elapsed()
    );
    // The slot serves the next request.
    let v = llm
        .ok(
            "/v1/completions",
            json!({ "prompt": COUNTING, "max_tokens": 3 }),
        )
        .await;
    assert_eq!(v["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn bad_requests_get_openai_errors() {
    let llm = llm_app(|c| c.context_per_slot = 256).await;
    // No token.
    let r = llm
        .served
        .client
        .post(llm.url("/v1/chat/completions"))
        .json(&json!({ "messages": user("hi") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "authentication_error");
    assert!(e["error"]["message"].as_str().unwrap().contains("Bearer"));

    // A prompt longer than a slot's context: 400 before any work.
    let long = "word ".repeat(600);
    let r = llm.post("/v1/completions", json!({ "prompt": long })).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "context_length_exceeded", "{e}");

    for (body, param) in [
        (
            json!({ "messages": user("hi"), "temperature": 5 }),
            "temperature",
        ),
        (json!({ "messages": user("hi"), "n": 3 }), "n"),
        (json!({ "messages": [] }), "messages"),
        (
            json!({ "messages": user("hi"), "stop": ["a", "b", "c", "d", "e"] }),
            "stop",
        ),
        (
            json!({ "messages": user("hi"), "response_format": { "type": "json_schema",
            "json_schema": { "name": "x", "schema": { "type": "nonsense" } } } }),
            "response_format",
        ),
    ] {
        let r = llm.post("/v1/chat/completions", body.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
        assert_eq!(e["error"]["param"], param, "{e}");
    }
    let r = llm
        .post(
            "/v1/chat/completions",
            json!({ "model": "gpt-4", "messages": user("hi") }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = llm
        .served
        .client
        .post(llm.url("/v1/completions"))
        .bearer_auth(&llm.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"].as_str().is_some());
    let r = llm.post("/v1/detokenize", json!({ "tokens": [-1] })).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
