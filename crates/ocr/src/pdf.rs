//! PDF input through PDFium (the `libpdfium.so` shipped in the `pypdfium2`
//! wheel, BSD/Apache licensed, loaded at run time). Pages that carry a text
//! layer give that text without OCR; the others are rasterized to grey at the
//! requested resolution. PDFium is not thread-safe, so one thread owns it.
//! A page that cannot be loaded or rendered fails alone.

use std::path::PathBuf;

use crossbeam_channel::{bounded, Sender};
use pdfium_render::prelude::*;
use tokio::sync::oneshot;

use crate::decode::{DecodeError, Limits, Page};

/// How PDF pages are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdfMode {
    /// The text layer where a page has one, OCR elsewhere.
    Auto,
    /// OCR every page, ignoring text layers.
    Force,
    /// Text layers only; pages without one come back empty.
    TextOnly,
}

impl std::str::FromStr for PdfMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "force" => Ok(Self::Force),
            "text-only" => Ok(Self::TextOnly),
            other => Err(format!(
                "mode '{other}' (expected auto, force or text-only)"
            )),
        }
    }
}

/// One page of a PDF, ready for the next step.
pub enum PdfPage {
    /// Text from the page's text layer.
    Text {
        width: u32,
        height: u32,
        text: String,
    },
    /// A rasterized page, to be recognized.
    Image(Page),
    /// The page could not be read.
    Failed { error: String },
}

struct Task {
    bytes: bytes::Bytes,
    dpi: u32,
    mode: PdfMode,
    limits: Limits,
    reply: oneshot::Sender<Result<Vec<PdfPage>, DecodeError>>,
}

#[derive(Clone)]
pub struct PdfReader {
    tx: Option<Sender<Task>>,
    problem: Option<String>,
}

/// Where `libpdfium.so` may be: the configured path, the repository's
/// `vendor/pdfium` (set up by `run.sh`), or a system folder.
fn candidates(configured: Option<&str>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = configured.map(PathBuf::from).into_iter().collect();
    out.push("vendor/pdfium/libpdfium.so".into());
    if let Ok(exe) = std::env::current_exe() {
        // target/{debug,release}/scriptorium, or .../deps/<test> under it:
        // the repository root is three or four levels up.
        for up in [3, 4] {
            if let Some(root) = exe.ancestors().nth(up) {
                out.push(root.join("vendor/pdfium/libpdfium.so"));
            }
        }
    }
    out.push("/usr/local/lib/libpdfium.so".into());
    out.push("/usr/lib/libpdfium.so".into());
    out
}

impl PdfReader {
    pub fn start(configured: Option<&str>, queue_depth: usize) -> Self {
        let Some(path) = candidates(configured).into_iter().find(|p| p.is_file()) else {
            let problem =
                "libpdfium.so not found (run.sh installs it into vendor/pdfium)".to_string();
            tracing::warn!("{problem}: PDF input disabled");
            return Self {
                tx: None,
                problem: Some(problem),
            };
        };
        let (tx, rx) = bounded::<Task>(queue_depth.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("pdfium".into())
            .spawn(move || {
                let pdfium = match Pdfium::bind_to_library(&path) {
                    Ok(b) => {
                        let _ = ready_tx.send(Ok(()));
                        Pdfium::new(b)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot load {}: {e}", path.display())));
                        return;
                    }
                };
                while let Ok(task) = rx.recv() {
                    let result = read(&pdfium, &task);
                    let _ = task.reply.send(result);
                }
            })
            .expect("spawn the PDFium thread");
        let problem = match ready_rx.recv() {
            Ok(Ok(())) => {
                return Self {
                    tx: Some(tx),
                    problem: None,
                }
            }
            Ok(Err(problem)) => problem,
            Err(_) => "the PDFium thread stopped".to_string(),
        };
        tracing::warn!("{problem}: PDF input disabled");
        Self {
            tx: None,
            problem: Some(problem),
        }
    }

    /// Why PDF input is unavailable, if it is.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    pub async fn read(
        &self,
        bytes: bytes::Bytes,
        dpi: u32,
        mode: PdfMode,
        limits: Limits,
    ) -> Result<Vec<PdfPage>, DecodeError> {
        let tx = self.tx.as_ref().ok_or(DecodeError::PdfUnavailable)?;
        let (reply, answer) = oneshot::channel();
        tx.try_send(Task {
            bytes,
            dpi,
            mode,
            limits,
            reply,
        })
        .map_err(|_| DecodeError::Busy)?;
        answer.await.map_err(|_| DecodeError::PdfUnavailable)?
    }
}

#[tracing::instrument(skip_all, name = "pdf_read", fields(bytes = task.bytes.len()))]
fn read(pdfium: &Pdfium, task: &Task) -> Result<Vec<PdfPage>, DecodeError> {
    let doc = pdfium
        .load_pdf_from_byte_slice(&task.bytes, None)
        .map_err(|e| {
            tracing::warn!(error = %e, "PDFium could not load an uploaded PDF");
            DecodeError::Corrupt(DAMAGED.into())
        })?;
    let pages = doc.pages();
    let count = pages.len() as usize;
    if count == 0 {
        return Err(DecodeError::Corrupt("the PDF has no pages".into()));
    }
    if count > task.limits.max_pages {
        return Err(DecodeError::TooManyPages {
            max: task.limits.max_pages,
        });
    }
    let scale = task.dpi as f32 / 72.0;
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let page = match pages.get(index as u16) {
            Ok(p) => p,
            Err(e) => {
                out.push(page_failed(index, "read", &e));
                continue;
            }
        };
        let width = (page.width().value * scale).round().max(1.0) as u32;
        let height = (page.height().value * scale).round().max(1.0) as u32;
        if task.mode != PdfMode::Force {
            let text = page.text().map(|t| t.all()).unwrap_or_default();
            if !text.trim().is_empty() || task.mode == PdfMode::TextOnly {
                out.push(PdfPage::Text {
                    width,
                    height,
                    text,
                });
                continue;
            }
        }
        task.limits.check(index + 1, width, height)?;
        let config = PdfRenderConfig::new()
            .set_target_width(width as i32)
            .set_maximum_height(height as i32);
        let rendered = page
            .render_with_config(&config)
            .map(|bitmap| bitmap.as_image().into_luma8());
        match rendered {
            Ok(gray) => {
                out.push(PdfPage::Image(Page {
                    width: gray.width(),
                    height: gray.height(),
                    gray: gray.into_raw(),
                }));
            }
            Err(e) => out.push(page_failed(index, "rendered", &e)),
        }
    }
    Ok(out)
}

/// The detail of a PDF that PDFium could not open.
const DAMAGED: &str = "the PDF is damaged or is not a PDF";

/// A page PDFium could not read or render: logged with PDFium's error,
/// told to the user by its number only.
fn page_failed(index: usize, what: &str, e: &PdfiumError) -> PdfPage {
    let page = index + 1;
    tracing::warn!(page, error = %e, "PDFium could not handle a page");
    PdfPage::Failed {
        error: format!("page {page} could not be {what}"),
    }
}
