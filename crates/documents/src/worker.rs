//! Workers: each claims a document with a lease, reads its pages in order
//! with the next ones started while the first is recognized (renewing the
//! lease meanwhile), stores each page in order as it finishes, and settles
//! the document. A document left half-done by a stopped or crashed process
//! is taken again at its next page, by this replica or another, once its
//! lease runs out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;
use wire::ocr::OcrOptions;

use crate::library::Library;
use crate::reader::ReadError;
use crate::search::PageTerms;
use crate::store::{now_ms, Claim, PageRow, Settle};

/// The workers of this process.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Start `count` workers and the queue gauges' sampler.
    pub fn start(library: &Library, count: usize) -> Self {
        let (stop, stopped) = watch::channel(false);
        let process = uuid::Uuid::new_v4().simple().to_string();
        let mut tasks: Vec<JoinHandle<()>> = (0..count.max(1))
            .map(|n| {
                let worker = Worker {
                    library: library.clone(),
                    holder: format!("{process}-{n}"),
                    stop: stopped.clone(),
                };
                tokio::spawn(worker.run())
            })
            .collect();
        tasks.push(tokio::spawn(sample_queue(library.clone(), stopped)));
        Self { stop, tasks }
    }

    /// Stop claiming; a worker finishes and stores the page it is reading,
    /// then hands its document back to the queue without counting the
    /// attempt.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

struct Worker {
    library: Library,
    holder: String,
    stop: watch::Receiver<bool>,
}

/// What became of a claimed document.
enum Outcome {
    Done,
    Failed(String, &'static str),
    Retry(String),
    /// The process is stopping.
    Released,
    /// The lease is gone (deleted, or taken after running out).
    Lost,
}

impl Worker {
    fn lease_ms(&self) -> i64 {
        (self.library.config.lease_secs.max(1) * 1000) as i64
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    async fn run(mut self) {
        let poll = Duration::from_millis(self.library.config.poll_ms.max(10));
        while !self.stopping() {
            let until = now_ms() + self.lease_ms();
            match self.library.store.claim(&self.holder, until).await {
                Ok(Some(claim)) => self.process(claim).await,
                Ok(None) => {
                    let queued = self.library.queued.clone();
                    tokio::select! {
                        _ = queued.notified() => {}
                        _ = tokio::time::sleep(poll) => {}
                        _ = self.stop.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a document");
                    tokio::time::sleep(poll).await;
                }
            }
        }
    }

    #[tracing::instrument(skip_all, name = "document_process", fields(document = %claim.id, attempt = claim.attempts))]
    async fn process(&mut self, claim: Claim) {
        let outcome = self.read(&claim).await;
        let settle = match &outcome {
            Outcome::Done => Settle::Done,
            Outcome::Failed(reason, label) => {
                metrics::counter!("documents_failures_total", "reason" => *label).increment(1);
                tracing::warn!(reason, "document failed");
                Settle::Failed(reason)
            }
            Outcome::Retry(reason) => {
                metrics::counter!("documents_retries_total").increment(1);
                let config = &self.library.config;
                let exponent = (claim.attempts.max(1) - 1).min(20) as u32;
                let wait = config
                    .retry_base_secs
                    .saturating_mul(1 << exponent)
                    .min(config.retry_max_secs);
                tracing::info!(reason, wait, "document retried later");
                Settle::Retry {
                    reason,
                    not_before: now_ms() + (wait * 1000) as i64,
                }
            }
            Outcome::Released => Settle::Release,
            Outcome::Lost => return,
        };
        match self
            .library
            .store
            .settle(&claim.id, &self.holder, settle)
            .await
        {
            Ok(true) => {
                if matches!(outcome, Outcome::Done) {
                    metrics::counter!("documents_done_total").increment(1);
                }
            }
            Ok(false) => tracing::info!("lease lost before settling"),
            Err(e) => tracing::warn!(error = %e, "settling a document; its lease will run out"),
        }
    }

    async fn read(&mut self, claim: &Claim) -> Outcome {
        let library = self.library.clone();
        let max = i64::from(library.config.max_attempts.max(1));
        if claim.attempts > max {
            let last = claim
                .error
                .as_deref()
                .unwrap_or("the reader stopped each time");
            return Outcome::Failed(format!("gave up after {max} attempts: {last}"), "attempts");
        }
        let Ok(options) = serde_json::from_str::<OcrOptions>(&claim.options) else {
            return Outcome::Failed("its stored options cannot be read".into(), "options");
        };
        let bytes = match library.blobs.original_of(&claim.id).await {
            Ok(bytes) => bytes,
            Err(crate::blob::BlobError::Store(object_store::Error::NotFound { .. })) => {
                return Outcome::Lost;
            }
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let total = claim.pages_total.unwrap_or(0);
        let first = match library.store.next_page(&claim.id).await {
            Ok(n) => n,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let window = 1 + library.config.pages_ahead;
        let mut reading: VecDeque<Reading> = VecDeque::with_capacity(window);
        let mut next = first;
        let mut renew =
            tokio::time::interval(Duration::from_millis((self.lease_ms() / 3).max(100) as u64));
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.tick().await;
        loop {
            // A stopping worker starts no page, and stores those it started.
            while !self.stopping() && next <= total && reading.len() < window {
                reading.push_back(Reading::start(&library, claim, &bytes, &options, next));
                next += 1;
            }
            let Some(mut page) = reading.pop_front() else {
                return if next > total {
                    Outcome::Done
                } else {
                    Outcome::Released
                };
            };
            let result = loop {
                tokio::select! {
                    result = &mut page.task => break result,
                    _ = renew.tick() => {
                        let until = now_ms() + self.lease_ms();
                        match library.store.renew(&claim.id, &self.holder, until).await {
                            Ok(true) => {}
                            Ok(false) => return Outcome::Lost,
                            Err(e) => tracing::warn!(error = %e, "renewing a lease"),
                        }
                    }
                }
            };
            let read = match result {
                Ok(Ok(read)) => read,
                Ok(Err(ReadError::Permanent(reason))) => {
                    return Outcome::Failed(reason, "unreadable")
                }
                Ok(Err(ReadError::Transient(reason))) => return Outcome::Retry(reason),
                Err(e) => return Outcome::Retry(format!("the page's reader stopped: {e}")),
            };
            let terms = PageTerms::of_page(&read);
            let row = PageRow {
                number: page.number,
                result: serde_json::to_string(&read).unwrap_or_default(),
            };
            let until = now_ms() + self.lease_ms();
            match library
                .store
                .store_page(&claim.id, &self.holder, &row, &terms, until)
                .await
            {
                Ok(true) => {
                    metrics::counter!("documents_pages_total").increment(1);
                    metrics::histogram!("documents_page_seconds")
                        .record(page.started.elapsed().as_secs_f64());
                }
                Ok(false) => return Outcome::Lost,
                Err(e) => return Outcome::Retry(e.to_string()),
            }
        }
    }
}

/// One page of a claimed document being read in a task of its own, so that
/// it goes on while the worker waits for or stores the page before it.
/// Dropped (the lease lost, the document failed), it is cancelled.
struct Reading {
    number: i64,
    started: Instant,
    task: JoinHandle<Result<wire::ocr::Page, ReadError>>,
}

impl Reading {
    fn start(
        library: &Library,
        claim: &Claim,
        bytes: &Bytes,
        options: &OcrOptions,
        number: i64,
    ) -> Self {
        let reader = library.reader.clone();
        let (owner, bytes, options) = (claim.owner.clone(), bytes.clone(), options.clone());
        let task = tokio::spawn(
            async move {
                reader
                    .read(&owner, bytes, &options, (number - 1) as usize)
                    .await
            }
            .in_current_span(),
        );
        Self {
            number,
            started: Instant::now(),
            task,
        }
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Queue depth and the age of the oldest waiting document, as gauges.
async fn sample_queue(library: Library, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(5);
    while !*stop.borrow() {
        match library.store.queue_depth().await {
            Ok((depth, oldest_ms)) => {
                metrics::gauge!("documents_queue_depth").set(depth as f64);
                metrics::gauge!("documents_oldest_queued_seconds").set(oldest_ms as f64 / 1000.0);
            }
            Err(e) => tracing::debug!(error = %e, "sampling the queue"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}
