//! PDF input through PDFium (the `libpdfium.so` shipped in the `pypdfium2`
//! wheel, BSD/Apache licensed, loaded at run time). Pages that carry a text
//! layer give that text without OCR; the others are rasterized to grey at the
//! requested resolution. PDFium is not thread-safe, so one thread owns it;
//! a document is opened once, its page count and sizes told up front, and
//! its pages rendered one at a time on request. A page
//! that cannot be loaded or rendered fails alone.

use std::path::PathBuf;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{unbounded, Receiver, Sender};
use pdfium_render::prelude::*;
use tokio::sync::oneshot;

use crate::decode::{DecodeError, Limits, Page};
use crate::searchable::{self, TextLayer};

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
        /// Its words with their boxes, in pixels at the requested resolution.
        blocks: Vec<wire::ocr::Block>,
    },
    /// A rasterized page, to be recognized.
    Image(Page),
    /// The page could not be read.
    Failed { error: String },
    /// The page is over a limit; the document is refused.
    Refused(DecodeError),
}

// PDFium renders to BGRA here: rendering straight into a grey bitmap
// (`PdfBitmapFormat::Gray`) trips an assertion inside PDFium on ordinary
// pages.

/// Work for the PDFium thread. A document is opened once per request and
/// kept open while its pages are asked for one at a time.
enum Msg {
    Open {
        id: u64,
        bytes: bytes::Bytes,
        open: Opening,
        reply: oneshot::Sender<Result<Vec<(u32, u32)>, DecodeError>>,
    },
    Page {
        id: u64,
        index: usize,
        reply: oneshot::Sender<PdfPage>,
    },
    Close {
        id: u64,
    },
    /// A PDF's recognized pages given their words as invisible text.
    Overlay {
        bytes: bytes::Bytes,
        layers: Vec<TextLayer>,
        reply: oneshot::Sender<Result<Vec<u8>, String>>,
    },
    /// A new PDF, to be made of image pages.
    Create {
        id: u64,
    },
    ImagePage {
        id: u64,
        jpeg: Vec<u8>,
        /// The page's size in points.
        size: (f32, f32),
        layer: TextLayer,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Save {
        id: u64,
        reply: oneshot::Sender<Result<Vec<u8>, String>>,
    },
}

/// How an opened document is to be read.
#[derive(Debug, Clone, Copy)]
struct Opening {
    dpi: u32,
    mode: PdfMode,
    limits: Limits,
}

#[derive(Clone)]
pub struct PdfReader {
    tx: Option<Sender<Msg>>,
    open: Arc<AtomicUsize>,
    next_id: Arc<AtomicU64>,
    max_open: usize,
    problem: Option<String>,
}

/// An open PDF: its pages' sizes in pixels at the requested resolution,
/// and its pages on request. Closed when dropped.
pub struct PdfDoc {
    id: u64,
    tx: Sender<Msg>,
    open: Arc<AtomicUsize>,
    /// Each page's size, in pixels at the requested resolution.
    pub sizes: Vec<(u32, u32)>,
}

impl PdfDoc {
    /// Page `index` (from 0): its text layer, or rendered to grey.
    pub async fn page(&self, index: usize) -> PdfPage {
        let (reply, answer) = oneshot::channel();
        let stopped = || PdfPage::Failed {
            error: format!("page {} could not be read", index + 1),
        };
        if self
            .tx
            .send(Msg::Page {
                id: self.id,
                index,
                reply,
            })
            .is_err()
        {
            return stopped();
        }
        answer.await.unwrap_or_else(|_| stopped())
    }
}

/// A PDF being made on the PDFium thread; dropped unsaved, it is discarded.
pub struct PdfBuilder {
    id: u64,
    tx: Sender<Msg>,
}

impl PdfBuilder {
    /// Add a page of `size` points showing `jpeg`, with `layer`'s words.
    pub async fn image_page(
        &self,
        jpeg: Vec<u8>,
        size: (f32, f32),
        layer: TextLayer,
    ) -> Result<(), DecodeError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::ImagePage {
                id: self.id,
                jpeg,
                size,
                layer,
                reply,
            })
            .map_err(|_| DecodeError::PdfUnavailable)?;
        answer
            .await
            .map_err(|_| DecodeError::PdfUnavailable)?
            .map_err(DecodeError::Corrupt)
    }

    pub async fn save(self) -> Result<Vec<u8>, DecodeError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Save { id: self.id, reply })
            .map_err(|_| DecodeError::PdfUnavailable)?;
        answer
            .await
            .map_err(|_| DecodeError::PdfUnavailable)?
            .map_err(DecodeError::Corrupt)
    }
}

impl Drop for PdfBuilder {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Close { id: self.id });
    }
}

impl Drop for PdfDoc {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Close { id: self.id });
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
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

/// The PDFium thread: documents stay open between their pages' requests.
fn serve(pdfium: Pdfium, rx: Receiver<Msg>) {
    let mut docs: HashMap<u64, (PdfDocument<'_>, Opening)> = HashMap::new();
    let mut built: HashMap<u64, PdfDocument<'_>> = HashMap::new();
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Open {
                id,
                bytes,
                open,
                reply,
            } => {
                let opened = open_document(&pdfium, bytes, open);
                let sizes = opened.map(|(doc, sizes)| {
                    docs.insert(id, (doc, open));
                    sizes
                });
                let _ = reply.send(sizes);
            }
            Msg::Page { id, index, reply } => {
                let page = match docs.get(&id) {
                    Some((doc, open)) => read_page(doc, index, open),
                    None => PdfPage::Failed {
                        error: format!("page {} could not be read", index + 1),
                    },
                };
                let _ = reply.send(page);
            }
            Msg::Close { id } => {
                docs.remove(&id);
                built.remove(&id);
            }
            Msg::Overlay {
                bytes,
                layers,
                reply,
            } => {
                let _ = reply.send(overlay(&pdfium, bytes, &layers));
            }
            Msg::Create { id } => match pdfium.create_new_pdf() {
                Ok(doc) => {
                    built.insert(id, doc);
                }
                Err(e) => tracing::warn!(error = %e, "PDFium could not create a PDF"),
            },
            Msg::ImagePage {
                id,
                jpeg,
                size,
                mut layer,
                reply,
            } => {
                let done = match built.get_mut(&id) {
                    Some(doc) => searchable::add_image_page(doc, jpeg, size)
                        .and_then(|index| {
                            layer.index = index;
                            searchable::add_text_layer(doc, &layer)
                        })
                        .map_err(|e| format!("page {}: {e}", layer.index + 1)),
                    None => Err("the PDF could not be created".into()),
                };
                let _ = reply.send(done);
            }
            Msg::Save { id, reply } => {
                let saved = match built.remove(&id) {
                    Some(doc) => doc.save_to_bytes().map_err(|e| e.to_string()),
                    None => Err("the PDF could not be created".into()),
                };
                let _ = reply.send(saved);
            }
        }
    }
}

impl PdfReader {
    /// Start the PDFium thread; at most `max_open` documents are read at
    /// once (more are refused as busy).
    pub fn start(configured: Option<&str>, max_open: usize) -> Self {
        let unavailable = |problem: String| {
            tracing::warn!("{problem}: PDF input disabled");
            Self {
                tx: None,
                open: Arc::default(),
                next_id: Arc::default(),
                max_open,
                problem: Some(problem),
            }
        };
        let Some(path) = candidates(configured).into_iter().find(|p| p.is_file()) else {
            return unavailable(
                "libpdfium.so not found (run.sh installs it into vendor/pdfium)".to_string(),
            );
        };
        let (tx, rx) = unbounded::<Msg>();
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
                serve(pdfium, rx);
            })
            .expect("spawn the PDFium thread");
        match ready_rx.recv() {
            Ok(Ok(())) => Self {
                tx: Some(tx),
                open: Arc::default(),
                next_id: Arc::default(),
                max_open: max_open.max(1),
                problem: None,
            },
            Ok(Err(problem)) => unavailable(problem),
            Err(_) => unavailable("the PDFium thread stopped".to_string()),
        }
    }

    /// `bytes` (a PDF) with each of `layers` written as invisible text on
    /// its page; the other pages are kept as they are.
    pub async fn overlay(
        &self,
        bytes: bytes::Bytes,
        layers: Vec<TextLayer>,
    ) -> Result<Vec<u8>, DecodeError> {
        let tx = self.tx.as_ref().ok_or(DecodeError::PdfUnavailable)?;
        let (reply, answer) = oneshot::channel();
        tx.send(Msg::Overlay {
            bytes,
            layers,
            reply,
        })
        .map_err(|_| DecodeError::PdfUnavailable)?;
        answer
            .await
            .map_err(|_| DecodeError::PdfUnavailable)?
            .map_err(DecodeError::Corrupt)
    }

    /// A new PDF, made a page at a time from images.
    pub fn create(&self) -> Result<PdfBuilder, DecodeError> {
        let tx = self.tx.as_ref().ok_or(DecodeError::PdfUnavailable)?;
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        tx.send(Msg::Create { id })
            .map_err(|_| DecodeError::PdfUnavailable)?;
        Ok(PdfBuilder { id, tx: tx.clone() })
    }

    /// Why PDF input is unavailable, if it is.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Open a PDF and check its page count (and, to be rendered whatever
    /// their text, its pages' sizes) against `limits`; nothing is rendered.
    pub async fn open(
        &self,
        bytes: bytes::Bytes,
        dpi: u32,
        mode: PdfMode,
        limits: Limits,
    ) -> Result<PdfDoc, DecodeError> {
        let tx = self.tx.as_ref().ok_or(DecodeError::PdfUnavailable)?;
        if self.open.fetch_add(1, Ordering::SeqCst) >= self.max_open {
            self.open.fetch_sub(1, Ordering::SeqCst);
            return Err(DecodeError::Busy);
        }
        let doc = PdfDoc {
            id: self.next_id.fetch_add(1, Ordering::SeqCst),
            tx: tx.clone(),
            open: self.open.clone(),
            sizes: Vec::new(),
        };
        let (reply, answer) = oneshot::channel();
        tx.send(Msg::Open {
            id: doc.id,
            bytes,
            open: Opening { dpi, mode, limits },
            reply,
        })
        .map_err(|_| DecodeError::PdfUnavailable)?;
        let mut doc = doc;
        doc.sizes = answer.await.map_err(|_| DecodeError::PdfUnavailable)??;
        Ok(doc)
    }
}

#[tracing::instrument(skip_all, name = "pdf_open", fields(bytes = bytes.len()))]
fn open_document(
    pdfium: &Pdfium,
    bytes: bytes::Bytes,
    open: Opening,
) -> Result<(PdfDocument<'_>, Vec<(u32, u32)>), DecodeError> {
    let doc = pdfium
        // Without a copy when the upload is held here alone.
        .load_pdf_from_byte_vec(Vec::from(bytes), None)
        .map_err(|e| {
            tracing::warn!(error = %e, "PDFium could not load an uploaded PDF");
            DecodeError::Corrupt(DAMAGED.into())
        })?;
    let pages = doc.pages();
    let count = pages.len() as usize;
    if count == 0 {
        return Err(DecodeError::Corrupt("the PDF has no pages".into()));
    }
    if count > open.limits.max_pages {
        return Err(DecodeError::TooManyPages {
            max: open.limits.max_pages,
        });
    }
    let scale = open.dpi as f32 / 72.0;
    let mut sizes = Vec::with_capacity(count);
    for index in 0..count {
        // A page whose size cannot be read fails alone, when it is asked for.
        let (width, height) = match pages.page_size(index as u16) {
            Ok(rect) => (
                (rect.width().value * scale).round().max(1.0) as u32,
                (rect.height().value * scale).round().max(1.0) as u32,
            ),
            Err(_) => (1, 1),
        };
        if open.mode == PdfMode::Force {
            open.limits.check(index + 1, width, height)?;
        }
        sizes.push((width, height));
    }
    Ok((doc, sizes))
}

#[tracing::instrument(skip_all, name = "pdf_page", fields(page = index + 1))]
fn read_page(doc: &PdfDocument<'_>, index: usize, open: &Opening) -> PdfPage {
    let page = match doc.pages().get(index as u16) {
        Ok(p) => p,
        Err(e) => return page_failed(index, "read", &e),
    };
    let scale = open.dpi as f32 / 72.0;
    let width = (page.width().value * scale).round().max(1.0) as u32;
    let height = (page.height().value * scale).round().max(1.0) as u32;
    if open.mode != PdfMode::Force {
        let layer = page.text().ok();
        let text = layer.as_ref().map(|t| t.all()).unwrap_or_default();
        if !text.trim().is_empty() || open.mode == PdfMode::TextOnly {
            let page_top = page.height().value;
            let glyph = |c: PdfPageTextChar<'_>| {
                let bbox = c.tight_bounds().ok().map(|r| {
                    let px = |v: f32, max: u32| ((v * scale).round().max(0.0) as u32).min(max);
                    [
                        px(r.left().value, width),
                        px(page_top - r.top().value, height),
                        px(r.right().value, width),
                        px(page_top - r.bottom().value, height),
                    ]
                });
                crate::layout::Glyph {
                    c: c.unicode_char().unwrap_or('\u{fffd}'),
                    bbox,
                }
            };
            let glyphs: Vec<_> = match &layer {
                Some(t) => t.chars().iter().map(glyph).collect(),
                None => Vec::new(),
            };
            let blocks = crate::layout::blocks(glyphs);
            return PdfPage::Text {
                width,
                height,
                text,
                blocks,
            };
        }
    }
    if let Err(e) = open.limits.check(index + 1, width, height) {
        return PdfPage::Refused(e);
    }
    let config = PdfRenderConfig::new()
        .set_target_width(width as i32)
        .set_maximum_height(height as i32);
    let rendered = page.render_with_config(&config).map(|bitmap| {
        let gray = bitmap.as_image().into_luma8();
        drop(bitmap);
        Page {
            width: gray.width(),
            height: gray.height(),
            gray: gray.into_raw(),
        }
    });
    match rendered {
        Ok(page) => PdfPage::Image(page),
        Err(e) => page_failed(index, "rendered", &e),
    }
}

/// `bytes` (a PDF) with `layers` written on their pages.
#[tracing::instrument(skip_all, name = "pdf_overlay", fields(pages = layers.len()))]
fn overlay(pdfium: &Pdfium, bytes: bytes::Bytes, layers: &[TextLayer]) -> Result<Vec<u8>, String> {
    let mut doc = pdfium
        .load_pdf_from_byte_vec(Vec::from(bytes), None)
        .map_err(|_| DAMAGED.to_string())?;
    for layer in layers {
        searchable::add_text_layer(&mut doc, layer)
            .map_err(|e| format!("page {}: {e}", layer.index + 1))?;
    }
    doc.save_to_bytes().map_err(|e| e.to_string())
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
