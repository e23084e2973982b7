//! Per-request sampling settings, the llama.cpp sampler chain built from
//! them, and how a grammar joins the chain.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

use crate::config::GrammarEngine;
use crate::grammar::{Grammar, JsonSchema};

/// How many recent tokens the presence and frequency penalties look at.
const PENALTY_LAST_N: i32 = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy.
    pub temperature: f32,
    pub top_p: f32,
    /// 0 means off.
    pub top_k: i32,
    pub min_p: f32,
    pub seed: u32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    /// The JSON schema the output must follow (`response_format`).
    pub schema: Option<JsonSchema>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            seed: 0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            schema: None,
        }
    }
}

impl SamplingParams {
    /// The chain: penalties, then greedy or top-k, top-p, min-p,
    /// temperature and a seeded draw. A grammar is not part of it: see
    /// [`Sampler`].
    fn chain(&self, model: &LlamaModel) -> LlamaSampler {
        let mut chain = Vec::new();
        if self.presence_penalty != 0.0 || self.frequency_penalty != 0.0 {
            chain.push(LlamaSampler::penalties(
                model.n_vocab(),
                PENALTY_LAST_N,
                1.0,
                self.frequency_penalty,
                self.presence_penalty,
            ));
        }
        if self.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            if self.top_k > 0 {
                chain.push(LlamaSampler::top_k(self.top_k));
            }
            if self.top_p < 1.0 {
                chain.push(LlamaSampler::top_p(self.top_p, 1));
            }
            if self.min_p > 0.0 {
                chain.push(LlamaSampler::min_p(self.min_p, 1));
            }
            chain.push(LlamaSampler::temp(self.temperature));
            chain.push(LlamaSampler::dist(self.seed));
        }
        LlamaSampler::chain_simple(chain)
    }
}

/// One sequence's sampler: the chain, and the grammar when there is one.
pub struct Sampler {
    chain: LlamaSampler,
    grammar: Option<Grammar>,
}

impl Sampler {
    pub fn new(params: &SamplingParams, model: &LlamaModel, grammar: Option<Grammar>) -> Self {
        Self {
            chain: params.chain(model),
            grammar,
        }
    }

    /// What constrains this sequence: `none`, `llguidance` or `gbnf` (the
    /// label of `llm_sampling_seconds`).
    pub fn constraint(&self) -> &'static str {
        match self.grammar.as_ref().map(|g| g.engine) {
            None => "none",
            Some(GrammarEngine::Llguidance) => "llguidance",
            Some(GrammarEngine::Gbnf) => "gbnf",
        }
    }

    /// Draws the next token from output `idx` of the last decode, and
    /// records it in the chain's and the grammar's state.
    ///
    /// llguidance computes the allowed tokens from its token trie in one
    /// pass, so its mask goes first. llama.cpp's GBNF sampler instead tests
    /// each candidate against every live alternative of the grammar, which
    /// over a whole vocabulary costs more than the decode step: the chain
    /// draws first, the grammar tests that one token, and only a token it
    /// refuses costs the whole pass (then the draw is made again over what
    /// the grammar allows). Either way the token drawn is one the grammar
    /// allows.
    pub fn sample(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> LlamaToken {
        let Some(grammar) = self.grammar.as_mut() else {
            return self.chain.sample(ctx, idx);
        };
        let token = match grammar.engine {
            GrammarEngine::Llguidance => {
                let mut candidates = ctx.token_data_array_ith(idx);
                candidates.apply_sampler(&mut grammar.sampler);
                draw(&mut self.chain, candidates)
            }
            GrammarEngine::Gbnf => {
                let drawn = draw(&mut self.chain, ctx.token_data_array_ith(idx));
                let mut one =
                    LlamaTokenDataArray::new(vec![LlamaTokenData::new(drawn, 0.0, 1.0)], false);
                one.apply_sampler(&mut grammar.sampler);
                if one.data[0].logit().is_finite() {
                    drawn
                } else {
                    let mut candidates = ctx.token_data_array_ith(idx);
                    candidates.apply_sampler(&mut grammar.sampler);
                    draw(&mut self.chain, candidates)
                }
            }
        };
        grammar.sampler.accept(token);
        self.chain.accept(token);
        token
    }
}

/// The chain's pick among `candidates` (not yet recorded in its state).
fn draw(chain: &mut LlamaSampler, mut candidates: LlamaTokenDataArray) -> LlamaToken {
    candidates.apply_sampler(chain);
    candidates
        .selected_token()
        // Every chain ends in greedy or dist, which always select.
        .unwrap_or_else(|| candidates.data.first().map_or(LlamaToken(0), |t| t.id()))
}

/// A request's seed as llama.cpp takes it. `u32::MAX` means "random" to
/// llama.cpp, so it is moved one down to stay reproducible.
pub fn seed_from(seed: Option<i64>) -> u32 {
    match seed {
        Some(s) => {
            let s = (s as u64 & 0xFFFF_FFFF) as u32;
            s.min(u32::MAX - 1)
        }
        None => rand::random::<u32>() % (u32::MAX - 1),
    }
}
