//! Structured output: a `response_format` JSON schema checked against
//! [`SchemaLimits`], then compiled, by llguidance or into a llama.cpp GBNF
//! grammar ([`GrammarEngine`]), to the sampler stage that constrains the
//! output.
//!
//! The grammar runs on the engine thread at every step, over every
//! candidate token, so its cost is paid by every user of the engine, not
//! only by the one who sent it. The checks below bound that cost before any
//! work is done: a schema over a limit is a 400 naming the limit.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::TokEnv;
use llguidance::{Matcher, ParserFactory};
use serde_json::Value;

use crate::config::{GrammarEngine, SchemaLimits};
use crate::error::LlmError;

/// Keywords whose number is a repetition count: the grammar spells each
/// repetition out, so `minLength: 1000000` would be a megabyte of rules.
const REPETITION_KEYWORDS: [&str; 6] = [
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
];

/// What a schema holds, counted over the whole document.
#[derive(Debug, Default, PartialEq, Eq)]
struct Census {
    depth: usize,
    enum_values: usize,
    alternatives: usize,
    properties: usize,
    /// The largest repetition count, from the keywords above or from a
    /// `{m,n}` in a `pattern`.
    repetition: u64,
}

fn census(schema: &Value) -> Census {
    let mut c = Census::default();
    walk(schema, 1, &mut c);
    c
}

fn walk(value: &Value, depth: usize, c: &mut Census) {
    c.depth = c.depth.max(depth);
    match value {
        Value::Array(items) => {
            for item in items {
                walk(item, depth + 1, c);
            }
        }
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("enum", Value::Array(values)) => c.enum_values += values.len(),
                    ("const", _) => c.enum_values += 1,
                    ("anyOf" | "oneOf", Value::Array(branches)) => c.alternatives += branches.len(),
                    ("properties", Value::Object(props)) => c.properties += props.len(),
                    ("pattern", Value::String(p)) => {
                        c.repetition = c.repetition.max(pattern_repetition(p))
                    }
                    (k, Value::Number(n)) if REPETITION_KEYWORDS.contains(&k) => {
                        let n = n.as_u64().unwrap_or(u64::MAX);
                        c.repetition = c.repetition.max(n);
                    }
                    _ => {}
                }
                walk(v, depth + 1, c);
            }
        }
        _ => {}
    }
}

/// The largest count in a regular expression's `{m}`, `{m,}` or `{m,n}`.
fn pattern_repetition(pattern: &str) -> u64 {
    let mut largest = 0u64;
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        for n in after[..close].split(',') {
            let n = n.trim();
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                largest = largest.max(n.parse().unwrap_or(u64::MAX));
            }
        }
        rest = &after[close..];
    }
    largest
}

fn too_much(what: &str, found: impl std::fmt::Display, limit: impl std::fmt::Display) -> LlmError {
    LlmError::invalid(
        format!("response_format: the JSON schema has {found} {what}; the limit is {limit}"),
        "response_format",
    )
}

/// Checks `schema` against `limits`, naming the first limit it is over.
pub fn check(schema: &Value, limits: &SchemaLimits) -> Result<(), LlmError> {
    let bytes = serde_json::to_string(schema).map_or(usize::MAX, |s| s.len());
    if bytes > limits.max_bytes {
        return Err(too_much("bytes", bytes, limits.max_bytes));
    }
    let c = census(schema);
    if c.depth > limits.max_depth {
        return Err(too_much("levels of nesting", c.depth, limits.max_depth));
    }
    if c.enum_values > limits.max_enum_values {
        return Err(too_much(
            "enum and const values",
            c.enum_values,
            limits.max_enum_values,
        ));
    }
    if c.alternatives > limits.max_alternatives {
        return Err(too_much(
            "anyOf/oneOf branches",
            c.alternatives,
            limits.max_alternatives,
        ));
    }
    if c.properties > limits.max_properties {
        return Err(too_much("properties", c.properties, limits.max_properties));
    }
    if c.repetition > limits.max_repetition as u64 {
        return Err(too_much(
            "as a repetition count (minLength, maxItems, {m,n}...)",
            c.repetition,
            limits.max_repetition,
        ));
    }
    Ok(())
}

/// A `response_format` schema that passed [`check`].
#[derive(Debug, Clone, PartialEq)]
pub struct JsonSchema(Value);

impl JsonSchema {
    /// `schema`, after [`check`] found it within `limits`.
    pub fn checked(schema: &Value, limits: &SchemaLimits) -> Result<Self, LlmError> {
        check(schema, limits)?;
        Ok(Self(schema.clone()))
    }

    /// `{"type": "json_object"}`: any JSON object.
    pub fn any_object() -> Self {
        Self(serde_json::json!({"type": "object"}))
    }
}

/// One request's compiled constraint, a llama.cpp sampler stage.
pub struct Grammar {
    pub(crate) sampler: LlamaSampler,
    pub(crate) engine: GrammarEngine,
}

impl std::fmt::Debug for Grammar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grammar")
            .field("engine", &self.engine)
            .finish()
    }
}

/// Compiles checked schemas for one model with the configured engine.
/// Built once per model: llguidance's token trie walks the whole vocabulary.
pub struct GrammarCompiler {
    engine: GrammarEngine,
    llguidance: Option<ParserFactory>,
}

impl GrammarCompiler {
    pub fn new(model: &LlamaModel, engine: GrammarEngine) -> Result<Self, String> {
        match engine {
            GrammarEngine::Gbnf => Ok(Self {
                engine,
                llguidance: None,
            }),
            GrammarEngine::Llguidance => Self::llguidance(&LlamaSampler::llguidance_tok_env(model)),
        }
    }

    /// An llguidance compiler over the tokens of `env`.
    pub fn llguidance(env: &TokEnv) -> Result<Self, String> {
        let mut factory = ParserFactory::new_simple(env).map_err(|e| format!("llguidance: {e}"))?;
        // Errors come back as values; nothing goes to stderr.
        factory.quiet();
        Ok(Self {
            engine: GrammarEngine::Llguidance,
            llguidance: Some(factory),
        })
    }

    /// The sampler stage that keeps the output within `schema`.
    pub fn compile(&self, model: &LlamaModel, schema: &JsonSchema) -> Result<Grammar, LlmError> {
        let sampler = match &self.llguidance {
            Some(factory) => LlamaSampler::from(matcher(factory, schema)?),
            None => LlamaSampler::grammar(model, &gbnf(schema)?, "root").map_err(|e| {
                tracing::info!(error = %e, "llama.cpp refused the converted grammar");
                unusable()
            })?,
        };
        Ok(Grammar {
            sampler,
            engine: self.engine,
        })
    }
}

/// The layout llguidance holds JSON to: one space after `:` and `,`, as
/// models write it, and no other whitespace, so that a small model cannot
/// wander into endless blank lines. Keywords it does not know are ignored,
/// as llama.cpp's converter ignores them.
fn with_layout(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(map) = &mut schema {
        map.insert(
            "x-guidance".into(),
            serde_json::json!({
                "whitespace_flexible": false,
                "key_separator": ": ",
                "item_separator": ", ",
                "lenient": true,
            }),
        );
    }
    schema
}

fn matcher(factory: &ParserFactory, schema: &JsonSchema) -> Result<Matcher, LlmError> {
    let grammar = TopLevelGrammar::from_json_schema(with_layout(&schema.0));
    let matcher = Matcher::new(factory.create_parser(grammar));
    match matcher.get_error() {
        None => Ok(matcher),
        Some(e) => {
            // llguidance's own words go to the log, not to the client.
            tracing::info!(error = %e, "llguidance refused a response_format schema");
            Err(unusable())
        }
    }
}

/// The GBNF grammar (llama.cpp's converter) accepting the JSON `schema`
/// describes.
fn gbnf(schema: &JsonSchema) -> Result<String, LlmError> {
    llama_cpp_2::json_schema_to_grammar(&schema.0.to_string()).map_err(|e| {
        // The converter's own words ("ffi error -3") mean nothing to a
        // client: they go to the log.
        tracing::info!(error = %e, "a response_format schema was refused by the converter");
        unusable()
    })
}

fn unusable() -> LlmError {
    LlmError::invalid(
        "response_format: the JSON schema uses a construct that cannot be turned into a \
         grammar (unsupported keyword, unresolvable $ref or invalid value)",
        "response_format",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(schema: Value) -> String {
        match check(&schema, &SchemaLimits::default()) {
            Err(LlmError::InvalidRequest { message, param }) => {
                assert_eq!(param, Some("response_format"));
                message
            }
            other => panic!("{schema}: {other:?}"),
        }
    }

    fn strings(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("value-{i}")).collect()
    }

    #[test]
    fn a_huge_enum_is_refused_naming_the_limit() {
        let limits = SchemaLimits::default();
        let message = refused(json!({"type": "string", "enum": strings(30_000)}));
        assert!(message.contains("bytes"), "{message}");
        let n = limits.max_enum_values + 1;
        let message = refused(json!({"type": "string", "enum": strings(n)}));
        assert!(
            message.contains(&format!(
                "{n} enum and const values; the limit is {}",
                n - 1
            )),
            "{message}"
        );
        assert!(check(
            &json!({"type": "string", "enum": strings(limits.max_enum_values)}),
            &limits
        )
        .is_ok());
    }

    #[test]
    fn enum_values_count_across_the_whole_schema() {
        let half = SchemaLimits::default().max_enum_values / 2 + 1;
        let schema = json!({"type": "object", "properties": {
            "a": {"enum": strings(half)}, "b": {"enum": strings(half)}}});
        assert!(refused(schema).contains("enum"));
    }

    #[test]
    fn many_alternatives_are_refused() {
        let n = SchemaLimits::default().max_alternatives + 1;
        let branches: Vec<Value> = (0..n).map(|i| json!({"const": i})).collect();
        let message = refused(json!({ "anyOf": branches }));
        // The consts are counted too; whichever limit comes first is named.
        assert!(message.contains("limit is"), "{message}");
        let branches: Vec<Value> = (0..n).map(|_| json!({"type": "integer"})).collect();
        assert!(refused(json!({ "oneOf": branches })).contains("anyOf/oneOf branches"));
    }

    #[test]
    fn deep_nesting_and_large_repetitions_are_refused() {
        let mut deep = json!({"type": "string"});
        for _ in 0..SchemaLimits::default().max_depth {
            deep = json!({"type": "array", "items": deep});
        }
        assert!(refused(deep).contains("nesting"));
        assert!(refused(json!({"type": "string", "minLength": 100_000})).contains("repetition"));
        assert!(refused(json!({"type": "string", "pattern": "^a{1,5000}$"})).contains("repetition"));
        assert!(refused(json!({"type": "array", "maxItems": -1})).contains("repetition"));
    }

    fn ordinary_schemas() -> Vec<Value> {
        vec![
            json!({"type": "object"}),
            json!({"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 80},
                "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                "kind": {"enum": ["invoice", "letter", "contract"]},
                "amount": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10}},
                "required": ["name"]}),
        ]
    }

    #[test]
    fn ordinary_schemas_pass_and_convert() {
        let limits = SchemaLimits::default();
        for schema in ordinary_schemas() {
            let checked = JsonSchema::checked(&schema, &limits).unwrap();
            assert!(gbnf(&checked).unwrap().contains("root"));
        }
    }

    /// A vocabulary of one token per byte, then an end-of-sequence token:
    /// enough for llguidance to run without a model.
    fn byte_tokens() -> TokEnv {
        use llguidance::toktrie::{ApproximateTokEnv, TokRxInfo, TokTrie};
        let words: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).chain([vec![]]).collect();
        let info = TokRxInfo::new(words.len() as u32, 256);
        std::sync::Arc::new(ApproximateTokEnv::new(TokTrie::from(&info, &words)))
    }

    /// Feeds `text` byte by byte, failing on the first byte the matcher
    /// does not allow; then says whether the end of sequence is allowed.
    fn follows(m: &mut Matcher, text: &str) -> Result<bool, String> {
        for b in text.bytes() {
            let mask = m.compute_mask().map_err(|e| e.to_string())?;
            if !mask.is_allowed(b.into()) {
                return Err(format!("{:?} refused after {text:?} began", b as char));
            }
            m.consume_token(b.into()).map_err(|e| e.to_string())?;
        }
        Ok(m.compute_mask_or_eos()
            .map_err(|e| e.to_string())?
            .is_allowed(256))
    }

    #[test]
    fn llguidance_holds_output_to_the_schema_in_the_layout_models_write() {
        let compiler = GrammarCompiler::llguidance(&byte_tokens()).unwrap();
        let factory = compiler.llguidance.as_ref().unwrap();
        let limits = SchemaLimits::default();
        let schema = JsonSchema::checked(&ordinary_schemas()[1], &limits).unwrap();
        let mut m = matcher(factory, &schema).unwrap();
        let done = follows(
            &mut m,
            r#"{"name": "Ada", "kind": "letter", "tags": ["a", "b"]}"#,
        );
        assert_eq!(done, Ok(true));
        // Outside the enum, and outside the layout.
        let mut m = matcher(factory, &schema).unwrap();
        assert!(follows(&mut m, r#"{"name": "Ada", "kind": "poem"#).is_err());
        let mut m = matcher(factory, &schema).unwrap();
        assert!(follows(&mut m, "{\n").is_err());
        // Not finished until the object is closed.
        let mut m = matcher(factory, &JsonSchema::any_object()).unwrap();
        assert_eq!(follows(&mut m, r#"{"a": 1"#), Ok(false));
    }

    #[test]
    fn a_schema_neither_engine_can_compile_is_described_without_internals() {
        let compiler = GrammarCompiler::llguidance(&byte_tokens()).unwrap();
        let factory = compiler.llguidance.as_ref().unwrap();
        let missing = JsonSchema(json!({"$ref": "#/definitions/missing"}));
        let nonsense = JsonSchema(json!({"type": "nonsense"}));
        for refused in [
            gbnf(&missing).map(drop),
            matcher(factory, &missing).map(drop),
            gbnf(&nonsense).map(drop),
            matcher(factory, &nonsense).map(drop),
        ] {
            match refused {
                Err(LlmError::InvalidRequest { message, .. }) => {
                    assert!(
                        message.contains("cannot be turned into a grammar"),
                        "{message}"
                    );
                    assert!(!message.contains("ffi"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn pattern_repetitions_are_read() {
        assert_eq!(pattern_repetition("^[0-9]{4}-[0-9]{2}$"), 4);
        assert_eq!(pattern_repetition("a{3,70}b{5,}"), 70);
        assert_eq!(pattern_repetition("no braces"), 0);
        assert_eq!(pattern_repetition("{unclosed"), 0);
    }
}
