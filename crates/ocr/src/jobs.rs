//! Asynchronous OCR jobs for large documents. A job belongs to the user who
//! made it (anyone else gets 404), reports pages done out of pages total,
//! and is forgotten `job_ttl_secs` after it finishes.
//!
//! Jobs live in this process's memory: a restart loses queued and running
//! jobs and their results, and their ids then answer 404; clients submit
//! again. With several OCR replicas, a job is only known to the replica that
//! took it (route job polling with session affinity, or use the synchronous
//! endpoint).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use utoipa::ToSchema;

use crate::service::Document;

/// Pages done out of pages total, shared with the running document.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicUsize,
    pub done: AtomicUsize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobError {
    pub status: u16,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub status: JobStatus,
    pub pages_done: usize,
    /// Unknown (null) until the document is decoded.
    pub pages_total: Option<usize>,
    pub created_at: i64,
    /// When the job and its result will be forgotten (set once finished).
    pub expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<wire::ocr::Document>)]
    pub result: Option<Document>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
}

struct Job {
    owner: String,
    status: JobStatus,
    progress: Arc<Progress>,
    created_at: i64,
    finished_at: Option<i64>,
    result: Option<Document>,
    error: Option<JobError>,
}

#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Mutex<HashMap<String, Job>>>,
    ttl: i64,
    max_active: usize,
    max_active_per_owner: usize,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TooManyJobs {
    #[error("too many OCR jobs in progress")]
    All,
    #[error("at most {0} OCR jobs in progress per user")]
    Owner(usize),
}

impl Jobs {
    /// At most `max_active` jobs queued or running, and `max_active_per_owner`
    /// of one owner's (0: no per-owner limit).
    pub fn new(ttl_secs: i64, max_active: usize, max_active_per_owner: usize) -> Self {
        Self {
            inner: Arc::default(),
            ttl: ttl_secs,
            max_active,
            max_active_per_owner,
        }
    }

    fn sweep(map: &mut HashMap<String, Job>, now: i64, ttl: i64) {
        map.retain(|_, j| j.finished_at.is_none_or(|at| at + ttl > now));
    }

    /// Register a queued job for `owner`.
    pub fn create(&self, owner: &str) -> Result<(String, Arc<Progress>), TooManyJobs> {
        let now = kit::unix_now();
        let mut map = self.inner.lock().expect("jobs lock");
        Self::sweep(&mut map, now, self.ttl);
        let active = || map.values().filter(|j| j.finished_at.is_none());
        if self.max_active_per_owner > 0
            && active().filter(|j| j.owner == owner).count() >= self.max_active_per_owner
        {
            return Err(TooManyJobs::Owner(self.max_active_per_owner));
        }
        if active().count() >= self.max_active {
            return Err(TooManyJobs::All);
        }
        let id = uuid_like();
        let progress = Arc::new(Progress::default());
        map.insert(
            id.clone(),
            Job {
                owner: owner.to_owned(),
                status: JobStatus::Queued,
                progress: progress.clone(),
                created_at: now,
                finished_at: None,
                result: None,
                error: None,
            },
        );
        Ok((id, progress))
    }

    pub fn start(&self, id: &str) {
        if let Some(job) = self.inner.lock().expect("jobs lock").get_mut(id) {
            job.status = JobStatus::Running;
        }
    }

    pub fn finish(&self, id: &str, outcome: Result<Document, JobError>) {
        let mut map = self.inner.lock().expect("jobs lock");
        if let Some(job) = map.get_mut(id) {
            job.finished_at = Some(kit::unix_now());
            match outcome {
                Ok(doc) => {
                    job.status = JobStatus::Done;
                    job.result = Some(doc);
                }
                Err(e) => {
                    job.status = JobStatus::Failed;
                    job.error = Some(e);
                }
            }
        }
    }

    /// The job, if it exists, has not expired and belongs to `owner`.
    pub fn get(&self, id: &str, owner: &str) -> Option<JobView> {
        let now = kit::unix_now();
        let mut map = self.inner.lock().expect("jobs lock");
        Self::sweep(&mut map, now, self.ttl);
        let job = map.get(id).filter(|j| j.owner == owner)?;
        let total = job.progress.total.load(Ordering::SeqCst);
        Some(JobView {
            id: id.to_owned(),
            status: job.status,
            pages_done: job.progress.done.load(Ordering::SeqCst),
            pages_total: (total > 0).then_some(total),
            created_at: job.created_at,
            expires_at: job.finished_at.map(|at| at + self.ttl),
            result: job.result.clone(),
            error: job.error.clone(),
        })
    }
}

/// A random 128-bit id in hex.
fn uuid_like() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_owner_is_held_to_its_share_of_jobs() {
        let jobs = Jobs::new(60, 5, 2);
        let (a1, _) = jobs.create("a").unwrap();
        jobs.create("a").unwrap();
        assert_eq!(jobs.create("a").unwrap_err(), TooManyJobs::Owner(2));
        jobs.create("b").expect("another user still gets a job");
        jobs.create("c").unwrap();
        jobs.create("d").unwrap();
        assert_eq!(jobs.create("e").unwrap_err(), TooManyJobs::All);
        jobs.finish(
            &a1,
            Err(JobError {
                status: 422,
                detail: "x".into(),
            }),
        );
        assert!(jobs.create("a").is_ok(), "a finished job no longer counts");
    }
}
