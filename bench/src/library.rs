//! Library benchmark: the same scanned pages (50 by default, A4 at 300 dpi,
//! in PDFs of 10) through
//!
//! - the documents service: every PDF uploaded at once, timed from the
//!   first upload to the last document `done` (durable: originals in the
//!   blob store, each page stored as it is read), then its searchable PDFs;
//! - `/v1/ocr` called synchronously on the same PDFs, as many at once as
//!   there are cores (the cost of durability is the difference); the
//!   library and `/v1/ocr` take turns (`--turns`, each first in turn) and
//!   their figures are pooled;
//! - OCRmyPDF (PyPI `ocrmypdf` with Debian's Tesseract and Ghostscript,
//!   `--jobs` = cores, `--output-type pdf`) making searchable PDFs of them,
//!   one after the other.
//!
//! Prints pages/s, CPU seconds per page, the character error rate against
//! the text drawn (for PDFs, of `pdftotext` of the output) and the output
//! PDFs' bytes. Targets: the service within 5% of `/v1/ocr`, and at least
//! 1.5x OCRmyPDF's pages/s with CER and size no worse.
//!
//! Run: `bench/library.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use scriptorium_bench::{children_cpu, cpu_of, Run, PASSWORD};
use serde_json::Value;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/scriptorium")]
    server: String,
    #[arg(long, default_value_t = 50)]
    pages: usize,
    #[arg(long, default_value_t = 10)]
    per_document: usize,
    #[arg(long, default_value = "fra+eng")]
    languages: String,
    /// The library and `/v1/ocr` take turns this many times, each going
    /// first in turn; their figures are pooled.
    #[arg(long, default_value_t = 2)]
    turns: usize,
    /// The `ocrmypdf` program.
    #[arg(long, default_value = "ocrmypdf")]
    ocrmypdf: String,
}

/// A scanned PDF and the text of each of its pages.
struct Scan {
    path: PathBuf,
    bytes: Vec<u8>,
    truth: Vec<String>,
}

fn make_scans(dir: &Path, args: &Args) -> anyhow::Result<Vec<Scan>> {
    let mut scans = Vec::new();
    for d in 0..args.pages.div_ceil(args.per_document) {
        let first = d * args.per_document;
        let last = (first + args.per_document).min(args.pages);
        let mut specs = Vec::new();
        let mut truth = Vec::new();
        for n in first..last {
            let lines = fixtures::sentences(n, 28, 9);
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let img = fixtures::render_on(&refs, 50.0, Some((2480, 3508)));
            let mut jpeg = Vec::new();
            img.write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )?;
            specs.push(fixtures::PdfPageSpec::Jpeg {
                data: jpeg,
                width: img.width(),
                height: img.height(),
            });
            truth.push(lines.join("\n"));
        }
        let bytes = fixtures::pdf(&specs);
        let path = dir.join(format!("scan-{d}.pdf"));
        std::fs::write(&path, &bytes)?;
        scans.push(Scan { path, bytes, truth });
    }
    Ok(scans)
}

struct Row {
    name: String,
    run: Run,
    pdf_bytes: Option<u64>,
}

/// Pool another run of the same runner into `rows`.
fn pooled(rows: &mut Option<Row>, other: Row) {
    match rows {
        Some(row) => {
            row.run.absorb(other.run);
            row.pdf_bytes = row.pdf_bytes.max(other.pdf_bytes);
        }
        None => *rows = Some(other),
    }
}

fn cer_of(texts: &[String], truth: &[String]) -> f64 {
    texts
        .iter()
        .zip(truth)
        .map(|(got, want)| fixtures::cer(got, want))
        .sum()
}

/// Page `n` (1-based) of a PDF as `pdftotext` reads it.
fn pdftotext(pdf: &Path, n: usize) -> anyhow::Result<String> {
    let n = n.to_string();
    let out = Command::new("pdftotext")
        .args(["-f", &n, "-l", &n])
        .arg(pdf)
        .arg("-")
        .output()
        .context("running pdftotext (poppler-utils)")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn get_json(client: &reqwest::Client, url: String, token: &str) -> anyhow::Result<Value> {
    let r = client.get(url).bearer_auth(token).send().await?;
    if !r.status().is_success() {
        bail!("{}", r.status());
    }
    Ok(r.json().await?)
}

async fn run_library(args: &Args, scans: &[Scan], dir: &Path) -> anyhow::Result<(Row, Row)> {
    let documents_url = format!("sqlite://{}/documents.db?mode=rwc", dir.display());
    let blobs = dir.join("blobs").display().to_string();
    let server = scriptorium_bench::start_targets(
        &args.server,
        "auth,ocr,documents",
        None,
        &[
            (
                "SCRIPTORIUM_DOCUMENTS__DATABASE_URL",
                documents_url.as_str(),
            ),
            ("SCRIPTORIUM_DOCUMENTS__BLOBS__PATH", blobs.as_str()),
            (
                "SCRIPTORIUM_OCR__DEFAULT_LANGUAGES",
                args.languages.as_str(),
            ),
        ],
    )
    .await?;
    let base = server.base.clone();
    let token = scriptorium_bench::account(&base, "library", PASSWORD).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let langs = args.languages.replace('+', "%2B");

    let cpu_before = cpu_of(server.pid())?;
    let start = Instant::now();
    let mut ids = Vec::new();
    for (d, scan) in scans.iter().enumerate() {
        let r = client
            .post(format!(
                "{base}/v1/documents?languages={langs}&name=scan-{d}.pdf"
            ))
            .bearer_auth(&token)
            .body(scan.bytes.clone())
            .send()
            .await?;
        if r.status() != reqwest::StatusCode::ACCEPTED {
            bail!("upload: {} {}", r.status(), r.text().await?);
        }
        let doc: Value = r.json().await?;
        ids.push(doc["id"].as_str().unwrap_or_default().to_owned());
    }
    for id in &ids {
        scriptorium_bench::wait_done(&client, &base, &token, id, Duration::from_secs(3600)).await?;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_of(server.pid())? - cpu_before;
    let mut cer = 0.0;
    for (id, scan) in ids.iter().zip(scans) {
        let doc = get_json(&client, format!("{base}/v1/documents/{id}/json"), &token).await?;
        let texts: Vec<String> = doc["pages"]
            .as_array()
            .context("pages")?
            .iter()
            .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
            .collect();
        cer += cer_of(&texts, &scan.truth);
    }
    let pages = scans.iter().map(|s| s.truth.len()).sum();
    let read = Row {
        name: "documents service: upload to done".into(),
        run: Run {
            pages,
            wall,
            cpu,
            cer,
        },
        pdf_bytes: None,
    };

    // Then the searchable PDFs, read back as a viewer would.
    let cpu_before = cpu_of(server.pid())?;
    let start = Instant::now();
    let mut bytes = 0;
    let mut cer = 0.0;
    for (d, (id, scan)) in ids.iter().zip(scans).enumerate() {
        let r = client
            .get(format!("{base}/v1/documents/{id}/pdf"))
            .bearer_auth(&token)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("pdf: {}", r.status());
        }
        let pdf = r.bytes().await?;
        bytes += pdf.len() as u64;
        let path = dir.join(format!("searchable-{d}.pdf"));
        std::fs::write(&path, &pdf)?;
        let texts: Vec<String> = (1..=scan.truth.len())
            .map(|n| pdftotext(&path, n))
            .collect::<Result<_, _>>()?;
        cer += cer_of(&texts, &scan.truth);
    }
    let made = Row {
        name: "documents service: its searchable PDFs (pdftotext)".into(),
        run: Run {
            pages,
            wall: start.elapsed().as_secs_f64() + read.run.wall,
            cpu: cpu_of(server.pid())? - cpu_before + read.run.cpu,
            cer,
        },
        pdf_bytes: Some(bytes),
    };
    Ok((read, made))
}

async fn run_ocr(args: &Args, scans: &[Scan], cores: usize) -> anyhow::Result<Row> {
    let server = scriptorium_bench::start_targets(
        &args.server,
        "auth,ocr",
        None,
        &[(
            "SCRIPTORIUM_OCR__DEFAULT_LANGUAGES",
            args.languages.as_str(),
        )],
    )
    .await?;
    let base = server.base.clone();
    let token = scriptorium_bench::account(&base, "ocr", PASSWORD).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let langs = args.languages.replace('+', "%2B");
    let cpu_before = cpu_of(server.pid())?;
    let start = Instant::now();
    use futures::StreamExt;
    let answers: Vec<anyhow::Result<Value>> = futures::stream::iter(scans.iter().map(|scan| {
        let (client, base, token, langs) = (&client, &base, &token, &langs);
        async move {
            let r = client
                .post(format!("{base}/v1/ocr?languages={langs}"))
                .bearer_auth(token)
                .body(scan.bytes.clone())
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("ocr: {}", r.status());
            }
            Ok(r.json::<Value>().await?)
        }
    }))
    .buffered(cores)
    .collect()
    .await;
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_of(server.pid())? - cpu_before;
    let mut cer = 0.0;
    for (answer, scan) in answers.into_iter().zip(scans) {
        let doc = answer?;
        let texts: Vec<String> = doc["pages"]
            .as_array()
            .context("pages")?
            .iter()
            .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
            .collect();
        cer += cer_of(&texts, &scan.truth);
    }
    Ok(Row {
        name: format!("/v1/ocr, {cores} documents at once"),
        run: Run {
            pages: scans.iter().map(|s| s.truth.len()).sum(),
            wall,
            cpu,
            cer,
        },
        pdf_bytes: None,
    })
}

fn run_ocrmypdf(args: &Args, scans: &[Scan], dir: &Path, cores: usize) -> anyhow::Result<Row> {
    let cpu_before = children_cpu();
    let start = Instant::now();
    let mut outputs = Vec::new();
    for (d, scan) in scans.iter().enumerate() {
        let out = dir.join(format!("ocrmypdf-{d}.pdf"));
        let status = Command::new(&args.ocrmypdf)
            .args([
                "--jobs",
                &cores.to_string(),
                "--output-type",
                "pdf",
                "--quiet",
            ])
            .args(["-l", &args.languages])
            .arg(&scan.path)
            .arg(&out)
            .status()
            .with_context(|| format!("running {}", args.ocrmypdf))?;
        if !status.success() {
            bail!("ocrmypdf failed on {}", scan.path.display());
        }
        outputs.push(out);
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu_before;
    let mut cer = 0.0;
    let mut bytes = 0;
    for (out, scan) in outputs.iter().zip(scans) {
        bytes += std::fs::metadata(out)?.len();
        let texts: Vec<String> = (1..=scan.truth.len())
            .map(|n| pdftotext(out, n))
            .collect::<Result<_, _>>()?;
        cer += cer_of(&texts, &scan.truth);
    }
    Ok(Row {
        name: format!("OCRmyPDF --jobs {cores} --output-type pdf (pdftotext)"),
        run: Run {
            pages: scans.iter().map(|s| s.truth.len()).sum(),
            wall,
            cpu,
            cer,
        },
        pdf_bytes: Some(bytes),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cores = std::thread::available_parallelism()?.get();
    let dir = tempfile::tempdir()?;
    let scans = make_scans(dir.path(), &args)?;
    let input: u64 = scans.iter().map(|s| s.bytes.len() as u64).sum();
    // The library and /v1/ocr take turns, each going first in turn, and
    // their figures are pooled: a slow spell of a shared machine falls on
    // both.
    let (mut read, mut made, mut ocr) = (None, None, None);
    for turn in 0..args.turns.max(1) {
        if turn % 2 == 1 {
            pooled(&mut ocr, run_ocr(&args, &scans, cores).await?);
        }
        let (library, pdfs) = run_library(&args, &scans, dir.path()).await?;
        pooled(&mut read, library);
        pooled(&mut made, pdfs);
        if turn % 2 == 0 {
            pooled(&mut ocr, run_ocr(&args, &scans, cores).await?);
        }
    }
    let (read, made, ocr) = (
        read.context("no turn")?,
        made.context("no turn")?,
        ocr.context("no turn")?,
    );
    let reference = run_ocrmypdf(&args, &scans, dir.path(), cores)?;
    println!(
        "\n{} scanned pages (A4, 300 dpi, grey JPEG) in PDFs of {}, {input} bytes in all; languages {}; {cores} cores; library and /v1/ocr pooled over {} turns\n",
        args.pages, args.per_document, args.languages, args.turns.max(1)
    );
    println!("| runner | pages/s | CPU s/page | CER | output PDF bytes |");
    println!("|---|---:|---:|---:|---:|");
    for row in [&read, &ocr, &made, &reference] {
        println!(
            "| {} | {:.3} | {:.2} | {:.4} | {} |",
            row.name,
            row.run.pages_per_sec(),
            row.run.cpu_per_page(),
            row.run.cer_per_page(),
            row.pdf_bytes.map_or("-".into(), |b| b.to_string())
        );
    }
    let rate = |r: &Row| r.run.pages_per_sec();
    println!(
        "\ndurability: the library at {:.1}% of /v1/ocr's pages/s; searchable PDFs at {:.2}x OCRmyPDF's pages/s",
        100.0 * rate(&read) / rate(&ocr),
        rate(&made) / rate(&reference)
    );
    Ok(())
}
