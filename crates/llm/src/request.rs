//! Checking a request's fields and turning them into engine settings.

use crate::config::SchemaLimits;
use crate::engine::sampling::seed_from;
use crate::engine::SamplingParams;
use crate::error::LlmError;
use crate::grammar::JsonSchema;
use crate::template::TemplateMessage;
use wire::llm::{ChatMessage, Content, ResponseFormat, Sampling};

/// OpenAI allows at most four stop strings.
const MAX_STOPS: usize = 4;

/// What the handlers need from a request, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub params: SamplingParams,
    pub max_tokens: u32,
    pub stop: Vec<String>,
    pub stream: bool,
    pub include_usage: bool,
}

fn range(
    value: Option<f32>,
    lo: f32,
    hi: f32,
    param: &'static str,
) -> Result<Option<f32>, LlmError> {
    match value {
        Some(v) if !(lo..=hi).contains(&v) || v.is_nan() => Err(LlmError::invalid(
            format!("{param} must be between {lo} and {hi}, got {v}"),
            param,
        )),
        other => Ok(other),
    }
}

impl Settings {
    pub fn from_request(
        s: &Sampling,
        default_max_tokens: u32,
        limits: &SchemaLimits,
    ) -> Result<Self, LlmError> {
        if let Some(n) = s.n {
            if n != 1 {
                return Err(LlmError::invalid("only n = 1 is supported", "n"));
            }
        }
        let temperature = range(s.temperature, 0.0, 2.0, "temperature")?.unwrap_or(1.0);
        let top_p = range(s.top_p, 0.0, 1.0, "top_p")?.unwrap_or(1.0);
        let min_p = range(s.min_p, 0.0, 1.0, "min_p")?.unwrap_or(0.0);
        let (lo, hi) = (*wire::llm::PENALTY.start(), *wire::llm::PENALTY.end());
        let presence_penalty =
            range(s.presence_penalty, lo, hi, "presence_penalty")?.unwrap_or(0.0);
        let frequency_penalty =
            range(s.frequency_penalty, lo, hi, "frequency_penalty")?.unwrap_or(0.0);
        let top_k = match s.top_k {
            Some(k) if k < 0 => return Err(LlmError::invalid("top_k must be 0 or more", "top_k")),
            Some(k) => k,
            None => 0,
        };
        let max_tokens = match s.max_completion_tokens.or(s.max_tokens) {
            Some(0) => {
                return Err(LlmError::invalid(
                    "max_tokens must be at least 1",
                    "max_tokens",
                ))
            }
            Some(n) => n,
            None => default_max_tokens,
        };
        let stop = s.stop.clone().map(|s| s.into_vec()).unwrap_or_default();
        if stop.len() > MAX_STOPS {
            return Err(LlmError::invalid(
                format!("at most {MAX_STOPS} stop sequences are allowed"),
                "stop",
            ));
        }
        let schema = match &s.response_format {
            None | Some(ResponseFormat::Text) => None,
            Some(ResponseFormat::JsonObject) => Some(JsonSchema::any_object()),
            Some(ResponseFormat::JsonSchema { json_schema }) => {
                Some(JsonSchema::checked(&json_schema.schema, limits)?)
            }
        };
        Ok(Self {
            params: SamplingParams {
                temperature,
                top_p,
                top_k,
                min_p,
                seed: seed_from(s.seed),
                presence_penalty,
                frequency_penalty,
                schema,
            },
            max_tokens,
            stop,
            stream: s.stream,
            include_usage: s.stream_options.as_ref().is_some_and(|o| o.include_usage),
        })
    }
}

/// Messages as the chat template sees them; only text content is accepted.
pub fn template_messages(messages: &[ChatMessage]) -> Result<Vec<TemplateMessage>, LlmError> {
    if messages.is_empty() {
        return Err(LlmError::invalid("messages must not be empty", "messages"));
    }
    messages
        .iter()
        .map(|m| {
            if !matches!(
                m.role.as_str(),
                "system" | "developer" | "user" | "assistant" | "tool"
            ) {
                return Err(LlmError::invalid(
                    format!("unknown role '{}'", m.role),
                    "messages",
                ));
            }
            let content = match &m.content {
                None => String::new(),
                Some(Content::Text(t)) => t.clone(),
                Some(Content::Parts(parts)) => {
                    let mut text = String::new();
                    for p in parts {
                        match (p.kind.as_str(), &p.text) {
                            ("text", Some(t)) => text.push_str(t),
                            (kind, _) => {
                                return Err(LlmError::invalid(
                                    format!(
                                    "content parts of type '{kind}' are not supported; send text"
                                ),
                                    "messages",
                                ))
                            }
                        }
                    }
                    text
                }
            };
            let role = if m.role == "developer" {
                "system"
            } else {
                m.role.as_str()
            };
            Ok(TemplateMessage {
                role: role.to_string(),
                content,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SchemaLimits {
        SchemaLimits::default()
    }

    fn sampling(json: &str) -> Sampling {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_and_aliases() {
        let s = Settings::from_request(&sampling("{}"), 99, &limits()).unwrap();
        assert_eq!(s.max_tokens, 99);
        assert_eq!(s.params.temperature, 1.0);
        let s = Settings::from_request(
            &sampling(r#"{"max_completion_tokens": 7, "max_tokens": 3}"#),
            99,
            &limits(),
        )
        .unwrap();
        assert_eq!(s.max_tokens, 7);
        let s =
            Settings::from_request(&sampling(r#"{"stop": "x", "seed": 5}"#), 1, &limits()).unwrap();
        assert_eq!(s.stop, vec!["x".to_string()]);
        assert_eq!(s.params.seed, 5);
    }

    #[test]
    fn out_of_range_values_name_their_parameter() {
        for (body, param) in [
            (r#"{"temperature": 3}"#, "temperature"),
            (r#"{"top_p": -0.1}"#, "top_p"),
            (r#"{"n": 2}"#, "n"),
            (r#"{"max_tokens": 0}"#, "max_tokens"),
            (r#"{"stop": ["a","b","c","d","e"]}"#, "stop"),
            (r#"{"top_k": -1}"#, "top_k"),
        ] {
            match Settings::from_request(&sampling(body), 1, &limits()) {
                Err(LlmError::InvalidRequest { param: Some(p), .. }) => {
                    assert_eq!(p, param, "{body}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn image_parts_and_unknown_roles_are_refused() {
        let msgs: Vec<ChatMessage> =
            serde_json::from_str(r#"[{"role":"user","content":[{"type":"image_url"}]}]"#).unwrap();
        assert!(template_messages(&msgs).is_err());
        let msgs: Vec<ChatMessage> =
            serde_json::from_str(r#"[{"role":"wizard","content":"x"}]"#).unwrap();
        assert!(template_messages(&msgs).is_err());
        let msgs: Vec<ChatMessage> = serde_json::from_str(
            r#"[{"role":"developer","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]"#,
        )
        .unwrap();
        let out = template_messages(&msgs).unwrap();
        assert_eq!(
            (out[0].role.as_str(), out[0].content.as_str()),
            ("system", "ab")
        );
    }
}
