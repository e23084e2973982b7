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

/// What turns a `response_format` schema into the constraint sampling
/// follows (see `docs/llm.md`, "Structured output", for both measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GrammarEngine {
    /// llguidance: the schema compiled to a lexer and parser that compute
    /// the allowed tokens from a token trie, a small cost per step.
    #[default]
    Llguidance,
    /// llama.cpp's GBNF grammar sampler, from llama.cpp's schema converter.
    Gbnf,
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
    /// Generations one user may have queued or running at once, beyond
    /// which the next gets 429; unset: half the slots (at least one), so
    /// that one user cannot hold every slot. 0: no limit.
    pub max_sequences_per_user: Option<usize>,
    /// Bounds on `response_format` JSON schemas, checked before any work.
    pub schema_limits: SchemaLimits,
    /// How structured output is enforced.
    pub grammar_engine: GrammarEngine,
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
            max_sequences_per_user: None,
            schema_limits: SchemaLimits::default(),
            grammar_engine: GrammarEngine::default(),
            threads: None,
            default_max_tokens: 512,
            upstream: UpstreamConfig::default(),
        }
    }
}

/// What a `response_format` schema may hold. The grammar built from it is
/// applied to every candidate token at every step of the engine thread, so
/// its cost falls on every user of the engine: these bound it (see
/// `docs/llm.md`, "Structured output", for the measurements behind them).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaLimits {
    /// The schema as JSON text, in bytes.
    pub max_bytes: usize,
    /// `enum` values, and `const`s, over the whole schema.
    pub max_enum_values: usize,
    /// `anyOf` / `oneOf` branches over the whole schema.
    pub max_alternatives: usize,
    /// Nesting of objects and arrays in the schema.
    pub max_depth: usize,
    /// `properties` entries over the whole schema.
    pub max_properties: usize,
    /// The largest repetition count (`minLength`, `maxItems`, a pattern's
    /// `{m,n}`...): the grammar spells every repetition out.
    pub max_repetition: usize,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        Self {
            max_bytes: 8 * 1024,
            max_enum_values: 16,
            max_alternatives: 8,
            max_depth: 12,
            max_properties: 64,
            max_repetition: 256,
        }
    }
}

impl LlmConfig {
    /// `max_sequences_per_user` with its default applied; 0 is no limit.
    pub fn sequences_per_user(&self) -> usize {
        self.max_sequences_per_user
            .unwrap_or_else(|| self.slots.div_ceil(2).max(1))
    }

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
