//! OCR benchmark: the same pages through (a) the service, with twice as many
//! requests in flight as cores (so the queue never runs dry while a
//! response travels and the next upload is decoded, as a batch client or
//! the library keeps it; one row with as many as cores for comparison) and
//! (b) the `tesseract` command line, once per page, N processes in parallel
//! with `OMP_THREAD_LIMIT=1` and the same languages.
//! Prints pages/s, CPU seconds per page and the character error rate of each
//! against the ground truth, on upright PNG pages, on turned ones (the
//! service's default must turn them back), and on bilevel Group 4 TIFFs.
//!
//! Run: `bench/ocr.sh [--pages 20]`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use scriptorium_bench::{children_cpu, cpu_of, Run, PASSWORD};
use tokio::sync::Semaphore;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/scriptorium")]
    server: String,
    #[arg(long, default_value_t = 20)]
    pages: usize,
    #[arg(long, default_value = "fra+eng")]
    languages: String,
    /// The runners take turns this many times over the pages and their
    /// figures are pooled, so a slow spell on a shared machine falls on all.
    #[arg(long, default_value_t = 2)]
    turns: usize,
    /// Requests in flight against the service (default: twice the cores).
    #[arg(long)]
    requests: Option<usize>,
}

struct Row {
    name: String,
    run: Run,
}

/// How the benchmark's pages are stored.
#[derive(Clone, Copy)]
enum Kind {
    /// 8-bit grey PNG, upright.
    Upright,
    /// The same PNG turned 90, 180 or 270 degrees clockwise, in turn.
    Turned,
    /// A bilevel CCITT Group 4 TIFF, as a document scanner writes it
    /// (made from the PNG with ImageMagick).
    Group4,
}

fn make_pages(dir: &Path, n: usize, kind: Kind) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut pages = Vec::new();
    for i in 0..n {
        let lines = fixtures::sentences(i, 28, 9);
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        // A4 at 300 dpi, 12 pt text.
        let img = fixtures::render_on(&refs, 50.0, Some((2480, 3508)));
        let png = dir.join(format!("page-{i:03}.png"));
        let path = match kind {
            Kind::Upright => {
                img.save(&png)?;
                png
            }
            Kind::Turned => {
                let turned = match i % 3 {
                    0 => image::imageops::rotate90(&img),
                    1 => image::imageops::rotate180(&img),
                    _ => image::imageops::rotate270(&img),
                };
                let path = dir.join(format!("turned-{i:03}.png"));
                turned.save(&path)?;
                path
            }
            Kind::Group4 => {
                img.save(&png)?;
                let path = dir.join(format!("page-{i:03}.tif"));
                let made = Command::new("convert")
                    .arg(&png)
                    .args(["-threshold", "50%", "-depth", "1", "-compress", "Group4"])
                    .args(["-density", "300", "-units", "PixelsPerInch"])
                    .arg(&path)
                    .status()
                    .context("running ImageMagick's convert")?;
                if !made.success() {
                    bail!("convert failed on {}", png.display());
                }
                path
            }
        };
        pages.push((path, lines.join("\n")));
    }
    Ok(pages)
}

async fn run_service(
    args: &Args,
    pages: &[(PathBuf, String)],
    requests: usize,
    orientation: &str,
    what: &str,
) -> anyhow::Result<Row> {
    // The OCR service in its own process (with auth for the token), as it
    // runs when split: every core is the OCR pool's.
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
    let client = reqwest::Client::new();
    let token = scriptorium_bench::account(&base, "bench", PASSWORD).await?;

    let bodies: Vec<Vec<u8>> = pages
        .iter()
        .map(|(p, _)| std::fs::read(p))
        .collect::<Result<_, _>>()?;
    let cpu_before = cpu_of(server.pid())?;
    let start = Instant::now();
    let gate = Arc::new(Semaphore::new(requests));
    let mut tasks = Vec::new();
    for body in bodies {
        let (gate, client, token, base) =
            (gate.clone(), client.clone(), token.clone(), base.clone());
        let langs = args.languages.replace('+', "%2B");
        let orientation = orientation.to_owned();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let r = client
                .post(format!(
                    "{base}/v1/ocr?format=text&languages={langs}&orientation={orientation}"
                ))
                .bearer_auth(token)
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("service answered {}", r.status());
            }
            Ok::<_, anyhow::Error>(r.text().await?)
        }));
    }
    let mut texts = Vec::new();
    for t in tasks {
        texts.push(t.await??);
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_of(server.pid())? - cpu_before;
    Ok(Row {
        name: format!("service, {requests} concurrent requests, orientation={orientation}, {what}"),
        run: Run {
            pages: pages.len(),
            wall,
            cpu,
            cer: cer_sum(&texts, pages),
        },
    })
}

fn run_cli(
    args: &Args,
    pages: &[(PathBuf, String)],
    cores: usize,
    what: &str,
) -> anyhow::Result<Row> {
    let cpu_before = children_cpu();
    let start = Instant::now();
    let mut texts = vec![String::new(); pages.len()];
    let mut next = 0;
    let mut running: Vec<(usize, Child)> = Vec::new();
    while next < pages.len() || !running.is_empty() {
        while running.len() < cores && next < pages.len() {
            let child = Command::new("tesseract")
                .arg(&pages[next].0)
                .args(["stdout", "-l", &args.languages])
                .env("OMP_THREAD_LIMIT", "1")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .context("running tesseract")?;
            running.push((next, child));
            next += 1;
        }
        // Collect whichever process finished first.
        let done = loop {
            let mut found = None;
            for (k, (_, child)) in running.iter_mut().enumerate() {
                if child.try_wait()?.is_some() {
                    found = Some(k);
                    break;
                }
            }
            match found {
                Some(k) => break k,
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        let (i, child) = running.remove(done);
        let out = child.wait_with_output()?;
        texts[i] = String::from_utf8_lossy(&out.stdout).into_owned();
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu_before;
    Ok(Row {
        name: format!("tesseract CLI, {cores} processes, {what}"),
        run: Run {
            pages: pages.len(),
            wall,
            cpu,
            cer: cer_sum(&texts, pages),
        },
    })
}

fn cer_sum(texts: &[String], pages: &[(PathBuf, String)]) -> f64 {
    texts
        .iter()
        .zip(pages)
        .map(|(got, (_, want))| fixtures::cer(got, want))
        .sum::<f64>()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cores = std::thread::available_parallelism()?.get();
    let dir = std::env::temp_dir().join(format!("scriptorium-ocr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let upright = make_pages(&dir, args.pages, Kind::Upright)?;
    let turned = make_pages(&dir, args.pages, Kind::Turned)?;
    let group4 = make_pages(&dir, args.pages, Kind::Group4)?;
    // orientation=none does the same work as the command line (PSM 3, no
    // OSD); orientation=auto is the service's default (the orientation
    // pass when a first reading is poor). Turned pages: the default must
    // find and undo the turn. Group 4: bilevel scans, which the command
    // line reads natively too.
    let requests = args.requests.unwrap_or(2 * cores);
    let once = |rows: Option<Vec<Row>>| async {
        let runs = vec![
            run_cli(&args, &upright, cores, "PNG")?,
            run_service(&args, &upright, requests, "none", "PNG").await?,
            run_service(&args, &upright, requests, "auto", "PNG").await?,
            run_service(&args, &upright, cores, "auto", "PNG").await?,
            run_service(&args, &turned, requests, "auto", "PNG turned 90/180/270").await?,
            run_cli(&args, &group4, cores, "G4 TIFF")?,
            run_service(&args, &group4, requests, "auto", "G4 TIFF").await?,
        ];
        Ok::<_, anyhow::Error>(match rows {
            None => runs,
            Some(mut rows) => {
                for (row, run) in rows.iter_mut().zip(runs) {
                    row.run.absorb(run.run);
                }
                rows
            }
        })
    };
    let mut rows = once(None).await?;
    for _ in 1..args.turns.max(1) {
        rows = once(Some(rows)).await?;
    }
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }

    println!(
        "# OCR benchmark: {} pages, A4 at 300 dpi (2480x3508), 12 pt DejaVu Sans, English and French, languages {}, {cores} cores, {} turns pooled",
        args.pages,
        args.languages,
        args.turns.max(1)
    );
    println!();
    println!("| runner | pages/s | CPU s/page | CER | pages/s vs CLI on the same files |");
    println!("|---|---:|---:|---:|---:|");
    // The command line's rows: PNG (0) for the PNG rows, G4 (5) for G4.
    for (i, row) in rows.iter().enumerate() {
        let reference = if i >= 5 { &rows[5] } else { &rows[0] };
        println!(
            "| {} | {:.3} | {:.2} | {:.4} | {:.2}x |",
            row.name,
            row.run.pages_per_sec(),
            row.run.cpu_per_page(),
            row.run.cer_per_page(),
            row.run.pages_per_sec() / reference.run.pages_per_sec()
        );
    }
    Ok(())
}
