//! The LLM service: a local engine or an upstream server, behind the same
//! routes, checks and metrics.

use std::sync::Arc;

use crate::config::{BackendKind, LlmConfig, SchemaLimits};
use crate::engine::Engine;
use crate::error::LlmError;
use crate::upstream::Upstream;

#[derive(Clone)]
pub enum Backend {
    Local(Engine),
    Upstream(Arc<Upstream>),
}

#[derive(Clone)]
pub struct Llm {
    pub backend: Backend,
    pub model_id: String,
    pub default_max_tokens: u32,
    pub schema_limits: SchemaLimits,
}

impl Llm {
    /// Starts the configured backend; a local model loads in the background.
    pub fn start(config: &LlmConfig, threads: usize) -> Result<Self, LlmError> {
        let backend = match config.backend {
            BackendKind::Local => Backend::Local(Engine::start(config, threads)),
            BackendKind::Openai => Backend::Upstream(Arc::new(Upstream::new(config)?)),
        };
        Ok(Self {
            backend,
            model_id: config.model_id(),
            default_max_tokens: config.default_max_tokens,
            schema_limits: config.schema_limits,
        })
    }

    pub fn engine(&self) -> Result<&Engine, LlmError> {
        match &self.backend {
            Backend::Local(e) => Ok(e),
            Backend::Upstream(_) => Err(LlmError::invalid(
                "not available with an upstream backend",
                "model",
            )),
        }
    }

    /// Readiness: the model is loaded (an upstream is checked per request).
    pub fn ready(&self) -> Result<(), String> {
        match &self.backend {
            Backend::Local(e) => e.ready(),
            Backend::Upstream(_) => Ok(()),
        }
    }

    /// A request may name this service's model, or none.
    pub fn check_model(&self, model: Option<&str>) -> Result<(), LlmError> {
        match model {
            Some(m) if !m.is_empty() && m != self.model_id => {
                Err(LlmError::ModelNotFound(m.to_string()))
            }
            _ => Ok(()),
        }
    }
}
