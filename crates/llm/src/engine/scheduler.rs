//! The engine thread: continuous batching over a fixed set of slots.
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

use super::output::{Step, TextOutput};
use super::sampling::Sampler;
use super::turns::{self, Generating};
use super::{load, Event, Finish, Job, LoadedModel, Shared};
use crate::api::Usage;
use crate::config::LlmConfig;

/// How long an idle engine waits, after the first request, for others
/// arriving with it: a few milliseconds against a prompt step of hundreds.
const BURST_WINDOW: Duration = Duration::from_millis(5);

/// One sequence of the batch.
struct Slot {
    seq: i32,
    /// Tokens whose keys and values are in this sequence's KV range.
    cached: Vec<LlamaToken>,
    /// When the slot last finished (for least-recently-used choice).
    last_used: Instant,
    active: Option<Active>,
}

struct Active {
    job: Job,
    sampler: Sampler,
    output: TextOutput,
    /// Next prompt token to feed; `prompt.len()` once the prompt is read.
    next_prompt: usize,
    /// The token sampled last, fed in the next step.
    pending: Option<LlamaToken>,
    /// Whether this step carries `pending` (see [`turns`]).
    feeds_pending: bool,
    /// The step that last carried this slot's token.
    last_fed: u64,
    generated: u32,
    /// Prompt tokens this step carries for the slot.
    chunk: usize,
    /// Index in the current batch whose logits this slot samples from.
    logits_at: Option<i32>,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
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
    let slots_n = config.slots.max(1);
    let n_ctx = loaded.context_per_slot * slots_n;
    let batch_size = config.batch_size.max(slots_n as u32).max(32);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx as u32))
        .with_n_batch(batch_size)
        .with_n_ubatch(batch_size)
        .with_n_seq_max(slots_n as u32)
        // A KV stream per sequence rather than one unified cache: a token
        // attends over its own sequence's cells only, not over every
        // slot's (llama-batched-bench here: 4 sequences, 10% faster steps).
        .with_kv_unified(false)
        .with_n_threads(threads as i32)
        .with_n_threads_batch(threads as i32);
    let model = loaded.model.clone();
    let mut ctx = match model.new_context(super::backend(), params) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "creating the llama.cpp context failed");
            let _ = shared.model.set(Err(e.to_string()));
            return;
        }
    };
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        slots = slots_n,
        context_per_slot = loaded.context_per_slot,
        has_chat_template = loaded.template.is_some(),
        "model loaded"
    );
    let _ = shared.model.set(Ok(loaded.clone()));

    let metrics = Metrics::new(&shared.model_label);
    let mut slots: Vec<Slot> = (0..slots_n)
        .map(|i| Slot {
            seq: i as i32,
            cached: Vec::new(),
            last_used: Instant::now(),
            active: None,
        })
        .collect();
    let mut batch = LlamaBatch::new(batch_size as usize, 1);
    let limit = loaded.context_per_slot;
    let mut step_no: u64 = 0;

    loop {
        // Requests whose client went away free their slot now.
        for slot in &mut slots {
            if slot
                .active
                .as_ref()
                .is_some_and(|a| a.job.events.is_closed())
            {
                release(slot, "cancelled", &metrics);
            }
        }

        // Admit waiting requests into free slots; sleep when idle. Woken
        // from idle, wait a moment for the rest of a burst, so that prompts
        // arriving together are read in one batch rather than one alone and
        // the others a whole prompt step later.
        let busy = slots.iter().filter(|s| s.active.is_some()).count();
        if busy == 0 {
            metrics.running(0);
            match rx.recv() {
                Some(job) => admit(job, &mut slots, &mut ctx, &loaded, &metrics),
                None => break,
            }
            let until = Instant::now() + BURST_WINDOW;
            while slots.iter().any(|s| s.active.is_none()) {
                match rx.recv_deadline(until) {
                    Some(job) => admit(job, &mut slots, &mut ctx, &loaded, &metrics),
                    None => break,
                }
            }
        }
        while slots.iter().any(|s| s.active.is_none()) {
            match rx.try_recv() {
                Some(job) => admit(job, &mut slots, &mut ctx, &loaded, &metrics),
                None => break,
            }
        }
        let running = slots.iter().filter(|s| s.active.is_some()).count();
        metrics.running(running);
        metrics.queue(rx.len());
        if running == 0 {
            continue;
        }

        // One token from every generating slot (or, with several users
        // generating, from one slot of each user, a user whose youngest
        // request is well ahead one step in four: see `turns`), then
        // prompt chunks.
        step_no += 1;
        let generating: Vec<Generating<'_>> = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let a = s.active.as_ref()?;
                a.pending.is_some().then(|| Generating {
                    slot: i,
                    owner: a.job.owner(),
                    last_fed: a.last_fed,
                    generated: a.generated,
                })
            })
            .collect();
        let fed = turns::pick(&generating, step_no);
        batch.clear();
        let mut room = batch_size as usize;
        for (i, slot) in slots.iter_mut().enumerate() {
            let Some(a) = slot.active.as_mut() else {
                continue;
            };
            a.logits_at = None;
            a.feeds_pending = a.pending.is_some() && fed.contains(&i);
            if !a.feeds_pending {
                continue;
            }
            a.last_fed = step_no;
            if let Some(token) = a.pending {
                let pos = slot.cached.len() as i32;
                a.logits_at = Some(batch.n_tokens());
                batch
                    .add(token, pos, &[slot.seq], true)
                    .expect("the batch holds one token per slot");
                room -= 1;
            }
        }
        for slot in &mut slots {
            let Some(a) = slot.active.as_mut() else {
                continue;
            };
            let prompt = &a.job.generation.prompt;
            if a.pending.is_some() || a.next_prompt >= prompt.len() || room == 0 {
                continue;
            }
            let take = (prompt.len() - a.next_prompt).min(room);
            for i in 0..take {
                let at = a.next_prompt + i;
                let last = at + 1 == prompt.len();
                let pos = (slot.cached.len() + i) as i32;
                if last {
                    a.logits_at = Some(batch.n_tokens());
                }
                batch
                    .add(prompt[at], pos, &[slot.seq], last)
                    .expect("the batch has room");
            }
            a.chunk = take;
            room -= take;
        }

        let step = tracing::trace_span!("decode", tokens = batch.n_tokens(), running);
        let decoded = step.in_scope(|| ctx.decode(&mut batch));
        if let Err(e) = decoded {
            tracing::error!(error = %e, "decode failed; failing the sequences of this step");
            for slot in &mut slots {
                if let Some(a) = slot.active.as_ref() {
                    let _ = a
                        .job
                        .events
                        .send(Event::Error(format!("decode failed: {e}")));
                    release(slot, "error", &metrics);
                    slot.cached.clear();
                    let _ = ctx.clear_kv_cache_seq(Some(slot.seq as u32), None, None);
                }
            }
            continue;
        }

        // Record what was fed, then sample where logits were asked for.
        for slot in &mut slots {
            let Some(a) = slot.active.as_mut() else {
                continue;
            };
            if a.feeds_pending {
                if let Some(token) = a.pending.take() {
                    slot.cached.push(token);
                }
            } else if a.chunk > 0 {
                let prompt = &a.job.generation.prompt;
                slot.cached
                    .extend_from_slice(&prompt[a.next_prompt..a.next_prompt + a.chunk]);
                a.next_prompt += a.chunk;
                a.chunk = 0;
            }
            let Some(at) = a.logits_at else { continue };
            let sampling = Instant::now();
            let token = a.sampler.sample(&ctx, at);
            let now = Instant::now();
            metrics::histogram!("llm_sampling_seconds", "constraint" => a.sampler.constraint())
                .record(now.duration_since(sampling).as_secs_f64());
            a.generated += 1;
            match a.first_token {
                None => {
                    a.first_token = Some(now);
                    metrics::histogram!("llm_time_to_first_token_seconds")
                        .record(now.duration_since(a.job.enqueued).as_secs_f64());
                }
                Some(_) => {
                    if let Some(prev) = a.last_token {
                        metrics::histogram!("llm_inter_token_latency_seconds")
                            .record(now.duration_since(prev).as_secs_f64());
                    }
                }
            }
            a.last_token = Some(now);

            let vocab = model.vocab();
            let mut finish = None;
            if vocab.is_eog(token) {
                let rest = a.output.finish();
                if !rest.is_empty() {
                    let _ = a.job.events.send(Event::Text(rest));
                }
                finish = Some(Finish::Stop);
            } else {
                let piece = vocab.token_to_piece(token, false, None);
                match a.output.push(&piece) {
                    Step::Text(t) => {
                        if !t.is_empty() && a.job.events.send(Event::Text(t)).is_err() {
                            release(slot, "cancelled", &metrics);
                            continue;
                        }
                    }
                    Step::Stopped(t) => {
                        if !t.is_empty() {
                            let _ = a.job.events.send(Event::Text(t));
                        }
                        finish = Some(Finish::Stop);
                    }
                }
                if finish.is_none()
                    && (a.generated >= a.job.generation.max_tokens
                        || slot.cached.len() + 1 >= limit)
                {
                    let rest = a.output.finish();
                    if !rest.is_empty() {
                        let _ = a.job.events.send(Event::Text(rest));
                    }
                    finish = Some(Finish::Length);
                }
            }
            match finish {
                Some(finish) => {
                    let usage = Usage::new(a.job.generation.prompt.len() as u32, a.generated);
                    metrics::counter!("llm_prompt_tokens_total")
                        .increment(usage.prompt_tokens.into());
                    metrics::counter!("llm_generated_tokens_total")
                        .increment(usage.completion_tokens.into());
                    tracing::debug!(parent: &a.job.span, finish = finish.as_str(), ?usage, "generation done");
                    // The slot and the owner's permit are given back before
                    // the client hears of the end, so that its next request
                    // finds them free.
                    let events = a.job.events.clone();
                    release(slot, finish.as_str(), &metrics);
                    let _ = events.send(Event::Done { finish, usage });
                }
                None => a.pending = Some(token),
            }
        }
    }
    tracing::info!("engine stopped");
}

/// Ends the slot's request; its KV range stays for prefix reuse.
/// A slot cancelled mid-prompt keeps the prefix it has read, which is as
/// reusable as any other.
fn release(slot: &mut Slot, outcome: &'static str, metrics: &Metrics) {
    if slot.active.take().is_some() {
        metrics.outcome(outcome);
    }
    slot.last_used = Instant::now();
}

/// Puts a job in the free slot whose cache shares the longest prefix with
/// its prompt (least recently used among equals), dropping the rest of that
/// slot's cache.
fn admit(
    mut job: Job,
    slots: &mut [Slot],
    ctx: &mut LlamaContext<'_>,
    loaded: &LoadedModel,
    metrics: &Metrics,
) {
    if job.events.is_closed() {
        metrics.outcome("cancelled");
        return;
    }
    let prompt = &job.generation.prompt;
    let (index, common) = slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.active.is_none())
        .map(|(i, s)| (i, common_prefix(&s.cached, prompt), s.last_used))
        .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
        .map(|(i, c, _)| (i, c))
        .expect("admit is called with a free slot");
    let slot = &mut slots[index];
    // Feed at least the last prompt token, to get logits for it.
    let mut keep = common.min(prompt.len() - 1);
    if ctx
        .clear_kv_cache_seq(Some(slot.seq as u32), Some(keep as u32), None)
        .map(|removed| !removed)
        .unwrap_or(true)
    {
        // Partial removal is not possible for this model: start afresh.
        let _ = ctx.clear_kv_cache_seq(Some(slot.seq as u32), None, None);
        keep = 0;
    }
    slot.cached.truncate(keep);
    let grammar = job.generation.grammar.take();
    let sampler = Sampler::new(&job.generation.params, &loaded.model, grammar);
    tracing::debug!(parent: &job.span, slot = slot.seq, reused = keep, prompt = prompt.len(), "slot assigned");
    slot.active = Some(Active {
        output: TextOutput::new(job.generation.stop.clone()),
        next_prompt: keep,
        pending: None,
        feeds_pending: false,
        last_fed: 0,
        chunk: 0,
        generated: 0,
        logits_at: None,
        first_token: None,
        last_token: None,
        sampler,
        job,
    });
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
