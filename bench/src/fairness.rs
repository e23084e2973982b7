//! Fairness benchmark: how long a second user's short chat request takes
//! while another user does the worst the limits allow, next to an idle
//! server. Scenarios:
//!
//! - idle: the second user alone;
//! - largest schema: another user sends, back to back, requests with the
//!   largest `response_format` schema the default limits accept, once
//!   with each grammar engine (`llm.grammar_engine`: llguidance, gbnf);
//! - held streams: another user opens as many streams as
//!   `llm.max_sequences_per_user` allows and never reads them, and keeps
//!   trying to open more (those get 429).
//!
//! Prints p50 and p99 of the second user's request time and its ratio to
//! idle (target: p99 within 2x), and the other user's own time per token
//! with and without the schema (the grammar's cost, which that user pays),
//! and the sampler's own time per token (`llm_sampling_seconds`).
//!
//! Run: `bench/fairness.sh`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use scriptorium_bench::{percentile, PASSWORD};
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/scriptorium")]
    server: String,
    #[arg(long, default_value = "models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")]
    model: String,
    /// The second user's requests per scenario, one after another.
    #[arg(long, default_value_t = 60)]
    requests: usize,
    /// The second user's `max_tokens`.
    #[arg(long, default_value_t = 5)]
    tokens: u32,
}

/// The largest schema the default limits (`llm.schema_limits`) accept: an
/// enum of 16 long values that share a prefix (the grammar keeps every value
/// alive for as long as the prefix lasts), just under 8 KiB.
fn largest_schema() -> Value {
    let prefix = "the-same-long-prefix-of-every-value ".repeat(13);
    let values: Vec<String> = (0..16).map(|i| format!("{prefix}-{i:03}")).collect();
    json!({"type": "object", "properties": {"answer": {"enum": values}}, "required": ["answer"]})
}

async fn chat(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    body: Value,
) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let r = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

/// The second user's request times, in milliseconds.
async fn second_user(
    requests: usize,
    tokens: u32,
    base: &str,
    token: &str,
) -> anyhow::Result<Vec<f64>> {
    let client = reqwest::Client::new();
    let mut times = Vec::with_capacity(requests);
    for i in 0..requests {
        let body = json!({
            "messages": [{"role": "user", "content": format!("Say hello to visitor {i}.")}],
            "max_tokens": tokens, "temperature": 0,
        });
        let sent = Instant::now();
        let (status, v) = chat(&client, base, token, body).await?;
        if !status.is_success() {
            bail!("the second user's request failed: {status} {v}");
        }
        times.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(times)
}

/// The other user's schema requests, back to back until `stop`: their
/// milliseconds per generated token.
async fn schema_load(
    base: String,
    token: String,
    schema: Option<Value>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<f64>> {
    let client = reqwest::Client::new();
    let mut per_token = Vec::new();
    // Bounded: the scenario ends well before this many requests.
    for i in 0..10_000 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let mut body = json!({
            "messages": [{"role": "user", "content": format!("Pick one value, request {i}.")}],
            "max_tokens": 48, "temperature": 0,
        });
        if let Some(s) = &schema {
            body["response_format"] =
                json!({"type": "json_schema", "json_schema": {"name": "pick", "schema": s}});
        }
        let sent = Instant::now();
        let (status, v) = chat(&client, &base, &token, body).await?;
        if !status.is_success() {
            bail!("the schema request failed: {status} {v}");
        }
        let n = v["usage"]["completion_tokens"]
            .as_f64()
            .unwrap_or(1.0)
            .max(1.0);
        per_token.push(sent.elapsed().as_secs_f64() * 1000.0 / n);
    }
    Ok(per_token)
}

struct Row {
    scenario: String,
    times: Vec<f64>,
    /// The p99 of the idle row of the same server.
    idle_p99: f64,
    note: String,
}

/// `llm_sampling_seconds{constraint}`'s sum and count from `/metrics`.
async fn sampling(base: &str, constraint: &str) -> anyhow::Result<(f64, f64)> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    let read = |suffix: &str| {
        let prefix = format!("llm_sampling_seconds_{suffix}{{constraint=\"{constraint}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((read("sum"), read("count")))
}

/// The other user alone for 8 s, with or without the schema: its
/// milliseconds per token (p50), and the sampler's milliseconds per token
/// (`constraint`: the label the sampler's time is recorded under).
async fn alone(
    base: &str,
    token: &str,
    schema: Option<Value>,
    constraint: &str,
) -> anyhow::Result<(f64, f64)> {
    let before = sampling(base, constraint).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(schema_load(
        base.to_owned(),
        token.to_owned(),
        schema,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::SeqCst);
    let mut per_token = load.await??;
    let after = sampling(base, constraint).await?;
    let sampling_ms = (after.0 - before.0) * 1000.0 / (after.1 - before.1).max(1.0);
    Ok((percentile(&mut per_token, 0.5), sampling_ms))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut rows = Vec::new();
    for engine in ["llguidance", "gbnf"] {
        let server = scriptorium_bench::start_targets(
            &a.server,
            "auth,llm",
            None,
            &[
                ("SCRIPTORIUM_LLM__MODEL", a.model.as_str()),
                ("SCRIPTORIUM_LLM__THREADS", &threads.to_string()),
                ("SCRIPTORIUM_LLM__GRAMMAR_ENGINE", engine),
            ],
        )
        .await?;
        let base = server.base.clone();
        let other = scriptorium_bench::account(&base, "other-user", PASSWORD).await?;
        let second = scriptorium_bench::account(&base, "second-user", PASSWORD).await?;
        // Warm up: the first requests pay for loading pages of the model.
        second_user(5, a.tokens, &base, &second).await?;
        let idle = second_user(a.requests, a.tokens, &base, &second).await?;
        let idle_p99 = percentile(&mut idle.clone(), 0.99);
        rows.push(Row {
            scenario: format!("idle ({engine} server)"),
            times: idle,
            idle_p99,
            note: String::new(),
        });

        // The other user's own cost per token, without and with the schema.
        let (plain, plain_sampling) = alone(&base, &other, None, "none").await?;
        let (grammar, grammar_sampling) =
            alone(&base, &other, Some(largest_schema()), engine).await?;

        let stop = Arc::new(AtomicBool::new(false));
        let loads: Vec<_> = (0..2)
            .map(|_| {
                tokio::spawn(schema_load(
                    base.clone(),
                    other.clone(),
                    Some(largest_schema()),
                    stop.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let times = second_user(a.requests, a.tokens, &base, &second).await?;
        stop.store(true, Ordering::SeqCst);
        for l in loads {
            l.await??;
        }
        rows.push(Row {
            scenario: format!("largest schema ({engine}), 2 streams"),
            times,
            idle_p99,
            note: format!(
                "other user alone: {grammar:.1} ms/token with the schema, {plain:.1} without (p50); \
                 sampling {grammar_sampling:.2} ms/token with it, {plain_sampling:.2} without (mean)"
            ),
        });
        if engine != "llguidance" {
            continue;
        }

        // Streams that are never read, as many as one user may hold.
        let client = reqwest::Client::new();
        let mut held = Vec::new();
        let refused = Arc::new(AtomicUsize::new(0));
        for i in 0..8 {
            let r = client
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(&other)
                .json(&json!({
                    // Counting never ends of itself: the streams generate
                    // for the whole scenario.
                    "messages": [{"role": "user", "content": format!("Count from {i} to 100000, one number per line, and nothing else.")}],
                    "max_tokens": 3000, "stream": true, "temperature": 0,
                }))
                .send()
                .await?;
            if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                refused.fetch_add(1, Ordering::SeqCst);
            } else if r.status().is_success() {
                held.push(r);
            } else {
                bail!("a held stream failed: {}", r.status());
            }
        }
        // Holding, not opening: the streams' prompts are read and they are
        // generating before the second user comes.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let times = second_user(a.requests, a.tokens, &base, &second).await?;
        rows.push(Row {
            scenario: "held streams".into(),
            times,
            idle_p99,
            note: format!(
                "other user holds {} unread streams; {} more refused with 429",
                held.len(),
                refused.load(Ordering::SeqCst)
            ),
        });
        drop(held);
    }

    println!(
        "# Fairness: a second user's {}-token chat, {} requests per scenario, {} threads, default limits",
        a.tokens, a.requests, threads
    );
    println!("| scenario | p50 ms | p90 ms | p99 ms | p99 vs idle | notes |");
    println!("|---|---|---|---|---|---|");
    for mut r in rows {
        let p50 = percentile(&mut r.times, 0.5);
        let p90 = percentile(&mut r.times, 0.9);
        let p99 = percentile(&mut r.times, 0.99);
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.2}x | {} |",
            r.scenario,
            p50,
            p90,
            p99,
            p99 / r.idle_p99,
            r.note
        );
    }
    Ok(())
}
