//! The engine thread: continuous batching over a fixed set of slots, as
//! the [`Plan`] decides it (admission, batch assembly, finishes), executed
//! on llama.cpp here (KV ranges, decode, sampling, text, events, metrics).
//!
//! Each slot is one llama.cpp sequence with its own sampler chain and KV
//! range. Every step gathers one token from each generating slot and prompt
//! chunks from slots still reading their prompt into a single `decode`;
//! waiting requests join between steps. A finished slot keeps its KV cache,
//! and the next request goes to the free slot sharing the longest prompt
//! prefix with it, so a conversation's earlier turns are not computed again.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kit::fair::FairChannel;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use wire::llm::Usage;

use super::output::{Step, TextOutput};
use super::plan::{Plan, Request};
use super::sampling::Sampler;
use super::{load, Event, Finish, Job, LoadedModel, Shared};
use crate::config::LlmConfig;

/// How long an idle engine waits, after the first request, for others
/// arriving with it: a few milliseconds against a prompt step of hundreds.
const BURST_WINDOW: Duration = Duration::from_millis(5);

/// A request being served: the job, its sampler and its text output.
struct Running {
    job: Job,
    sampler: Sampler,
    output: TextOutput,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
}

impl Request for Running {
    fn prompt(&self) -> &[LlamaToken] {
        &self.job.generation.prompt
    }
    fn max_tokens(&self) -> u32 {
        self.job.generation.max_tokens
    }
    fn owner(&self) -> &str {
        self.job.owner()
    }
}

/// The engine's gauges, registered once rather than looked up every step.
struct Metrics {
    running: metrics::Gauge,
    queue: metrics::Gauge,
}

impl Metrics {
    fn new(label: &str) -> Self {
        Self {
            running: metrics::gauge!("llm_running_sequences", "model" => label.to_owned()),
            queue: metrics::gauge!("llm_queue_depth", "model" => label.to_owned()),
        }
    }
    fn running(&self, n: usize) {
        self.running.set(n as f64);
    }
    fn queue(&self, n: usize) {
        self.queue.set(n as f64);
    }
    fn outcome(&self, outcome: &'static str) {
        metrics::counter!("llm_requests_total", "outcome" => outcome).increment(1);
    }
}

pub(super) fn run(config: &LlmConfig, threads: usize, rx: FairChannel<Job>, shared: &Arc<Shared>) {
    let span = tracing::info_span!("llm_engine", model = %shared.model_label, threads);
    let _guard = span.enter();
    let started = Instant::now();
    let loaded = match load(
        &config.model,
        config.chat_template_file.as_deref(),
        config.context_per_slot as usize,
        config.grammar_engine,
    ) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            tracing::error!(error = %e, "loading the model failed");
            let _ = shared.model.set(Err(e));
            return;
        }
    };
    let slots = config.slots.max(1);
    let n_ctx = loaded.context_per_slot * slots;
    let batch_size = config.batch_size.max(slots as u32).max(32);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx as u32))
        .with_n_batch(batch_size)
        .with_n_ubatch(batch_size)
        .with_n_seq_max(slots as u32)
        // A KV stream per sequence rather than one unified cache: a token
        // attends over its own sequence's cells only, not over every
        // slot's (llama-batched-bench here: 4 sequences, 10% faster steps).
        .with_kv_unified(false)
        .with_n_threads(threads as i32)
        .with_n_threads_batch(threads as i32);
    let model = loaded.model.clone();
    let ctx = match model.new_context(super::backend(), params) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "creating the llama.cpp context failed");
            let _ = shared.model.set(Err(e.to_string()));
            return;
        }
    };
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        slots,
        context_per_slot = loaded.context_per_slot,
        has_chat_template = loaded.template.is_some(),
        "model loaded"
    );
    let _ = shared.model.set(Ok(loaded.clone()));

    let mut engine = Executor {
        plan: Plan::new(slots, loaded.context_per_slot, batch_size as usize),
        batch: LlamaBatch::new(batch_size as usize, 1),
        ctx,
        loaded,
        metrics: Metrics::new(&shared.model_label),
    };
    loop {
        // Requests whose client went away free their slot now.
        for _ in engine.plan.release_where(|r| r.job.events.is_closed()) {
            engine.metrics.outcome("cancelled");
        }

        // Admit waiting requests into free slots; sleep when idle. Woken
        // from idle, wait a moment for the rest of a burst, so that prompts
        // arriving together are read in one batch rather than one alone and
        // the others a whole prompt step later.
        if engine.plan.running() == 0 {
            engine.metrics.running(0);
            match rx.recv() {
                Some(job) => engine.admit(job),
                None => break,
            }
            let until = Instant::now() + BURST_WINDOW;
            while engine.plan.has_free() {
                match rx.recv_deadline(until) {
                    Some(job) => engine.admit(job),
                    None => break,
                }
            }
        }
        while engine.plan.has_free() {
            match rx.try_recv() {
                Some(job) => engine.admit(job),
                None => break,
            }
        }
        let running = engine.plan.running();
        engine.metrics.running(running);
        engine.metrics.queue(rx.len());
        if running > 0 {
            engine.step(running);
        }
    }
    tracing::info!("engine stopped");
}

/// llama.cpp running what the [`Plan`] says.
struct Executor<'m> {
    plan: Plan<Running>,
    batch: LlamaBatch<'static>,
    ctx: LlamaContext<'m>,
    loaded: Arc<LoadedModel>,
    metrics: Metrics,
}

impl Executor<'_> {
    /// Puts a job in the free slot the plan chooses, dropping the part of
    /// that slot's KV range its prompt does not share.
    fn admit(&mut self, mut job: Job) {
        if job.events.is_closed() {
            self.metrics.outcome("cancelled");
            return;
        }
        let mut at = self
            .plan
            .place(&job.generation.prompt)
            .expect("admit is called with a free slot");
        let seq = self.plan.seq(at.slot) as u32;
        if self
            .ctx
            .clear_kv_cache_seq(Some(seq), Some(at.keep as u32), None)
            .map(|removed| !removed)
            .unwrap_or(true)
        {
            // Partial removal is not possible for this model: start afresh.
            let _ = self.ctx.clear_kv_cache_seq(Some(seq), None, None);
            at.keep = 0;
        }
        let grammar = job.generation.grammar.take();
        let sampler = Sampler::new(&job.generation.params, &self.loaded.model, grammar);
        tracing::debug!(parent: &job.span, slot = seq, reused = at.keep,
            prompt = job.generation.prompt.len(), "slot assigned");
        let output = TextOutput::new(job.generation.stop.clone());
        self.plan.admit(
            at,
            Running {
                job,
                sampler,
                output,
                first_token: None,
                last_token: None,
            },
        );
    }

    /// Ends the slot's request with `outcome`; its KV range stays for
    /// prefix reuse.
    fn end(&mut self, slot: usize, outcome: &'static str) -> Option<Running> {
        let ended = self.plan.release(slot);
        if ended.is_some() {
            self.metrics.outcome(outcome);
        }
        ended
    }

    /// One decode of what the plan feeds, then a token sampled for every
    /// slot that asked for logits.
    fn step(&mut self, running: usize) {
        let entries = self.plan.next_step();
        self.batch.clear();
        for e in &entries {
            self.batch
                .add(e.token, e.pos, &[e.seq], e.logits)
                .expect("the plan fits the batch");
        }
        let step = tracing::trace_span!("decode", tokens = entries.len(), running);
        if let Err(e) = step.in_scope(|| self.ctx.decode(&mut self.batch)) {
            tracing::error!(error = %e, "decode failed; failing the sequences of this step");
            for (slot, r) in self.plan.fail_all() {
                let _ = r
                    .job
                    .events
                    .send(Event::Error(format!("decode failed: {e}")));
                self.metrics.outcome("error");
                let seq = self.plan.seq(slot) as u32;
                let _ = self.ctx.clear_kv_cache_seq(Some(seq), None, None);
            }
            return;
        }
        for (slot, at) in self.plan.decoded() {
            self.sample(slot, at);
        }
    }

    /// Samples the slot's next token from the logits at `at`, sends its
    /// text and ends the request when the plan says it is finished.
    fn sample(&mut self, slot: usize, at: i32) {
        let Some(r) = self.plan.request_mut(slot) else {
            return;
        };
        let sampling = Instant::now();
        let token = r.sampler.sample(&self.ctx, at);
        let now = Instant::now();
        metrics::histogram!("llm_sampling_seconds", "constraint" => r.sampler.constraint())
            .record(now.duration_since(sampling).as_secs_f64());
        match r.first_token {
            None => {
                r.first_token = Some(now);
                metrics::histogram!("llm_time_to_first_token_seconds")
                    .record(now.duration_since(r.job.enqueued).as_secs_f64());
            }
            Some(_) => {
                if let Some(prev) = r.last_token {
                    metrics::histogram!("llm_inter_token_latency_seconds")
                        .record(now.duration_since(prev).as_secs_f64());
                }
            }
        }
        r.last_token = Some(now);

        let vocab = self.loaded.model.vocab();
        let ended = if vocab.is_eog(token) {
            let rest = r.output.finish();
            send_text(&r.job, rest);
            true
        } else {
            let piece = vocab.token_to_piece(token, false, None);
            match r.output.push(&piece) {
                Step::Text(t) => {
                    if !t.is_empty() && r.job.events.send(Event::Text(t)).is_err() {
                        self.end(slot, "cancelled");
                        return;
                    }
                    false
                }
                Step::Stopped(t) => {
                    send_text(&r.job, t);
                    true
                }
            }
        };
        let Some(finish) = self.plan.sampled(slot, token, ended) else {
            return;
        };
        let generated = self.plan.generated(slot);
        let Some(r) = self.plan.request_mut(slot) else {
            return;
        };
        if finish == Finish::Length {
            let rest = r.output.finish();
            send_text(&r.job, rest);
        }
        let usage = Usage::new(r.job.generation.prompt.len() as u32, generated);
        metrics::counter!("llm_prompt_tokens_total").increment(usage.prompt_tokens.into());
        metrics::counter!("llm_generated_tokens_total").increment(usage.completion_tokens.into());
        tracing::debug!(parent: &r.job.span, finish = finish.as_str(), ?usage, "generation done");
        // The slot and the owner's permit are given back before the client
        // hears of the end, so that its next request finds them free.
        if let Some(r) = self.end(slot, finish.as_str()) {
            let _ = r.job.events.send(Event::Done { finish, usage });
        }
    }
}

fn send_text(job: &Job, text: String) {
    if !text.is_empty() {
        let _ = job.events.send(Event::Text(text));
    }
}
