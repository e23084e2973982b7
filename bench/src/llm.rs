//! LLM benchmark: this service and llama.cpp's `llama-server` on the same
//! GGUF file, threads and slots, driven by 1, 2, 4 and 8 concurrent
//! streaming clients with fresh prompts and a fixed output length. Prints
//! output tokens/s, time to first token and inter-token latency (p50, p99)
//! per level, the ratio to llama-server, and the batch-1 decode speed beside
//! the memory-bandwidth bound (model bytes per token / measured bandwidth).
//!
//! Run: `bench/llm.sh` (builds both, downloads the model if needed).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use futures::StreamExt;
use scriptorium_bench::{percentile, PASSWORD};
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/scriptorium")]
    server: String,
    #[arg(long, default_value = "target/bench/llama-server")]
    llama_server: String,
    /// llama.cpp's batched benchmark: the engine alone, every prompt in one
    /// batch, no server. The ceiling either server can reach.
    #[arg(long, default_value = "target/bench/llama-batched-bench")]
    batched_bench: String,
    #[arg(long, default_value = "models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")]
    model: String,
    /// Decode threads for both servers; default: every core.
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value_t = 8)]
    slots: usize,
    #[arg(long, default_value_t = 1024)]
    context_per_slot: usize,
    /// Output tokens per request.
    #[arg(long, default_value_t = 64)]
    tokens: u32,
    #[arg(long, default_value = "1,2,4,8")]
    clients: String,
    /// Requests each client sends, one after another, per turn.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Turns per level: the two servers take turns this many times and
    /// their figures are pooled, so a slow spell on a shared machine falls
    /// on both rather than on one.
    #[arg(long, default_value_t = 3)]
    turns: usize,
}

/// A prompt the model continues without ending, so every request produces
/// the same number of tokens.
fn prompt() -> String {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Ticket {}. Counting: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,",
        &tag[..8]
    )
}

struct Target {
    name: &'static str,
    base: String,
    token: Option<String>,
    model: String,
}

#[derive(Default)]
struct Sample {
    ttft: Vec<f64>,
    itl: Vec<f64>,
    tokens: u64,
    short: usize,
}

async fn one_request(
    client: &reqwest::Client,
    t: &Target,
    tokens: u32,
    sample: &mut Sample,
) -> anyhow::Result<()> {
    let body = json!({
        "model": t.model, "prompt": prompt(), "max_tokens": tokens, "temperature": 0,
        "stream": true, "stream_options": { "include_usage": true },
    });
    let mut rb = client
        .post(format!("{}/v1/completions", t.base))
        .json(&body);
    if let Some(tok) = &t.token {
        rb = rb.bearer_auth(tok);
    }
    let sent = Instant::now();
    let r = rb.send().await?;
    if !r.status().is_success() {
        bail!("{}: {} {}", t.name, r.status(), r.text().await?);
    }
    let mut stream = r.bytes_stream();
    let mut buf = String::new();
    let mut last: Option<Instant> = None;
    let mut chunks = 0u64;
    let mut usage = None;
    while let Some(chunk) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            for data in event.lines().filter_map(|l| l.strip_prefix("data: ")) {
                if data == "[DONE]" {
                    continue;
                }
                let v: Value = serde_json::from_str(data)?;
                if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                    usage = u["completion_tokens"].as_u64();
                }
                let text = v["choices"][0]["text"].as_str().unwrap_or("");
                if text.is_empty() {
                    continue;
                }
                let now = Instant::now();
                match last {
                    None => sample.ttft.push(now.duration_since(sent).as_secs_f64()),
                    Some(prev) => sample.itl.push(now.duration_since(prev).as_secs_f64()),
                }
                last = Some(now);
                chunks += 1;
            }
        }
    }
    let n = usage.unwrap_or(chunks);
    if n < u64::from(tokens) {
        sample.short += 1;
    }
    sample.tokens += n;
    Ok(())
}

struct Row {
    tokens_per_sec: f64,
    ttft: (f64, f64),
    itl: (f64, f64),
    short: usize,
}

impl Sample {
    fn absorb(&mut self, other: Sample) {
        self.ttft.extend(other.ttft);
        self.itl.extend(other.itl);
        self.tokens += other.tokens;
        self.short += other.short;
    }

    /// The figures of pooled turns that took `wall` seconds in all.
    fn row(mut self, wall: f64) -> Row {
        Row {
            tokens_per_sec: self.tokens as f64 / wall,
            ttft: (
                percentile(&mut self.ttft, 0.5),
                percentile(&mut self.ttft, 0.99),
            ),
            itl: (
                percentile(&mut self.itl, 0.5),
                percentile(&mut self.itl, 0.99),
            ),
            short: self.short,
        }
    }
}

/// One turn: `clients` clients each sending `rounds` requests one after
/// another. Returns what they saw and the wall-clock seconds it took.
async fn turn(
    t: &Target,
    clients: usize,
    rounds: usize,
    tokens: u32,
) -> anyhow::Result<(Sample, f64)> {
    // A fresh connection per request: llama-server closes a connection
    // after a streamed response, and a reused dead one fails the request.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .pool_max_idle_per_host(0)
        .build()?;
    let t = Arc::new(Target {
        name: t.name,
        base: t.base.clone(),
        token: t.token.clone(),
        model: t.model.clone(),
    });
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let client = client.clone();
            let t = t.clone();
            tokio::spawn(async move {
                let mut s = Sample::default();
                for _ in 0..rounds {
                    one_request(&client, &t, tokens, &mut s).await?;
                }
                anyhow::Ok(s)
            })
        })
        .collect();
    let mut all = Sample::default();
    for task in tasks {
        all.absorb(task.await??);
    }
    Ok((all, started.elapsed().as_secs_f64()))
}

struct Reference(Child);

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_llama_server(a: &Args, threads: usize) -> anyhow::Result<(Reference, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let t = threads.to_string();
    let child = Command::new(&a.llama_server)
        .args([
            "-m",
            &a.model,
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .args(["-t", &t, "-tb", &t, "-np", &a.slots.to_string()])
        .args(["-c", &(a.slots * a.context_per_slot).to_string()])
        .args(["-b", "512", "-ub", "512", "--no-webui"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} (run bench/llama-server.sh)", a.llama_server))?;
    let guard = Reference(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = client.get(format!("{base}/health")).send().await {
            if r.status().is_success() {
                return Ok((guard, base));
            }
        }
        if Instant::now() > deadline {
            bail!("llama-server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Output tokens/s of `llama-batched-bench` for `clients` sequences with
/// `prompt` prompt tokens and `tokens` output tokens each: llama.cpp's engine
/// with no server, no HTTP and every prompt decoded in one batch.
fn engine_alone(a: &Args, threads: usize, clients: usize, prompt: usize) -> anyhow::Result<f64> {
    let t = threads.to_string();
    let out = Command::new(&a.batched_bench)
        .args(["-m", &a.model, "-t", &t, "-tb", &t])
        .args(["-c", &(a.slots * a.context_per_slot).to_string()])
        .args(["-b", "512", "-ub", "512"])
        .args(["-npp", &prompt.to_string(), "-ntg", &a.tokens.to_string()])
        .args(["-npl", &clients.to_string()])
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("running {} (run bench/llama-server.sh)", a.batched_bench))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() >= 11 && cells[3] == clients.to_string() {
            let total: f64 = cells[9].parse()?;
            return Ok((clients as u64 * u64::from(a.tokens)) as f64 / total);
        }
    }
    bail!("no result line from llama-batched-bench:\n{text}")
}

/// Prompt tokens of one benchmark prompt, counted by the service.
async fn prompt_tokens(t: &Target) -> anyhow::Result<usize> {
    let r: Value = reqwest::Client::new()
        .post(format!("{}/v1/tokenize", t.base))
        .bearer_auth(t.token.as_deref().unwrap_or_default())
        .json(&json!({ "content": prompt(), "add_special": true }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    r["tokens"]
        .as_array()
        .map(Vec::len)
        .context("tokenize answer without tokens")
}

/// Read bandwidth in bytes/s: `threads` threads summing their share of a
/// buffer much larger than the caches, best of five passes.
fn bandwidth(threads: usize) -> f64 {
    const BYTES: usize = 1 << 30;
    let words = BYTES / 8;
    let data: Vec<u64> = (0..words as u64).collect();
    let chunk = words.div_ceil(threads);
    let mut best = 0f64;
    for _ in 0..5 {
        let started = Instant::now();
        let sum: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = data
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().fold(0u64, |a, &x| a.wrapping_add(x))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .fold(0, u64::wrapping_add)
        });
        std::hint::black_box(sum);
        best = best.max(BYTES as f64 / started.elapsed().as_secs_f64());
    }
    best
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let levels: Vec<usize> = a
        .clients
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let model_bytes = std::fs::metadata(&a.model)
        .with_context(|| format!("model {}", a.model))?
        .len();

    let env = [
        ("SCRIPTORIUM_LLM__MODEL", a.model.clone()),
        ("SCRIPTORIUM_LLM__MODEL_ID", "bench".to_string()),
        ("SCRIPTORIUM_LLM__THREADS", threads.to_string()),
        ("SCRIPTORIUM_LLM__SLOTS", a.slots.to_string()),
        (
            "SCRIPTORIUM_LLM__CONTEXT_PER_SLOT",
            a.context_per_slot.to_string(),
        ),
        ("SCRIPTORIUM_LLM__BATCH_SIZE", "512".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ours = scriptorium_bench::start_targets(&a.server, "auth,llm", None, &env).await?;
    let token = scriptorium_bench::account(&ours.base, "bench", PASSWORD).await?;
    let (_reference, reference_base) = start_llama_server(&a, threads).await?;
    let targets = [
        Target {
            name: "scriptorium",
            base: ours.base.clone(),
            token: Some(token),
            model: "bench".into(),
        },
        Target {
            name: "llama-server",
            base: reference_base,
            token: None,
            model: "bench".into(),
        },
    ];
    // Warm both (page the weights in, first-call allocations).
    for t in &targets {
        turn(t, 1, 1, 8).await?;
    }

    println!(
        "model {} ({:.0} MB), {threads} threads, {} slots, {} output tokens per request; per level the servers take {} turns each of {} requests per client",
        a.model,
        model_bytes as f64 / 1e6,
        a.slots,
        a.tokens,
        a.turns,
        a.rounds
    );
    println!();
    println!(
        "| clients | server       | tokens/s | vs llama-server | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |"
    );
    println!(
        "|--------:|--------------|---------:|----------------:|------------:|------------:|-----------:|-----------:|"
    );
    let mut batch1 = None;
    let mut ceilings = Vec::new();
    for &c in &levels {
        let mut pooled: Vec<(Sample, f64)> = targets.iter().map(|_| Default::default()).collect();
        for _ in 0..a.turns.max(1) {
            for (t, (sample, wall)) in targets.iter().zip(&mut pooled) {
                let (s, w) = turn(t, c, a.rounds, a.tokens).await?;
                sample.absorb(s);
                *wall += w;
            }
        }
        let rows: Vec<Row> = pooled.into_iter().map(|(s, w)| s.row(w)).collect();
        let reference = rows[1].tokens_per_sec;
        ceilings.push((c, reference));
        for (t, r) in targets.iter().zip(&rows) {
            println!(
                "| {c:>7} | {:<12} | {:>8.1} | {:>14.2}x | {:>11.0} | {:>11.0} | {:>10.1} | {:>10.1} |{}",
                t.name,
                r.tokens_per_sec,
                r.tokens_per_sec / reference,
                r.ttft.0 * 1e3,
                r.ttft.1 * 1e3,
                r.itl.0 * 1e3,
                r.itl.1 * 1e3,
                if r.short > 0 {
                    format!(" ({} requests ended early)", r.short)
                } else {
                    String::new()
                }
            );
        }
        if c == 1 {
            batch1 = Some(1.0 / rows[0].itl.0);
        }
    }
    let prompt_len = prompt_tokens(&targets[0]).await?;
    drop(ours);
    drop(_reference);
    println!();
    println!(
        "engine alone (llama-batched-bench: {prompt_len} prompt tokens, {} output tokens per sequence, all prompts in one batch, no server):",
        a.tokens
    );
    println!();
    println!("| clients | output tokens/s | vs llama-server |");
    println!("|--------:|----------------:|----------------:|");
    for (c, reference) in ceilings {
        let alone = engine_alone(&a, threads, c, prompt_len)?;
        println!("| {c:>7} | {alone:>15.1} | {:>14.2}x |", alone / reference);
    }
    let bw = bandwidth(threads);
    let bound = bw / model_bytes as f64;
    println!();
    println!(
        "memory bandwidth ({threads} threads, read): {:.1} GB/s; model {:.0} MB per token -> bound {:.1} tokens/s",
        bw / 1e9,
        model_bytes as f64 / 1e6,
        bound
    );
    if let Some(b1) = batch1 {
        println!(
            "batch-1 decode (1 / ITL p50): {b1:.1} tokens/s = {:.0}% of the bound",
            100.0 * b1 / bound
        );
    }
    Ok(())
}
