//! The OCR service: options, the engine pool, and a whole document's run.

use std::path::{Path, PathBuf};

use futures_util::future::try_join_all;
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::OcrConfig;
use crate::decode::{self, Limits};
use crate::engine::{EnginePool, PageJob, Recognized};
use crate::error::OcrError;
use crate::tsv::{self, Block};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Json,
    Text,
    Hocr,
    Tsv,
}

impl std::str::FromStr for OutputFormat {
    type Err = OcrError;
    fn from_str(s: &str) -> Result<Self, OcrError> {
        Ok(match s {
            "json" => Self::Json,
            "text" | "txt" => Self::Text,
            "hocr" => Self::Hocr,
            "tsv" => Self::Tsv,
            other => {
                return Err(OcrError::Option(format!(
                    "format '{other}' (expected json, text, hocr or tsv)"
                )))
            }
        })
    }
}

/// Options of one request, validated.
#[derive(Debug, Clone)]
pub struct Options {
    pub languages: String,
    pub psm: Option<i32>,
    pub dpi: u32,
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PageResult {
    /// 1-based.
    pub page: usize,
    pub width: u32,
    pub height: u32,
    pub text: String,
    pub mean_confidence: i32,
    pub seconds: f64,
    pub blocks: Vec<Block>,
    #[serde(skip)]
    pub hocr: Option<String>,
    #[serde(skip)]
    pub tsv: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Document {
    pub languages: String,
    /// All pages' text, separated by form feeds.
    pub text: String,
    pub pages: Vec<PageResult>,
}

#[derive(Clone)]
pub struct Ocr {
    config: OcrConfig,
    pool: EnginePool,
    installed: Vec<String>,
}

/// Where Tesseract's language files are.
fn tessdata_dir(config: &OcrConfig) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(d) = &config.tessdata {
        candidates.push(d.into());
    }
    if let Ok(d) = std::env::var("TESSDATA_PREFIX") {
        candidates.push(d.into());
    }
    for d in [
        "/usr/share/tesseract-ocr/5/tessdata",
        "/usr/share/tesseract-ocr/4.00/tessdata",
        "/usr/share/tessdata",
        "/usr/local/share/tessdata",
    ] {
        candidates.push(d.into());
    }
    candidates.into_iter().find(|d| d.is_dir())
}

fn installed_languages(dir: Option<&Path>) -> Vec<String> {
    let mut langs: Vec<String> = dir
        .and_then(|d| std::fs::read_dir(d).ok())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".traineddata").map(str::to_owned)
                })
                .filter(|l| l != "osd")
                .collect()
        })
        .unwrap_or_default();
    langs.sort();
    langs
}

impl Ocr {
    /// Start the engine pool with `workers` threads (from the core budget
    /// unless configured).
    pub fn start(config: OcrConfig, workers: usize) -> Self {
        let dir = tessdata_dir(&config);
        let installed = installed_languages(dir.as_deref());
        let workers = config.workers.unwrap_or(workers);
        let pool = EnginePool::start(
            workers,
            config.queue_depth,
            config.tessdata.clone(),
            config.default_languages.clone(),
        );
        tracing::info!(workers, languages = ?installed, "OCR engines starting");
        Self {
            config,
            pool,
            installed,
        }
    }

    pub fn config(&self) -> &OcrConfig {
        &self.config
    }

    pub fn languages(&self) -> &[String] {
        &self.installed
    }

    pub fn ready(&self) -> Result<(), String> {
        if self.installed.is_empty() {
            return Err("no Tesseract language data found".into());
        }
        if self.pool.is_warm() {
            Ok(())
        } else {
            Err("OCR engines warming up".into())
        }
    }

    /// Validate request options against what is installed.
    pub fn options(
        &self,
        languages: Option<&str>,
        psm: Option<i32>,
        dpi: Option<u32>,
        format: Option<&str>,
    ) -> Result<Options, OcrError> {
        let languages = languages
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .unwrap_or(&self.config.default_languages)
            .to_owned();
        for lang in languages.split('+') {
            if !self.installed.iter().any(|l| l == lang) {
                return Err(OcrError::Option(format!(
                    "language '{lang}' is not installed (installed: {})",
                    self.installed.join(", ")
                )));
            }
        }
        if let Some(p) = psm {
            // 0 is orientation detection only; 2 is not implemented by Tesseract.
            if !(1..=13).contains(&p) || p == 2 {
                return Err(OcrError::Option(format!("psm {p} (expected 1 or 3 to 13)")));
            }
        }
        let dpi = dpi.unwrap_or(self.config.default_dpi);
        if !(70..=2400).contains(&dpi) {
            return Err(OcrError::Option(format!("dpi {dpi} (expected 70 to 2400)")));
        }
        let format = format.unwrap_or("json").parse()?;
        Ok(Options {
            languages,
            psm,
            dpi,
            format,
        })
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_pixels: self.config.max_pixels,
            max_side: self.config.max_side,
            max_pages: self.config.max_pages,
        }
    }

    /// Decode and recognize every page; pages run in parallel on the pool.
    #[tracing::instrument(skip_all, name = "ocr_document", fields(bytes = bytes.len()))]
    pub async fn run(&self, bytes: bytes::Bytes, opts: &Options) -> Result<Document, OcrError> {
        let limits = self.limits();
        let pages = tokio::task::spawn_blocking(move || decode::decode(&bytes, &limits))
            .await
            .map_err(|e| OcrError::Upload(e.to_string()))??;
        let hocr = opts.format == OutputFormat::Hocr;
        let jobs = pages.into_iter().enumerate().map(|(i, page)| {
            let (w, h) = (page.width, page.height);
            let job = PageJob {
                languages: opts.languages.clone(),
                psm: opts.psm,
                dpi: opts.dpi,
                hocr,
                page_number: i as i32,
            };
            async move {
                let r: Recognized = self.pool.recognize(page, job).await?;
                Ok::<_, OcrError>(PageResult {
                    page: i + 1,
                    width: w,
                    height: h,
                    blocks: tsv::parse(&r.tsv),
                    text: r.text,
                    mean_confidence: r.mean_confidence,
                    seconds: r.seconds,
                    hocr: r.hocr,
                    tsv: r.tsv,
                })
            }
        });
        let pages = try_join_all(jobs).await?;
        let text = pages
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join("\u{c}");
        Ok(Document {
            languages: opts.languages.clone(),
            text,
            pages,
        })
    }
}
