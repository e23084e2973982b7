//! The engine's batching state as plain data: which request each slot
//! holds and how much of it is read, which free slot a new request goes to,
//! what the next step feeds, and when a sequence is finished. The executor
//! (`scheduler`) runs llama.cpp on what is planned here; the unit tests
//! below drive it without a model, as if every step had been decoded.

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::turns::{self, Generating};
use super::Finish;

/// What the plan needs to know of a request.
pub(super) trait Request {
    fn prompt(&self) -> &[LlamaToken];
    fn max_tokens(&self) -> u32;
    fn owner(&self) -> &str;
}

/// One sequence of the batch: one llama.cpp sequence id and its KV range.
pub(super) struct Slot<R> {
    pub(super) seq: i32,
    /// Tokens whose keys and values are in this sequence's KV range.
    cached: Vec<LlamaToken>,
    /// When the slot last finished (for least-recently-used choice).
    last_used: Instant,
    active: Option<Sequence<R>>,
}

struct Sequence<R> {
    request: R,
    /// Next prompt token to feed; `prompt.len()` once the prompt is read.
    next_prompt: usize,
    /// The token sampled last, fed in a next step.
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
}

/// One token of the next decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) token: LlamaToken,
    pub(super) pos: i32,
    pub(super) seq: i32,
    pub(super) logits: bool,
}

/// Where a new request goes: a free slot and how much of its cache stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Placement {
    pub(super) slot: usize,
    pub(super) keep: usize,
}

pub(super) struct Plan<R> {
    slots: Vec<Slot<R>>,
    /// Tokens one sequence may hold.
    context_per_slot: usize,
    batch_size: usize,
    step: u64,
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<R: Request> Plan<R> {
    pub(super) fn new(slots: usize, context_per_slot: usize, batch_size: usize) -> Self {
        Self {
            slots: (0..slots.max(1))
                .map(|i| Slot {
                    seq: i as i32,
                    cached: Vec::new(),
                    last_used: Instant::now(),
                    active: None,
                })
                .collect(),
            context_per_slot,
            batch_size: batch_size.max(slots),
            step: 0,
        }
    }

    pub(super) fn has_free(&self) -> bool {
        self.slots.iter().any(|s| s.active.is_none())
    }

    pub(super) fn running(&self) -> usize {
        self.slots.iter().filter(|s| s.active.is_some()).count()
    }

    pub(super) fn seq(&self, slot: usize) -> i32 {
        self.slots[slot].seq
    }

    pub(super) fn request(&self, slot: usize) -> Option<&R> {
        self.slots[slot].active.as_ref().map(|a| &a.request)
    }

    pub(super) fn request_mut(&mut self, slot: usize) -> Option<&mut R> {
        self.slots[slot].active.as_mut().map(|a| &mut a.request)
    }

    /// Tokens generated so far for the slot's request.
    pub(super) fn generated(&self, slot: usize) -> u32 {
        self.slots[slot].active.as_ref().map_or(0, |a| a.generated)
    }

    /// The free slot whose cache shares the longest prefix with `prompt`
    /// (least recently used among equals); at least the last prompt token
    /// is fed again, for its logits. `None` when every slot is busy.
    pub(super) fn place(&self, prompt: &[LlamaToken]) -> Option<Placement> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.active.is_none())
            .map(|(i, s)| (i, common_prefix(&s.cached, prompt), s.last_used))
            .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
            .map(|(slot, common, _)| Placement {
                slot,
                keep: common.min(prompt.len().saturating_sub(1)),
            })
    }

    /// Starts `request` in a free slot, `keep` tokens of its cache kept
    /// (the executor has dropped the rest of the KV range).
    pub(super) fn admit(&mut self, at: Placement, request: R) {
        let slot = &mut self.slots[at.slot];
        debug_assert!(slot.active.is_none(), "admitted into a busy slot");
        slot.cached.truncate(at.keep);
        slot.active = Some(Sequence {
            request,
            next_prompt: at.keep,
            pending: None,
            feeds_pending: false,
            last_fed: 0,
            generated: 0,
            chunk: 0,
            logits_at: None,
        });
    }

    /// Ends the slot's request; its cache stays for prefix reuse (a slot
    /// cancelled mid-prompt keeps the prefix it has read).
    pub(super) fn release(&mut self, slot: usize) -> Option<R> {
        let slot = &mut self.slots[slot];
        slot.last_used = Instant::now();
        slot.active.take().map(|a| a.request)
    }

    /// Ends every request `gone` says is over (its client went away).
    pub(super) fn release_where(&mut self, gone: impl Fn(&R) -> bool) -> Vec<R> {
        let over: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.request(i).is_some_and(&gone))
            .collect();
        over.into_iter().filter_map(|i| self.release(i)).collect()
    }

    /// Ends every request after a failed decode, and forgets their caches
    /// (the executor clears their KV ranges): the slot and the request.
    pub(super) fn fail_all(&mut self) -> Vec<(usize, R)> {
        let mut out = Vec::new();
        for i in 0..self.slots.len() {
            if let Some(r) = self.release(i) {
                self.slots[i].cached.clear();
                out.push((i, r));
            }
        }
        out
    }

    /// The next decode: one token from every generating slot (or, with
    /// several users generating, as [`turns::pick`] shares the step), then
    /// prompt chunks of slots still reading their prompt, as room allows.
    pub(super) fn next_step(&mut self) -> Vec<Entry> {
        self.step += 1;
        let step = self.step;
        let generating: Vec<Generating<'_>> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let a = s.active.as_ref()?;
                a.pending.is_some().then(|| Generating {
                    slot: i,
                    owner: a.request.owner(),
                    last_fed: a.last_fed,
                    generated: a.generated,
                })
            })
            .collect();
        let fed = turns::pick(&generating, step);
        let mut entries = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(a) = slot.active.as_mut() else {
                continue;
            };
            a.logits_at = None;
            a.feeds_pending = a.pending.is_some() && fed.contains(&i);
            if let (true, Some(token)) = (a.feeds_pending, a.pending) {
                a.last_fed = step;
                a.logits_at = Some(entries.len() as i32);
                entries.push(Entry {
                    token,
                    pos: slot.cached.len() as i32,
                    seq: slot.seq,
                    logits: true,
                });
            }
        }
        for slot in &mut self.slots {
            let room = self.batch_size - entries.len();
            let Some(a) = slot.active.as_mut() else {
                continue;
            };
            let prompt = a.request.prompt();
            if a.pending.is_some() || a.next_prompt >= prompt.len() || room == 0 {
                continue;
            }
            let take = (prompt.len() - a.next_prompt).min(room);
            for i in 0..take {
                let at = a.next_prompt + i;
                let last = at + 1 == prompt.len();
                if last {
                    a.logits_at = Some(entries.len() as i32);
                }
                entries.push(Entry {
                    token: prompt[at],
                    pos: (slot.cached.len() + i) as i32,
                    seq: slot.seq,
                    logits: last,
                });
            }
            a.chunk = take;
        }
        entries
    }

    /// After a decode of [`Plan::next_step`]'s entries: records what was
    /// fed; the slots to sample from, with the batch index of their logits.
    pub(super) fn decoded(&mut self) -> Vec<(usize, i32)> {
        let mut sample = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(a) = slot.active.as_mut() else {
                continue;
            };
            if a.feeds_pending {
                slot.cached.extend(a.pending.take());
            } else if a.chunk > 0 {
                let prompt = a.request.prompt();
                slot.cached
                    .extend_from_slice(&prompt[a.next_prompt..a.next_prompt + a.chunk]);
                a.next_prompt += a.chunk;
                a.chunk = 0;
            }
            if let Some(at) = a.logits_at.take() {
                sample.push((i, at));
            }
        }
        sample
    }

    /// `token` was sampled for the slot; `ended` says whether the output
    /// ended with it (the model's end of generation, or a stop string).
    /// The finish, or `None` when the sequence goes on (the token is fed
    /// in a next step).
    pub(super) fn sampled(
        &mut self,
        slot: usize,
        token: LlamaToken,
        ended: bool,
    ) -> Option<Finish> {
        let limit = self.context_per_slot;
        let s = &mut self.slots[slot];
        let a = s.active.as_mut()?;
        a.generated += 1;
        if ended {
            return Some(Finish::Stop);
        }
        if a.generated >= a.request.max_tokens() || s.cached.len() + 1 >= limit {
            return Some(Finish::Length);
        }
        a.pending = Some(token);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        prompt: Vec<LlamaToken>,
        max_tokens: u32,
        owner: &'static str,
    }

    impl Request for Fake {
        fn prompt(&self) -> &[LlamaToken] {
            &self.prompt
        }
        fn max_tokens(&self) -> u32 {
            self.max_tokens
        }
        fn owner(&self) -> &str {
            self.owner
        }
    }

    fn tokens(ids: std::ops::Range<i32>) -> Vec<LlamaToken> {
        ids.map(LlamaToken).collect()
    }

    fn fake(prompt: std::ops::Range<i32>, max_tokens: u32) -> Fake {
        Fake {
            prompt: tokens(prompt),
            max_tokens,
            owner: "ada",
        }
    }

    /// Admits `request` where the plan places it.
    fn start(plan: &mut Plan<Fake>, request: Fake) -> usize {
        let at = plan.place(&request.prompt).expect("a free slot");
        plan.admit(at, request);
        at.slot
    }

    /// Runs steps until every running slot's prompt is read (at most 100).
    fn read_prompts(plan: &mut Plan<Fake>) {
        let mut read = std::collections::HashSet::new();
        for _ in 0..100 {
            plan.next_step();
            read.extend(plan.decoded().into_iter().map(|(slot, _)| slot));
            if read.len() == plan.running() {
                return;
            }
        }
        panic!("the prompts are never read");
    }

    #[test]
    fn requests_beyond_the_slots_wait_until_one_is_free() {
        let mut plan = Plan::new(2, 64, 32);
        let queue: Vec<Fake> = (0..3).map(|i| fake(i * 10..i * 10 + 4, 8)).collect();
        let mut waiting = queue.into_iter();
        while plan.has_free() {
            start(&mut plan, waiting.next().unwrap());
        }
        assert_eq!(plan.running(), 2);
        assert!(plan.place(&tokens(20..24)).is_none(), "no free slot");
        assert_eq!(waiting.len(), 1, "the third request still waits");
        plan.release(0);
        assert!(plan.has_free());
        start(&mut plan, waiting.next().unwrap());
        assert_eq!(plan.running(), 2);
    }

    #[test]
    fn a_cancelled_sequence_frees_its_slot_and_keeps_its_prefix() {
        let mut plan = Plan::new(1, 64, 32);
        start(&mut plan, fake(0..6, 8));
        read_prompts(&mut plan);
        let gone = plan.release_where(|r| r.owner == "ada");
        assert_eq!(gone.len(), 1);
        assert_eq!(plan.running(), 0);
        assert!(plan.next_step().is_empty(), "nothing left to feed");
        // The next request with the same start reuses what was read.
        let at = plan.place(&tokens(0..9)).unwrap();
        assert_eq!(at, Placement { slot: 0, keep: 6 });
    }

    #[test]
    fn the_same_prompt_again_feeds_its_last_token_for_logits() {
        let mut plan = Plan::new(2, 64, 32);
        start(&mut plan, fake(0..5, 8));
        read_prompts(&mut plan);
        plan.release(0);
        assert_eq!(
            plan.place(&tokens(0..5)),
            Some(Placement { slot: 0, keep: 4 })
        );
    }

    #[test]
    fn a_long_prompt_is_read_in_chunks_of_the_batch() {
        let mut plan = Plan::new(1, 64, 4);
        start(&mut plan, fake(0..10, 8));
        let first = plan.next_step();
        assert_eq!(first.len(), 4);
        assert!(first.iter().all(|e| !e.logits));
        assert_eq!(first[3].pos, 3);
        assert!(plan.decoded().is_empty(), "no logits before the end");
        plan.next_step();
        plan.decoded();
        let last = plan.next_step();
        assert_eq!(last.len(), 2);
        assert!(last[1].logits && !last[0].logits);
        assert_eq!(last[1].pos, 9);
        assert_eq!(plan.decoded(), vec![(0, 1)]);
    }

    #[test]
    fn a_generating_slot_comes_first_then_prompt_chunks() {
        let mut plan = Plan::new(2, 64, 8);
        let a = start(&mut plan, fake(0..3, 8));
        read_prompts(&mut plan);
        assert_eq!(plan.sampled(a, LlamaToken(99), false), None);
        let b = start(&mut plan, fake(50..70, 8));
        let entries = plan.next_step();
        assert_eq!(entries.len(), 8, "the batch is filled");
        assert_eq!(
            entries[0],
            Entry {
                token: LlamaToken(99),
                pos: 3,
                seq: plan.seq(a),
                logits: true
            }
        );
        assert!(entries[1..].iter().all(|e| e.seq == plan.seq(b)));
        assert_eq!(plan.decoded(), vec![(a, 0)]);
    }

    #[test]
    fn stop_and_length_finish_a_sequence() {
        let mut plan = Plan::new(3, 64, 32);
        let stop = start(&mut plan, fake(0..3, 8));
        let length = start(&mut plan, fake(10..13, 2));
        let context = start(&mut plan, fake(20..82, 100));
        read_prompts(&mut plan);
        assert_eq!(plan.sampled(stop, LlamaToken(1), false), None);
        assert_eq!(plan.sampled(stop, LlamaToken(2), true), Some(Finish::Stop));
        assert_eq!(plan.sampled(length, LlamaToken(1), false), None);
        assert_eq!(
            plan.sampled(length, LlamaToken(2), false),
            Some(Finish::Length),
            "max_tokens reached"
        );
        assert_eq!(plan.generated(length), 2);
        // 62 prompt tokens read, one sampled: the 64-token context is full
        // after the next.
        assert_eq!(plan.sampled(context, LlamaToken(1), false), None);
        plan.next_step();
        plan.decoded();
        assert_eq!(
            plan.sampled(context, LlamaToken(2), false),
            Some(Finish::Length),
            "the context is full"
        );
    }

    #[test]
    fn a_failed_step_ends_every_request_and_forgets_the_caches() {
        let mut plan = Plan::new(2, 64, 32);
        start(&mut plan, fake(0..4, 8));
        start(&mut plan, fake(10..14, 8));
        plan.next_step();
        let failed = plan.fail_all();
        assert_eq!(failed.len(), 2);
        assert_eq!(plan.running(), 0);
        assert_eq!(plan.place(&tokens(0..4)).unwrap().keep, 0);
    }
}
