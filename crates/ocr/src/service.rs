//! The OCR service: options, the engine pool, and a whole document's run.

use std::path::{Path, PathBuf};

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};

use crate::budget::DecodeBudget;
use crate::config::OcrConfig;
use crate::decode::{self, DecodeError, Format, Limits, Page, PageInfo};
use crate::engine::{EngineError, EnginePool, OrientationCheck, PageJob, Recognized};
use crate::error::OcrError;
use crate::languages::Languages;
use crate::pdf::{PdfDoc, PdfMode, PdfPage, PdfReader};
use crate::searchable::TextLayer;
use wire::ocr::PageSource;

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
    pub languages: Languages,
    pub mode: PdfMode,
    pub orientation: bool,
    pub psm: Option<i32>,
    pub dpi: u32,
    pub format: OutputFormat,
}

pub use wire::ocr::Document;

#[derive(Clone)]
pub struct Ocr {
    config: OcrConfig,
    pool: EnginePool,
    pdf: PdfReader,
    budget: DecodeBudget,
    installed: Vec<String>,
    recognized: Arc<std::sync::atomic::AtomicU64>,
}

/// Where a document's pages come from, each decoded or rendered only when
/// its turn to be recognized comes.
enum Pages {
    /// An image or a TIFF, its pages' headers read.
    Images {
        bytes: bytes::Bytes,
        pages: Vec<PageInfo>,
    },
    /// An open PDF.
    Pdf { doc: PdfDoc, mode: PdfMode },
}

impl Pages {
    fn len(&self) -> usize {
        match self {
            Self::Images { pages, .. } => pages.len(),
            Self::Pdf { doc, .. } => doc.sizes.len(),
        }
    }

    /// Bytes decoding page `i` needs at most: for a PDF page, PDFium's BGRA
    /// bitmap, its RGBA copy, and the grey page.
    fn need(&self, i: usize) -> u64 {
        match self {
            Self::Images { pages, .. } => pages[i].need,
            Self::Pdf {
                mode: PdfMode::TextOnly,
                ..
            } => 0,
            Self::Pdf { doc, .. } => {
                let (w, h) = doc.sizes[i];
                9 * u64::from(w) * u64::from(h)
            }
        }
    }

    /// Page `i`, decoded or rendered now.
    async fn page(&self, i: usize, limits: Limits) -> Result<PdfPage, OcrError> {
        match self {
            Self::Images { bytes, pages } => {
                let bytes = bytes.clone();
                let page =
                    tokio::task::spawn_blocking(move || decode::decode_page(&bytes, i, &limits))
                        .await
                        .map_err(|e| OcrError::Upload(e.to_string()))?;
                match page {
                    Ok(page) => Ok(PdfPage::Image(page)),
                    // A page of several that cannot be read fails alone,
                    // as a PDF page does; a single page fails the request.
                    Err(e @ (DecodeError::Corrupt(_) | DecodeError::UnsupportedEncoding(_)))
                        if pages.len() > 1 =>
                    {
                        Ok(PdfPage::Failed {
                            error: e.to_string(),
                        })
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Self::Pdf { doc, .. } => match doc.page(i).await {
                PdfPage::Refused(e) => Err(e.into()),
                page => Ok(page),
            },
        }
    }
}

/// JPEG quality of the pages of a searchable PDF made from images.
const JPEG_QUALITY: u8 = 85;

/// A grey page as JPEG.
fn jpeg(page: &Page) -> Result<Vec<u8>, OcrError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode(
            &page.gray,
            page.width,
            page.height,
            image::ExtendedColorType::L8,
        )
        .map_err(|e| OcrError::Upload(e.to_string()))?;
    Ok(out)
}

/// A searchable PDF as it is sent and kept: written compactly, off the
/// async threads (deflating a document's images takes a moment).
async fn compacted(pdf: Vec<u8>) -> Result<Vec<u8>, OcrError> {
    tokio::task::spawn_blocking(move || crate::compact::compact(pdf))
        .await
        .map_err(|e| OcrError::Upload(e.to_string()))
}

/// A white page, where one could not be read.
/// The longest side of a page's picture for the console.
pub const PREVIEW_SIDE: u32 = 1600;

/// `page` shrunk to fit [`PREVIEW_SIDE`], or as it is when it fits (taken,
/// so a page that fits is not copied).
fn preview(page: Page) -> Page {
    let longest = page.width.max(page.height);
    if longest <= PREVIEW_SIDE {
        return page;
    }
    let scale = f64::from(PREVIEW_SIDE) / f64::from(longest);
    let side = |n: u32| ((f64::from(n) * scale).round() as u32).max(1);
    let (width, height) = (side(page.width), side(page.height));
    // A view of the page's pixels, not a copy.
    let view = image::ImageBuffer::<image::Luma<u8>, &[u8]>::from_raw(
        page.width,
        page.height,
        &page.gray[..],
    );
    let Some(view) = view else {
        return page;
    };
    let small =
        image::imageops::resize(&view, width, height, image::imageops::FilterType::Triangle);
    Page {
        width,
        height,
        gray: small.into_raw(),
    }
}

fn blank_jpeg() -> Result<Vec<u8>, OcrError> {
    jpeg(&Page {
        width: 8,
        height: 8,
        gray: vec![255; 64],
    })
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
            config.queued_pages_per_user(),
            config.tessdata.clone(),
            config.default_languages.clone(),
        );
        let pdf = PdfReader::start(config.pdfium_library.as_deref(), config.queue_depth);
        tracing::info!(workers, languages = ?installed, "OCR engines starting");
        let budget = DecodeBudget::new(config.decode_budget_bytes);
        Self {
            config,
            pool,
            pdf,
            budget,
            installed,
            recognized: Arc::default(),
        }
    }

    pub fn config(&self) -> &OcrConfig {
        &self.config
    }

    /// Engine threads.
    pub fn workers(&self) -> usize {
        self.pool.workers()
    }

    /// Refuse (429) a page of `owner`'s that the queue has no room for now,
    /// before anything is decoded.
    pub fn room_for(&self, owner: &str) -> Result<(), OcrError> {
        Ok(self.pool.room_for(owner)?)
    }

    /// Pages this instance's engines have recognized.
    pub fn pages_recognized(&self) -> u64 {
        self.recognized.load(Ordering::Relaxed)
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
    pub fn options(&self, given: &wire::ocr::OcrOptions) -> Result<Options, OcrError> {
        let languages = given.languages.as_deref();
        let (psm, dpi) = (given.psm, given.dpi);
        let format = given.format.as_deref();
        let mode = given.mode.as_deref();
        let orientation = given.orientation.as_deref();
        let mode = mode.unwrap_or("auto").parse().map_err(OcrError::Option)?;
        let orientation = match orientation {
            None => self.config.detect_orientation,
            Some("auto") => true,
            Some("none") => false,
            Some(other) => {
                return Err(OcrError::Option(format!(
                    "orientation '{other}' (expected auto or none)"
                )))
            }
        };
        let languages =
            Languages::parse(languages, &self.config.default_languages, &self.installed)
                .map_err(OcrError::Option)?;
        if let Some(p) = psm {
            // 0 is orientation detection only; 2 is not implemented by Tesseract.
            if !(1..=13).contains(&p) || p == 2 {
                return Err(OcrError::Option(format!("psm {p} (expected 1 or 3 to 13)")));
            }
        }
        let dpi = dpi.unwrap_or(self.config.default_dpi);
        let max_dpi = self.config.max_dpi.max(70);
        if !(70..=max_dpi).contains(&dpi) {
            return Err(OcrError::Option(format!(
                "dpi {dpi} (expected 70 to {max_dpi})"
            )));
        }
        let format = format.unwrap_or("json").parse()?;
        Ok(Options {
            languages,
            mode,
            orientation,
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

    async fn recognize(
        &self,
        owner: &str,
        page: Page,
        job: PageJob,
        wait: bool,
    ) -> Result<Recognized, OcrError> {
        let mut page = page;
        loop {
            match self.pool.submit(owner, page, job.clone()) {
                Ok(answer) => {
                    let recognized = answer.await.map_err(|_| EngineError::Stopped)??;
                    self.recognized.fetch_add(1, Ordering::Relaxed);
                    return Ok(recognized);
                }
                Err((EngineError::QueueFull | EngineError::UserQueueFull(_), back)) if wait => {
                    page = back;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    /// Decode and recognize every page of `owner`'s interactive request: a
    /// full queue is refused at once.
    /// Open a document: a PDF through PDFium, else every image page's
    /// header read (count, sizes); nothing is decoded yet.
    async fn open(&self, bytes: bytes::Bytes, opts: &Options) -> Result<Pages, OcrError> {
        let limits = self.limits();
        if Format::sniff(&bytes) == Some(Format::Pdf) {
            let doc = self.pdf.open(bytes, opts.dpi, opts.mode, limits).await?;
            Ok(Pages::Pdf {
                doc,
                mode: opts.mode,
            })
        } else {
            let header = bytes.clone();
            let pages = tokio::task::spawn_blocking(move || decode::probe(&header, &limits))
                .await
                .map_err(|e| OcrError::Upload(e.to_string()))??;
            Ok(Pages::Images { bytes, pages })
        }
    }

    /// Decode and recognize every page of `owner`'s document. A document
    /// keeps at most one page per worker in the queue, and the queue serves
    /// users in turn, so large documents take turns with small ones and one
    /// user's many documents with another's few.
    ///
    /// Every page's header is checked first (count, sizes); then each page
    /// is decoded or rendered only when its turn comes, under the decode
    /// budget, and dropped once recognized: a document holds at most one
    /// decoded page per worker. An interactive request is refused (429)
    /// before decoding a page the queue has no room for.
    #[tracing::instrument(skip_all, name = "ocr_document", fields(bytes = bytes.len()))]
    pub async fn run(
        &self,
        owner: &str,
        bytes: bytes::Bytes,
        opts: &Options,
    ) -> Result<Document, OcrError> {
        // Refused before anything is decoded when its pages could not be
        // queued.
        self.pool.room_for(owner)?;
        let source = &self.open(bytes, opts).await?;
        let pages = (0..source.len()).map(|i| self.read_page(owner, source, i, opts, false));
        let pages: Vec<wire::ocr::Page> = futures_util::stream::iter(pages)
            .buffered(self.pool.workers())
            .try_collect()
            .await?;
        Ok(Document::of_pages(opts.languages.to_string(), pages))
    }

    /// Read page `index` (0-based) of `owner`'s document alone, waiting for
    /// room in the queue, and say how many pages the document has: the
    /// library hands OCR one page at a time.
    #[tracing::instrument(skip_all, name = "ocr_page", fields(bytes = bytes.len(), page = index + 1))]
    pub async fn run_page(
        &self,
        owner: &str,
        bytes: bytes::Bytes,
        opts: &Options,
        index: usize,
    ) -> Result<(wire::ocr::Page, usize), OcrError> {
        let source = self.open(bytes, opts).await?;
        let total = source.len();
        if index >= total {
            return Err(OcrError::Option(format!(
                "page {} of a document of {total}",
                index + 1
            )));
        }
        let page = self.read_page(owner, &source, index, opts, true).await?;
        Ok((page, total))
    }

    /// A searchable PDF of `bytes` as `pages` read it. A PDF keeps every
    /// page as it is, its recognized pages given their words as invisible
    /// text (born-digital ones are left alone: they have their text). An
    /// image becomes pages of JPEG at the reading's resolution, upright as
    /// they were read (a JPEG that needed no turn is embedded as it is),
    /// each decoded only when its turn comes, under the decode budget.
    #[tracing::instrument(skip_all, name = "ocr_searchable_pdf", fields(bytes = bytes.len(), pages = pages.len()))]
    pub async fn searchable_pdf(
        &self,
        bytes: bytes::Bytes,
        opts: &Options,
        pages: &[wire::ocr::Page],
    ) -> Result<Vec<u8>, OcrError> {
        let layer = |index: usize, page: &wire::ocr::Page, rotation: u32| TextLayer {
            index,
            upright: (page.width, page.height),
            rotation,
            words: page.words().map(|w| (w.text.clone(), w.bbox)).collect(),
        };
        let format = Format::sniff(&bytes);
        if format == Some(Format::Pdf) {
            let layers = pages
                .iter()
                .enumerate()
                .filter(|(_, p)| p.source == PageSource::Ocr && p.width > 0)
                .map(|(i, p)| layer(i, p, p.rotation))
                .collect();
            return compacted(self.pdf.overlay(bytes, layers).await?).await;
        }
        let source = self.open(bytes.clone(), opts).await?;
        let as_is = format == Some(Format::Jpeg)
            && source.len() == 1
            && pages
                .first()
                .is_some_and(|p| p.rotation == 0 && p.width > 0);
        let points = |px: u32| px as f32 * 72.0 / opts.dpi.max(1) as f32;
        let builder = self.pdf.create()?;
        for i in 0..source.len() {
            let result = pages.get(i).filter(|p| p.width > 0 && p.error.is_none());
            let jpeg = match result {
                _ if as_is => bytes.to_vec(),
                // A page that could not be read is a blank page.
                None => blank_jpeg()?,
                Some(result) => {
                    let _reservation = self.budget.reserve(source.need(i), None).await?;
                    match source.page(i, self.limits()).await? {
                        PdfPage::Image(page) => {
                            let rotation = result.rotation;
                            tokio::task::spawn_blocking(move || {
                                jpeg(&crate::osd::rotate_ccw(&page, rotation))
                            })
                            .await
                            .map_err(|e| OcrError::Upload(e.to_string()))??
                        }
                        _ => blank_jpeg()?,
                    }
                }
            };
            // Letter size for a page that has no size of its own.
            let size = result.map_or((612.0, 792.0), |p| (points(p.width), points(p.height)));
            let blank = wire::ocr::Page::blank(i + 1);
            // The page is drawn upright: its words need no turn.
            let words = layer(i, result.unwrap_or(&blank), 0);
            builder.image_page(jpeg, size, words).await?;
        }
        compacted(builder.save().await?).await
    }

    /// Page `index` (0-based) as a picture to show under its words: decoded,
    /// or rendered whatever its text layer, under the decode budget; turned
    /// by `rotation` as it was when read, so it is in the frame of the
    /// page's boxes; at most [`PREVIEW_SIDE`] pixels a side; grey JPEG.
    #[tracing::instrument(skip_all, name = "ocr_page_image", fields(bytes = bytes.len(), page = index + 1))]
    pub async fn page_image(
        &self,
        bytes: bytes::Bytes,
        opts: &Options,
        index: usize,
        rotation: u32,
    ) -> Result<Vec<u8>, OcrError> {
        if !rotation.is_multiple_of(90) || rotation >= 360 {
            return Err(OcrError::Option(format!(
                "rotation: {rotation} is not 0, 90, 180 or 270"
            )));
        }
        let opts = Options {
            mode: PdfMode::Force,
            ..opts.clone()
        };
        let source = self.open(bytes, &opts).await?;
        let total = source.len();
        if index >= total {
            return Err(OcrError::Option(format!(
                "page {} of a document of {total}",
                index + 1
            )));
        }
        let _reservation = self.budget.reserve(source.need(index), None).await?;
        match source.page(index, self.limits()).await? {
            PdfPage::Image(page) => tokio::task::spawn_blocking(move || {
                jpeg(&preview(crate::osd::rotate_ccw(&page, rotation)))
            })
            .await
            .map_err(|e| OcrError::Upload(e.to_string()))?,
            PdfPage::Refused(e) => Err(e.into()),
            PdfPage::Failed { error } => Err(DecodeError::Corrupt(error).into()),
            PdfPage::Text { .. } => Err(DecodeError::Corrupt(format!(
                "page {} could not be rendered",
                index + 1
            ))
            .into()),
        }
    }

    /// How many pages a document has, by its headers alone.
    pub async fn count_pages(
        &self,
        bytes: bytes::Bytes,
        opts: &Options,
    ) -> Result<usize, OcrError> {
        Ok(self.open(bytes, opts).await?.len())
    }

    /// Decode or render page `i` under the decode budget, recognize it and
    /// drop it. `wait`: wait for room in a full queue rather than fail.
    async fn read_page(
        &self,
        owner: &str,
        source: &Pages,
        i: usize,
        opts: &Options,
        wait: bool,
    ) -> Result<wire::ocr::Page, OcrError> {
        let job = PageJob {
            languages: opts.languages.clone(),
            psm: opts.psm,
            dpi: opts.dpi,
            page_number: i as i32,
            orientation: opts.orientation.then_some(OrientationCheck {
                min_confidence: self.config.orientation_min_confidence,
            }),
            trust_reading: self.config.orientation_trust_confidence,
            time_limit: std::time::Duration::from_millis(self.config.page_timeout_ms),
            rescale: self.config.rescale_large_text,
            prepare: crate::prepare::Steps {
                normalize: self.config.normalize_background,
                deskew: self.config.deskew,
            },
        };
        let budget_wait =
            (!wait).then(|| std::time::Duration::from_millis(self.config.decode_wait_ms));
        let mut page = wire::ocr::Page::blank(i + 1);
        if !wait {
            self.pool.room_for(owner)?;
        }
        // Held until this page has been recognized and dropped.
        let mut reservation = self.budget.reserve(source.need(i), budget_wait).await?;
        let input = source.page(i, self.limits()).await?;
        match input {
            PdfPage::Text {
                width,
                height,
                text,
                blocks,
            } => {
                page.width = width;
                page.height = height;
                page.text = text;
                page.blocks = blocks;
                page.mean_confidence = 100;
                page.source = wire::ocr::PageSource::TextLayer;
            }
            PdfPage::Failed { error } => page.error = Some(error),
            PdfPage::Refused(e) => return Err(e.into()),
            PdfPage::Image(image) => {
                reservation.shrink_to(image.gray.len() as u64);
                page.width = image.width;
                page.height = image.height;
                let r: Recognized = self.recognize(owner, image, job, wait).await?;
                page.blocks = r.blocks;
                page.text = r.text;
                page.mean_confidence = r.mean_confidence;
                page.seconds = r.seconds;
                page.rotation = r.rotation;
                page.width = r.width;
                page.height = r.height;
            }
        }
        drop(reservation);
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(width: u32, height: u32) -> Page {
        Page {
            width,
            height,
            gray: vec![200; (width * height) as usize],
        }
    }

    #[test]
    fn a_large_page_is_pictured_at_the_preview_side_in_its_shape() {
        let small = preview(page(3200, 1000));
        assert_eq!((small.width, small.height), (PREVIEW_SIDE, 500));
        assert_eq!(small.gray.len(), (PREVIEW_SIDE * 500) as usize);
        assert!(small.gray.iter().all(|&g| g == 200));
    }

    #[test]
    fn a_page_that_fits_is_pictured_as_it_is() {
        let fits = preview(page(100, 60));
        assert_eq!((fits.width, fits.height), (100, 60));
    }
}
