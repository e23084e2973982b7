//! LLM settings (`[llm]`, `SCRIPTORIUM_LLM__*`).

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Where completions are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// llama.cpp in this process, on the configured GGUF model.
    #[default]
    Local,
    /// Any OpenAI-compatible server (vLLM, TGI, another Scriptorium).
    Openai,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    pub backend: BackendKind,
    /// The GGUF model file.
    pub model: PathBuf,
    /// The name clients use in `model`; unset: the file name without `.gguf`.
    pub model_id: Option<String>,
    /// A Jinja chat template replacing the model's `tokenizer.chat_template`.
    pub chat_template_file: Option<PathBuf>,
    /// Sequences decoded together (continuous batching).
    pub slots: usize,
    /// Context length of each slot, in tokens.
    pub context_per_slot: u32,
    /// Most tokens fed to one decode step (prompt chunks and generated tokens).
    pub batch_size: u32,
    /// Requests waiting for a slot before new ones get 429.
    pub queue_depth: usize,
    /// Decode threads; unset: this service's share of the core budget.
    pub threads: Option<usize>,
    /// `max_tokens` when a request gives none.
    pub default_max_tokens: u32,
    /// The upstream server when `backend = "openai"`.
    pub upstream: UpstreamConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL up to and including `/v1`, e.g. `http://vllm:8000/v1`.
    pub base_url: Option<String>,
    /// Bearer key sent upstream (`SCRIPTORIUM_LLM__UPSTREAM__API_KEY_FILE`).
    #[serde(skip_serializing)]
    pub api_key: Option<SecretString>,
    /// The upstream model name; unset: the client's `model` is passed on.
    pub model: Option<String>,
    pub timeout_secs: u64,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            model: None,
            timeout_secs: 600,
        }
    }
}

/// The model `run.sh` downloads (see `docs/llm.md` for why).
pub const DEFAULT_MODEL: &str = "models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            backend: BackendKind::Local,
            model: PathBuf::from(DEFAULT_MODEL),
            model_id: None,
            chat_template_file: None,
            slots: 4,
            context_per_slot: 4096,
            batch_size: 512,
            queue_depth: 64,
            threads: None,
            default_max_tokens: 512,
            upstream: UpstreamConfig::default(),
        }
    }
}

impl LlmConfig {
    /// The id served in `/v1/models` and answered in `model`.
    pub fn model_id(&self) -> String {
        if let Some(id) = &self.model_id {
            return id.clone();
        }
        if self.backend == BackendKind::Openai {
            if let Some(m) = &self.upstream.model {
                return m.clone();
            }
        }
        self.model
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".gguf").to_string())
            .unwrap_or_else(|| "model".into())
    }
}
