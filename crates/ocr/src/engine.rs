//! The engine pool: a fixed number of worker threads, each owning its own
//! Tesseract engines (one per language set, created once and reused), fed by
//! a bounded queue served round-robin across users. A full queue, or a user
//! holding their share of it, is refused at once (429), never buffered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kit::fair::{fair_channel_with_owner_capacity, FairChannel, FairSender, SendError};
use tokio::sync::oneshot;

use crate::decode::Page;
use crate::languages::Languages;
use crate::osd::{rotate_ccw, Osd};
use crate::prepare::{even_lighting, level, Steps, Straightened};
use crate::scale;
use crate::tess::{Engine, TessError};
use crate::tsv::{self, Block};

/// What to do with one page.
#[derive(Debug, Clone)]
pub struct PageJob {
    pub languages: Languages,
    pub psm: Option<i32>,
    pub dpi: u32,
    pub page_number: i32,
    /// Detect a page turned by 90, 180 or 270 degrees and turn it back.
    pub orientation: Option<OrientationCheck>,
    /// Longest recognition time of one page.
    pub time_limit: Duration,
    /// Read pages with large text at a smaller scale (`scale`).
    pub rescale: bool,
    /// Even out uneven lighting first; level skewed lines of a page that
    /// read poorly (`prepare`).
    pub prepare: Steps,
    /// A reading at least this confident (Tesseract's mean word confidence,
    /// 0 to 100) in lines across the page is kept: no skew search, no
    /// orientation pass.
    pub trust_reading: i32,
}

/// When the orientation pass's answer is taken.
#[derive(Debug, Clone, Copy)]
pub struct OrientationCheck {
    /// OSD confidence needed before a page is turned.
    pub min_confidence: f32,
}

/// Tesseract's answers for one page, positions in the page's own pixels.
#[derive(Debug, Clone)]
pub struct Recognized {
    pub text: String,
    pub blocks: Vec<Block>,
    pub mean_confidence: i32,
    pub seconds: f64,
    /// Clockwise rotation found and undone before recognition.
    pub rotation: u32,
    /// Size of the page as recognized (after the rotation).
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the recognition queue is full")]
    QueueFull,
    #[error(
        "you have {0} pages waiting, the most one user may have queued; retry when they are read"
    )]
    UserQueueFull(usize),
    #[error("cannot load languages '{0}'")]
    Languages(String),
    #[error("recognition failed: {0}")]
    Failed(String),
    #[error("the page took longer than the limit of {0:?}")]
    TimedOut(Duration),
    #[error("the engine pool has stopped")]
    Stopped,
}

struct Task {
    page: Page,
    job: PageJob,
    span: tracing::Span,
    reply: oneshot::Sender<Result<Recognized, EngineError>>,
}

#[derive(Clone)]
pub struct EnginePool {
    tx: FairSender<Task>,
    capacity: usize,
    user_queue: usize,
    warm: Arc<AtomicUsize>,
    workers: usize,
}

impl EnginePool {
    /// Start `workers` threads; each warms an engine for `warm_languages`.
    /// One user may have at most `user_queue` of the `queue_depth` waiting
    /// pages (0: no such limit).
    pub fn start(
        workers: usize,
        queue_depth: usize,
        user_queue: usize,
        tessdata: Option<String>,
        warm_languages: String,
    ) -> Self {
        let workers = workers.max(1);
        let (tx, rx) = fair_channel_with_owner_capacity::<Task>(queue_depth.max(1), user_queue);
        let warm = Arc::new(AtomicUsize::new(0));
        for i in 0..workers {
            let rx = rx.clone();
            let warm = warm.clone();
            let (tessdata, langs) = (tessdata.clone(), warm_languages.clone());
            std::thread::Builder::new()
                .name(format!("ocr-worker-{i}"))
                .spawn(move || worker(rx, warm, tessdata, langs))
                .expect("spawn OCR worker");
        }
        Self {
            tx,
            capacity: queue_depth.max(1),
            user_queue,
            warm,
            workers,
        }
    }

    /// Every worker has its first engine loaded.
    pub fn is_warm(&self) -> bool {
        self.warm.load(Ordering::SeqCst) >= self.workers
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Whether a page of `owner`'s would be queued now: checked before a
    /// page is decoded, so that a full queue costs no decoding.
    pub fn room_for(&self, owner: &str) -> Result<(), EngineError> {
        if self.tx.len() >= self.capacity {
            return Err(EngineError::QueueFull);
        }
        if self.user_queue > 0 && self.tx.queued_for(owner) >= self.user_queue {
            return Err(EngineError::UserQueueFull(self.user_queue));
        }
        Ok(())
    }

    /// Queue one page of `owner`'s and wait for its result; a full queue
    /// is refused.
    pub async fn recognize(
        &self,
        owner: &str,
        page: Page,
        job: PageJob,
    ) -> Result<Recognized, EngineError> {
        match self.submit(owner, page, job) {
            Ok(answer) => answer.await.map_err(|_| EngineError::Stopped)?,
            Err((e, _)) => Err(e),
        }
    }

    /// Queue one page of `owner`'s; on a full queue, or with the owner's
    /// share queued, the page comes back with the error.
    #[allow(clippy::type_complexity)]
    pub fn submit(
        &self,
        owner: &str,
        page: Page,
        job: PageJob,
    ) -> Result<oneshot::Receiver<Result<Recognized, EngineError>>, (EngineError, Page)> {
        let (reply, answer) = oneshot::channel();
        let task = Task {
            page,
            job,
            span: tracing::Span::current(),
            reply,
        };
        let refused = match self.tx.send(owner, task) {
            Ok(()) => {
                metrics::gauge!("ocr_queue_depth").set(self.tx.len() as f64);
                return Ok(answer);
            }
            Err(SendError::Full(task)) => (EngineError::QueueFull, task),
            Err(SendError::OwnerFull(task)) => (EngineError::UserQueueFull(self.user_queue), task),
            Err(SendError::Closed(task)) => (EngineError::Stopped, task),
        };
        Err((refused.0, refused.1.page))
    }
}

fn worker(
    rx: FairChannel<Task>,
    warm: Arc<AtomicUsize>,
    tessdata: Option<String>,
    warm_languages: String,
) {
    let mut engines: HashMap<String, Engine> = HashMap::new();
    let mut osd: Option<Osd> = None;
    match Engine::new(tessdata.as_deref(), &warm_languages) {
        Ok(engine) => {
            engines.insert(warm_languages.clone(), engine);
        }
        Err(e) => tracing::error!(error = %e, "cannot warm an OCR engine"),
    }
    warm.fetch_add(1, Ordering::SeqCst);
    while let Some(task) = rx.recv() {
        metrics::gauge!("ocr_queue_depth").set(rx.len() as f64);
        let _enter = task.span.enter();
        // Uneven lighting is measured (cheaply) before the first reading.
        let lit = task
            .job
            .prepare
            .normalize
            .then(|| even_lighting(&task.page))
            .flatten();
        let page = lit.as_ref().unwrap_or(&task.page);
        let result = (|| {
            let job = &task.job;
            let languages = job.languages.as_str();
            if !engines.contains_key(languages) {
                let engine = Engine::new(tessdata.as_deref(), languages)
                    .map_err(|_| EngineError::Languages(languages.to_owned()))?;
                engines.insert(languages.to_owned(), engine);
            }
            let engine = engines.get_mut(languages).ok_or(EngineError::Stopped)?;
            // The page is read as it is first: an upright, level page that
            // reads well (most pages) costs no skew search and no
            // orientation pass.
            let first = recognize(engine, page, job)?;
            let trusted = |r: &Recognized| {
                r.mean_confidence >= job.trust_reading && !tsv::mostly_vertical(&r.blocks)
            };
            if trusted(&first) {
                return Ok(first);
            }
            // A poor reading: a skewed page is levelled and read again, its
            // boxes turned back into the page's own pixels.
            let mut best = first;
            let mut levelled: Option<(Page, f32)> = None;
            if job.prepare.deskew {
                if let Some((straight, degrees)) = level(page) {
                    let mut again = recognize(engine, &straight, job)?;
                    if again.mean_confidence > best.mean_confidence {
                        straightened(degrees, &mut again);
                        best = again;
                        levelled = Some((straight, degrees));
                    }
                }
            }
            // Still poor, or read well in lines running down the page (text
            // turned by 90 or 270 degrees): the orientation pass.
            let Some(check) = job.orientation else {
                return Ok(best);
            };
            if trusted(&best) {
                return Ok(best);
            }
            let vertical = tsv::mostly_vertical(&best.blocks);
            let page = levelled.as_ref().map_or(page, |(p, _)| p);
            if osd.is_none() {
                osd = Osd::new(tessdata.as_deref());
            }
            let turned = osd.as_mut().and_then(|o| o.detect(page, job.dpi)).filter(
                |&(degrees, confidence)| degrees != 0 && confidence >= check.min_confidence,
            );
            let Some((degrees, _)) = turned else {
                return Ok(best);
            };
            let mut again = recognize(engine, &rotate_ccw(page, degrees), job)?;
            // OSD can be wrong on a poor page: the better reading wins,
            // except over a reading of vertical lines, which OSD confirmed
            // to be a turned page.
            if !vertical && again.mean_confidence < best.mean_confidence {
                return Ok(best);
            }
            if let Some((_, skew)) = levelled {
                // Quarter turns and the levelling turn commute about the
                // centre: the skew is undone in the upright page's frame.
                straightened(skew, &mut again);
            }
            again.rotation = degrees;
            Ok(again)
        })();
        drop(lit);
        if let Err(EngineError::Failed(_)) = &result {
            // A failed engine may hold broken state: start afresh next time.
            engines.remove(task.job.languages.as_str());
        }
        let _ = task.reply.send(result);
    }
}

/// A reading of a page levelled by `degrees`, its boxes turned back into
/// the page's own pixels.
fn straightened(degrees: f32, read: &mut Recognized) {
    let turn = Straightened {
        degrees,
        size: (read.width, read.height),
    };
    turn.boxes_back(&mut read.blocks);
}

#[tracing::instrument(skip_all, name = "tesseract", fields(w = page.width, h = page.height, langs = %job.languages, scale))]
fn recognize(engine: &mut Engine, page: &Page, job: &PageJob) -> Result<Recognized, EngineError> {
    let start = Instant::now();
    // PSM 3 (fully automatic page segmentation) unless asked otherwise.
    let psm = job.psm.unwrap_or(3) as u32;
    let original = (page.width, page.height);
    let factor = job.rescale.then(|| scale::factor(page)).flatten();
    if let Some(f) = factor {
        tracing::Span::current().record("scale", f);
    }
    let shrunk = factor.map(|f| scale::shrink(page, f));
    let page = shrunk.as_ref().unwrap_or(page);
    let dpi = ((job.dpi as f32) * factor.unwrap_or(1.0)).round() as u32;
    engine
        .recognize(
            &page.gray,
            page.width,
            page.height,
            dpi.max(1),
            psm,
            job.time_limit,
        )
        .map_err(|e| match e {
            TessError::Deadline(limit) => EngineError::TimedOut(limit),
            other => EngineError::Failed(other.to_string()),
        })?;
    let text = engine.text();
    let mut blocks = tsv::parse(&engine.tsv(job.page_number));
    if let Some(f) = factor {
        // Positions back in the page's own pixels.
        scale::boxes(&mut blocks, 1.0 / f, original);
    }
    let seconds = start.elapsed().as_secs_f64();
    metrics::counter!("ocr_pages_total").increment(1);
    metrics::histogram!("ocr_page_seconds").record(seconds);
    Ok(Recognized {
        text,
        blocks,
        mean_confidence: engine.mean_confidence(),
        seconds,
        rotation: 0,
        width: original.0,
        height: original.1,
    })
}
