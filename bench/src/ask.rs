//! Asking benchmark: four generated product manuals (born-digital PDFs, 12
//! pages each) whose facts sit on known pages, every product with the same
//! kinds of fact (so the product's name must be found too), and a question
//! set in English and French, plus questions about facts that are absent.
//! Each question is asked through `/v1/ask` with the answer streamed.
//!
//! Prints one table: questions, recall@5 (the fact's page among the first
//! five passages the model was given), citation accuracy (the answer cites
//! the fact's page), answer accuracy (the answer holds the fact's value),
//! "not found" accuracy on the absent facts, the answers that ran to the
//! token cap (a small model repeating itself), and time to first token and
//! to the whole answer, p50 and p99; a row per model and frequency penalty.
//!
//! Run: `bench/ask.sh`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use client::ask::AskEvent;
use client::Caller;
use scriptorium_bench::{percentile, PASSWORD};
use serde_json::Value;
use wire::ask::AskRequest;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/scriptorium")]
    server: String,
    /// The models to compare, one row each.
    #[arg(long = "model", default_values_t = [
        "models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf".to_string(),
        "models/smollm2-135m-instruct-q4_1.gguf".to_string(),
    ])]
    models: Vec<String>,
    /// The answers' frequency penalties to compare, one row each per model
    /// (`documents.ask.frequency_penalty`).
    #[arg(long = "frequency-penalty", default_values_t = [0.0, 0.5])]
    penalties: Vec<f32>,
}

const PRODUCTS: [&str; 4] = [
    "Halcyon pump",
    "Borealis heater",
    "Cygnet kettle",
    "Tamaris fan",
];
const FILLER: [&str; 7] = [
    "installation",
    "cleaning",
    "noise",
    "storage",
    "transport",
    "safety",
    "alarms",
];
const PAGES: usize = 12;

/// A fact of a product: the sentence on its page, the question, and the
/// words the right answer holds.
struct Fact {
    product: usize,
    page: usize,
    sentence: String,
    question: String,
    value: String,
}

fn facts() -> Vec<Fact> {
    let services = ["Nordwind", "Solaris", "Arcadia", "Meridian"];
    let mut out = Vec::new();
    for (i, p) in PRODUCTS.iter().enumerate() {
        let months = 12 * (i + 1);
        let kilos = 3 + 2 * i;
        let volts = [110, 230, 400, 24][i];
        let weeks = 2 + i;
        let kinds = [
            (
                format!("The {p} is under warranty for {months} months from the date of purchase."),
                format!("How long is the warranty of the {p}?"),
                format!("{months}"),
            ),
            (
                format!("The {p} weighs {kilos} kilograms without its cable."),
                format!("How much does the {p} weigh?"),
                format!("{kilos}"),
            ),
            (
                format!("Repairs of the {p} are made by {} Service.", services[i]),
                format!("Who repairs the {p}?"),
                services[i].to_owned(),
            ),
            (
                format!("Le {p} fonctionne sous une tension de {volts} volts."),
                format!("Quelle est la tension du {p} ?"),
                format!("{volts}"),
            ),
            (
                format!("The filter of the {p} must be changed every {weeks} weeks."),
                format!("How often must the filter of the {p} be changed?"),
                format!("{weeks}"),
            ),
        ];
        for (k, (sentence, question, value)) in kinds.into_iter().enumerate() {
            out.push(Fact {
                product: i,
                // Pages 2 to 12, a different one per product and kind.
                page: 2 + (k * 2 + i) % (PAGES - 1),
                sentence,
                question,
                value,
            });
        }
    }
    out
}

/// Questions whose answer is in no document.
fn absent() -> Vec<String> {
    vec![
        "What is the boiling point of mercury?".into(),
        "Who wrote the novel Moby Dick?".into(),
        "What colour is the Halcyon pump?".into(),
        "Quel est le prix du Tamaris fan ?".into(),
    ]
}

fn manual(product: usize, facts: &[Fact]) -> Vec<u8> {
    let name = PRODUCTS[product];
    let specs: Vec<_> = (1..=PAGES)
        .map(|page| {
            let mut lines = vec![format!("{name} manual, page {page}")];
            let here: Vec<&Fact> = facts
                .iter()
                .filter(|f| f.product == product && f.page == page)
                .collect();
            let topic = FILLER[(page + product) % FILLER.len()];
            lines.push(format!("This page explains the {topic} of the {name}."));
            for fact in &here {
                lines.push(fact.sentence.clone());
            }
            lines.push(format!(
                "Read the {topic} notes before you use the {name} again."
            ));
            lines.push("Keep the appliance dry and away from children.".into());
            fixtures::PdfPageSpec::Text(lines)
        })
        .collect();
    fixtures::pdf(&specs)
}

struct Answer {
    first_piece: Option<Duration>,
    whole: Duration,
    text: String,
    found: bool,
    cited: Vec<(String, u32)>,
    given: Vec<(String, u32)>,
    /// Tokens the model wrote.
    tokens: u32,
}

async fn ask(api: &client::Client, token: &str, question: &str) -> anyhow::Result<Answer> {
    let started = Instant::now();
    let request = AskRequest {
        question: question.to_owned(),
        ..AskRequest::default()
    };
    let mut events = api
        .documents()
        .ask_stream(&Caller::default(), token, &request)
        .await?;
    let mut answer = Answer {
        first_piece: None,
        whole: Duration::ZERO,
        text: String::new(),
        found: false,
        cited: Vec::new(),
        given: Vec::new(),
        tokens: 0,
    };
    while let Some(event) = events.next().await {
        match event {
            AskEvent::Started { .. } => {}
            AskEvent::Done { usage } => {
                answer.tokens = usage.map_or(0, |u| u.completion_tokens);
            }
            AskEvent::Piece(p) => {
                answer.first_piece.get_or_insert_with(|| started.elapsed());
                answer.text.push_str(&p);
            }
            AskEvent::Citations {
                found,
                citations,
                passages,
            } => {
                answer.found = found;
                answer.cited = citations
                    .into_iter()
                    .map(|c| (c.document_id, c.page))
                    .collect();
                answer.given = passages
                    .into_iter()
                    .map(|p| (p.document_id, p.page))
                    .collect();
            }
            AskEvent::Failed(e) => bail!("{question}: {e}"),
        }
    }
    answer.whole = started.elapsed();
    Ok(answer)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rows = Vec::new();
    for model in &args.models {
        for penalty in &args.penalties {
            rows.push(run(&args.server, model, *penalty).await?);
        }
    }
    println!(
        "{} manuals of {PAGES} pages (born-digital), {} facts, {} absent; answers streamed, one at a time",
        PRODUCTS.len(),
        facts().len(),
        absent().len()
    );
    println!(
        "| model | frequency penalty | recall@5 | cites the page | answer right | absent: not found | answers at the token cap | first token p50 / p99 (ms) | whole answer p50 / p99 (ms) |"
    );
    println!("|---|---:|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// The table's row for `model` with this frequency penalty.
async fn run(server: &str, model: &str, penalty: f32) -> anyhow::Result<String> {
    let penalty_setting = penalty.to_string();
    let dir = tempfile::tempdir()?;
    let documents_url = format!("sqlite://{}/documents.db?mode=rwc", dir.path().display());
    let blobs = dir.path().join("blobs").display().to_string();
    let server = scriptorium_bench::start_targets(
        server,
        "auth,ocr,documents,llm",
        None,
        &[
            (
                "SCRIPTORIUM_DOCUMENTS__DATABASE_URL",
                documents_url.as_str(),
            ),
            ("SCRIPTORIUM_DOCUMENTS__BLOBS__PATH", blobs.as_str()),
            ("SCRIPTORIUM_LLM__MODEL", model),
            (
                "SCRIPTORIUM_DOCUMENTS__ASK__FREQUENCY_PENALTY",
                penalty_setting.as_str(),
            ),
        ],
    )
    .await?;
    let base = server.base.clone();
    let token = scriptorium_bench::account(&base, "asker", PASSWORD).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let api = client::Client::http(&base, http.clone());

    let facts = facts();
    let mut ids = Vec::new();
    for product in 0..PRODUCTS.len() {
        let r = http
            .post(format!("{base}/v1/documents?name=manual-{product}.pdf"))
            .bearer_auth(&token)
            .header("content-type", "application/pdf")
            .body(manual(product, &facts))
            .send()
            .await?;
        if r.status() != reqwest::StatusCode::ACCEPTED {
            bail!("upload: {} {}", r.status(), r.text().await?);
        }
        let doc: Value = r.json().await?;
        ids.push(doc["id"].as_str().context("no id")?.to_owned());
    }
    for id in &ids {
        scriptorium_bench::wait_done(&http, &base, &token, id, Duration::from_secs(300)).await?;
    }

    let (mut recalled, mut cited, mut correct) = (0, 0, 0);
    // Answers that ran to the cap: a small model repeating itself.
    let cap = documents::config::AskConfig::default().answer_tokens;
    let mut capped = 0;
    let (mut first, mut whole) = (Vec::new(), Vec::new());
    for fact in &facts {
        let a = ask(&api, &token, &fact.question).await?;
        let want = (ids[fact.product].clone(), fact.page as u32);
        let recall = a.given.iter().take(5).any(|g| *g == want);
        let cites = a.cited.contains(&want);
        let right = a.text.to_lowercase().contains(&fact.value.to_lowercase());
        recalled += usize::from(recall);
        cited += usize::from(cites);
        correct += usize::from(right);
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            eprintln!(
                "{} | recall {recall} cites {cites} right {right} | {}",
                fact.question,
                a.text.replace('\n', " ")
            );
        }
        capped += usize::from(a.tokens >= cap);
        first.extend(a.first_piece.map(ms));
        whole.push(ms(a.whole));
    }
    let mut not_found = 0;
    let absent = absent();
    for question in &absent {
        let a = ask(&api, &token, question).await?;
        let said = !a.found;
        not_found += usize::from(said);
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            eprintln!(
                "{question} | not found {said} | {}",
                a.text.replace('\n', " ")
            );
        }
        capped += usize::from(a.tokens >= cap);
        first.extend(a.first_piece.map(ms));
        whole.push(ms(a.whole));
    }
    drop(server);

    let n = facts.len();
    let share = |k: usize, of: usize| format!("{k}/{of} ({:.0}%)", 100.0 * k as f64 / of as f64);
    let name = std::path::Path::new(model)
        .file_name()
        .map_or(model.into(), |f| f.to_string_lossy());
    Ok(format!(
        "| {name} | {penalty} | {} | {} | {} | {} | {} | {:.0} / {:.0} | {:.0} / {:.0} |",
        share(recalled, n),
        share(cited, n),
        share(correct, n),
        share(not_found, absent.len()),
        share(capped, n + absent.len()),
        percentile(&mut first, 0.5),
        percentile(&mut first, 0.99),
        percentile(&mut whole, 0.5),
        percentile(&mut whole, 0.99),
    ))
}
