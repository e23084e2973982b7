//! Per-request sampling settings and the llama.cpp sampler chain built
//! from them.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;

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
    /// A GBNF grammar the output must follow (root rule `root`).
    pub grammar: Option<String>,
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
            grammar: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the grammar does not parse")]
pub struct GrammarInvalid;

impl SamplingParams {
    /// The chain: penalties, grammar, then greedy or top-k, top-p, min-p,
    /// temperature and a seeded draw.
    pub fn sampler(&self, model: &LlamaModel) -> Result<LlamaSampler, GrammarInvalid> {
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
        if let Some(grammar) = &self.grammar {
            chain.push(LlamaSampler::grammar(model, grammar, "root").map_err(|_| GrammarInvalid)?);
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
        Ok(LlamaSampler::chain_simple(chain))
    }
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
