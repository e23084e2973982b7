//! The local engine: one thread owns the llama.cpp context and runs
//! continuous batching over a fixed set of slots (see `scheduler`).
//! Requests wait in a bounded queue; a full queue is refused at once.

pub mod output;
mod plan;
pub mod sampling;
mod scheduler;
mod turns;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use kit::fair::{fair_channel, FairSender, OwnerLimit, OwnerPermit, SendError};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc;

use crate::config::GrammarEngine;
use crate::config::LlmConfig;
use crate::error::LlmError;
use crate::grammar::{Grammar, GrammarCompiler};
use crate::template::ChatTemplate;
pub use sampling::SamplingParams;
use wire::llm::Usage;

/// Why a sequence ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
}

impl Finish {
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
        }
    }

    /// The `finish_reason` the API reports.
    pub fn reason(self) -> wire::llm::FinishReason {
        match self {
            Finish::Stop => wire::llm::FinishReason::Stop,
            Finish::Length => wire::llm::FinishReason::Length,
        }
    }
}

/// What the engine sends back for a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Text(String),
    Done { finish: Finish, usage: Usage },
    Error(String),
}

/// A tokenized request ready for the engine.
pub struct Generation {
    pub prompt: Vec<LlamaToken>,
    pub params: SamplingParams,
    /// `params.schema` compiled ([`LoadedModel::compile`]), off the engine
    /// thread.
    pub grammar: Option<Grammar>,
    pub max_tokens: u32,
    pub stop: Vec<String>,
}

impl Job {
    /// The user whose request this is.
    pub(crate) fn owner(&self) -> &str {
        self.permit.owner()
    }
}

pub(crate) struct Job {
    generation: Generation,
    events: mpsc::UnboundedSender<Event>,
    enqueued: Instant,
    span: tracing::Span,
    /// The owner's unit of `llm.max_sequences_per_user`, given back when the
    /// job ends (finished, failed or cancelled, queued or running).
    permit: OwnerPermit,
}

/// The model as the HTTP side sees it: for tokenizing, templates and limits.
pub struct LoadedModel {
    pub model: Arc<LlamaModel>,
    pub template: Option<ChatTemplate>,
    pub grammars: GrammarCompiler,
    pub context_per_slot: usize,
    pub created: i64,
}

impl LoadedModel {
    pub fn tokenize(&self, text: &str, add_special: bool) -> Vec<LlamaToken> {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), add_special, true)
    }

    /// Tokens for a rendered chat prompt: BOS only when the model wants one
    /// and the template did not already write it.
    pub fn tokenize_chat(&self, prompt: &str) -> Vec<LlamaToken> {
        let vocab = self.model.vocab();
        let mut tokens = vocab.tokenize(prompt.as_bytes(), false, true);
        if vocab.should_add_bos() && tokens.first() != Some(&vocab.bos()) {
            tokens.insert(0, vocab.bos());
        }
        tokens
    }

    pub fn detokenize(&self, tokens: &[LlamaToken]) -> String {
        let bytes = self.model.vocab().detokenize(tokens, false, false);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn n_vocab(&self) -> i32 {
        self.model.n_vocab()
    }

    /// The request's schema compiled for this model; a schema that cannot
    /// be compiled is the request's fault, found before it queues.
    pub fn compile(&self, params: &SamplingParams) -> Result<Option<Grammar>, LlmError> {
        params
            .schema
            .as_ref()
            .map(|schema| self.grammars.compile(&self.model, schema))
            .transpose()
    }
}

/// Shared between the engine thread and the handle.
struct Shared {
    model: OnceLock<Result<Arc<LoadedModel>, String>>,
    model_label: String,
}

/// A handle to the engine thread. Cloning is cheap; the thread ends when the
/// last handle is dropped.
#[derive(Clone)]
pub struct Engine {
    tx: FairSender<Job>,
    per_user: OwnerLimit,
    shared: Arc<Shared>,
}

/// llama.cpp's global state, initialized once per process.
fn backend() -> &'static LlamaBackend {
    static BACKEND: OnceLock<LlamaBackend> = OnceLock::new();
    BACKEND.get_or_init(|| {
        llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
        LlamaBackend::init().expect("llama.cpp backend initializes once")
    })
}

impl Engine {
    /// Starts the engine thread, which loads the model; `ready` turns true
    /// once it has.
    pub fn start(config: &LlmConfig, threads: usize) -> Self {
        // Waiting requests are served round-robin across users.
        let (tx, rx) = fair_channel(config.queue_depth.max(1));
        let per_user = OwnerLimit::new(config.sequences_per_user());
        let shared = Arc::new(Shared {
            model: OnceLock::new(),
            model_label: config.model_id(),
        });
        let thread_shared = shared.clone();
        let config = config.clone();
        std::thread::Builder::new()
            .name("llm-engine".into())
            .spawn(move || scheduler::run(&config, threads, rx, &thread_shared))
            .expect("spawning the engine thread");
        Self {
            tx,
            per_user,
            shared,
        }
    }

    /// The loaded model, or why there is none.
    pub fn model(&self) -> Result<Arc<LoadedModel>, LlmError> {
        match self.shared.model.get() {
            None => Err(LlmError::Loading),
            Some(Err(e)) => Err(LlmError::Unavailable(format!(
                "the model failed to load: {e}"
            ))),
            Some(Ok(m)) => Ok(m.clone()),
        }
    }

    pub fn ready(&self) -> Result<(), String> {
        match self.shared.model.get() {
            None => Err("loading the model".into()),
            Some(Err(e)) => Err(format!("the model failed to load: {e}")),
            Some(Ok(_)) => Ok(()),
        }
    }

    /// Queues a generation for `owner` (a user id); events arrive on the
    /// returned receiver. Dropping the receiver cancels the generation
    /// within one decode step. An owner holding `llm.max_sequences_per_user`
    /// generations (queued or running) is refused, as is a full queue.
    pub fn submit(
        &self,
        owner: &str,
        generation: Generation,
    ) -> Result<mpsc::UnboundedReceiver<Event>, LlmError> {
        let model = self.model()?;
        let limit = model.context_per_slot;
        if generation.prompt.len() >= limit {
            return Err(LlmError::ContextLength {
                prompt: generation.prompt.len(),
                limit,
            });
        }
        if generation.prompt.is_empty() {
            return Err(LlmError::invalid("the prompt is empty", "prompt"));
        }
        let permit = self
            .per_user
            .acquire(owner)
            .map_err(|e| LlmError::PerUserLimit(e.limit))?;
        let (events, rx) = mpsc::unbounded_channel();
        let job = Job {
            generation,
            events,
            enqueued: Instant::now(),
            span: tracing::Span::current(),
            permit,
        };
        match self.tx.send(owner, job) {
            Ok(()) => {
                self.queue_gauge();
                Ok(rx)
            }
            // The engine's queue has no per-owner share: the permit bounds
            // what one owner has queued and running.
            Err(SendError::Full(_) | SendError::OwnerFull(_)) => {
                Err(LlmError::QueueFull(self.tx.len()))
            }
            Err(SendError::Closed(_)) => {
                Err(LlmError::Unavailable("the engine has stopped".into()))
            }
        }
    }

    fn queue_gauge(&self) {
        metrics::gauge!("llm_queue_depth", "model" => self.shared.model_label.clone())
            .set(self.tx.len() as f64);
    }
}

/// Loads the GGUF file and reads its chat template.
fn load(
    path: &Path,
    template_override: Option<&Path>,
    context_per_slot: usize,
    grammar_engine: GrammarEngine,
) -> Result<LoadedModel, String> {
    if !path.is_file() {
        return Err(format!(
            "no model file at {} (run ./run.sh to download the default model, or set llm.model)",
            path.display()
        ));
    }
    let model = LlamaModel::load_from_file(backend(), path, &LlamaModelParams::default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let source = match template_override {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| format!("chat template {}: {e}", file.display()))?,
        ),
        None => model.meta_val_str("tokenizer.chat_template").ok(),
    };
    let vocab = model.vocab();
    let piece =
        |t: LlamaToken| String::from_utf8_lossy(&vocab.token_to_piece(t, true, None)).into_owned();
    let bos = piece(vocab.bos());
    let eos = piece(vocab.eos());
    let template = match source {
        Some(src) => Some(ChatTemplate::new(&src, &bos, &eos).map_err(|e| e.to_string())?),
        None => None,
    };
    let created = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let context_per_slot = context_per_slot.min(model.n_ctx_train() as usize).max(16);
    let grammars = GrammarCompiler::new(&model, grammar_engine)?;
    Ok(LoadedModel {
        model: Arc::new(model),
        template,
        grammars,
        context_per_slot,
        created,
    })
}
