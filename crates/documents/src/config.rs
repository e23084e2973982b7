//! The library's settings (`[documents]` in `scriptorium.toml`,
//! `SCRIPTORIUM_DOCUMENTS__*` in the environment, `*_FILE` for secrets).

use kit::database::{DatabaseAddress, DatabaseUrlError};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentsConfig {
    /// `sqlite://data/documents.db?mode=rwc` (default) or `postgres://...`.
    pub database_url: String,
    /// PostgreSQL user, replacing the URL's (`..._DATABASE_USER_FILE`).
    pub database_user: Option<String>,
    /// PostgreSQL password, replacing the URL's (`..._DATABASE_PASSWORD_FILE`).
    #[serde(skip_serializing)]
    pub database_password: Option<SecretString>,
    /// PostgreSQL database name, replacing the URL's.
    pub database_name: Option<String>,
    pub max_connections: u32,
    pub blobs: BlobConfig,
    /// Documents read at once by this process (default: as many as OCR
    /// engines).
    pub workers: Option<usize>,
    /// Pages a worker starts ahead of the one it waits for: the next pages
    /// are decoded and queued while the last is recognized, so an engine
    /// never waits on a worker's decoding or storing, even with one
    /// document left (bench/library.sh: 93% of /v1/ocr's pages/s with 1,
    /// 96% with 2). 0: one page at a time.
    pub pages_ahead: usize,
    /// How long a claim on a document holds without renewal.
    pub lease_secs: u64,
    /// Claims of one document before it is `failed`.
    pub max_attempts: u32,
    /// First wait before a retry; each further one doubles it.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// How often an idle worker looks for work that another replica queued.
    pub poll_ms: u64,
    /// Largest upload (the same limit as `/v1/ocr` by default).
    pub max_upload_bytes: usize,
    /// Per user: bytes of originals stored.
    pub quota_bytes: u64,
    /// Per user: documents stored.
    pub quota_documents: u64,
    /// OCR's API (the OCR service or a gateway, e.g. `http://ocr:8080`),
    /// where pages are read when OCR does not run in this process.
    pub ocr_url: Option<String>,
    /// The API key pages are read with at `ocr_url`: a key of an account
    /// kept for the library (`..._OCR_API_KEY_FILE`).
    #[serde(skip_serializing)]
    pub ocr_api_key: Option<SecretString>,
    /// Asking the library (`[documents.ask]`).
    pub ask: AskConfig,
}

/// How `/v1/ask` finds passages and asks the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AskConfig {
    /// The OpenAI-compatible API that answers, when the llm service does
    /// not run in this process (e.g. `http://gateway:8080`); the caller's
    /// own credential is passed on.
    pub llm_url: Option<String>,
    /// The model to ask (default: the server's default).
    pub model: Option<String>,
    /// The model's context in tokens, when `/v1/models` does not say it.
    pub context_tokens: u32,
    /// The longest answer, in tokens.
    pub answer_tokens: u32,
    /// Pages retrieved for a question, before their passages are ranked.
    pub candidate_pages: u32,
    /// Passages given to the model at most, however many fit.
    pub max_passages: usize,
    /// The longest question, in characters.
    pub max_question_chars: usize,
    /// The answers' `frequency_penalty` (OpenAI's, so that any backend
    /// applies it). 0 by default: on `bench/ask.sh`, 0.5 made SmolLM2's
    /// answers right more often and the default model's no better.
    pub frequency_penalty: FrequencyPenalty,
}

/// OpenAI's `frequency_penalty`: from -2 to 2, checked when the
/// configuration is read rather than refused by the model on every question.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f32", into = "f32")]
pub struct FrequencyPenalty(f32);

impl TryFrom<f32> for FrequencyPenalty {
    type Error = String;

    fn try_from(value: f32) -> Result<Self, Self::Error> {
        if wire::llm::PENALTY.contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!("frequency_penalty is from -2 to 2, not {value}"))
        }
    }
}

impl From<FrequencyPenalty> for f32 {
    fn from(penalty: FrequencyPenalty) -> Self {
        penalty.0
    }
}

impl Default for AskConfig {
    fn default() -> Self {
        Self {
            llm_url: None,
            model: None,
            context_tokens: 2048,
            answer_tokens: 256,
            candidate_pages: 8,
            max_passages: 6,
            max_question_chars: 2000,
            frequency_penalty: FrequencyPenalty(0.0),
        }
    }
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/documents.db?mode=rwc".into(),
            database_user: None,
            database_password: None,
            database_name: None,
            max_connections: 8,
            blobs: BlobConfig::default(),
            workers: None,
            pages_ahead: 2,
            lease_secs: 30,
            max_attempts: 5,
            retry_base_secs: 2,
            retry_max_secs: 300,
            poll_ms: 1000,
            max_upload_bytes: 64 * 1024 * 1024,
            quota_bytes: 2 * 1024 * 1024 * 1024,
            quota_documents: 10_000,
            ocr_url: None,
            ocr_api_key: None,
            ask: AskConfig::default(),
        }
    }
}

impl DocumentsConfig {
    /// `database_url` with the Secret's credentials put in.
    pub fn connection_url(&self) -> Result<SecretString, DatabaseUrlError> {
        DatabaseAddress {
            url: &self.database_url,
            user: self.database_user.as_deref(),
            password: self.database_password.as_ref(),
            name: self.database_name.as_deref(),
        }
        .connection_url()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobKind {
    /// A directory of this machine.
    Local,
    /// An S3-compatible object store.
    S3,
}

/// Where originals and derived files are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlobConfig {
    pub kind: BlobKind,
    /// `local`: the directory (created if missing).
    pub path: String,
    /// `s3`: the bucket, which must exist.
    pub bucket: String,
    /// `s3`: the endpoint, e.g. `http://127.0.0.1:8333`; unset for AWS.
    pub endpoint: Option<String>,
    pub region: String,
    #[serde(skip_serializing)]
    pub access_key_id: Option<SecretString>,
    #[serde(skip_serializing)]
    pub secret_access_key: Option<SecretString>,
}

impl Default for BlobConfig {
    fn default() -> Self {
        Self {
            kind: BlobKind::Local,
            path: "data/blobs".into(),
            bucket: "scriptorium".into(),
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frequency_penalty_out_of_range_is_refused_when_read() {
        let ask: AskConfig = serde_json::from_str(r#"{"frequency_penalty": -0.25}"#).unwrap();
        assert_eq!(f32::from(ask.frequency_penalty), -0.25);
        for bad in ["2.5", "-3", "1e9"] {
            let err =
                serde_json::from_str::<AskConfig>(&format!(r#"{{"frequency_penalty": {bad}}}"#))
                    .unwrap_err();
            assert!(err.to_string().contains("from -2 to 2"), "{bad}: {err}");
        }
    }
}
