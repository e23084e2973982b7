//! Structured output: a `response_format` JSON schema checked against
//! [`SchemaLimits`], then turned into the GBNF grammar the sampler follows.
//!
//! The grammar runs on the engine thread at every step, over every
//! candidate token, so its cost is paid by every user of the engine, not
//! only by the one who sent it. The checks below bound that cost before any
//! work is done: a schema over a limit is a 400 naming the limit.

use serde_json::Value;

use crate::config::SchemaLimits;
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

/// The GBNF grammar accepting exactly the JSON that `schema` describes,
/// after the schema passed [`check`].
pub fn from_schema(schema: &Value, limits: &SchemaLimits) -> Result<String, LlmError> {
    check(schema, limits)?;
    llama_cpp_2::json_schema_to_grammar(&schema.to_string()).map_err(|e| {
        // The converter's own words ("ffi error -3") mean nothing to a
        // client: they go to the log.
        tracing::info!(error = %e, "a response_format schema was refused by the converter");
        LlmError::invalid(
            "response_format: the JSON schema uses a construct that cannot be turned into a \
             grammar (unsupported keyword, unresolvable $ref or invalid value)",
            "response_format",
        )
    })
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

    #[test]
    fn ordinary_schemas_pass() {
        let limits = SchemaLimits::default();
        for schema in [
            json!({"type": "object"}),
            json!({"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 80},
                "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                "kind": {"enum": ["invoice", "letter", "contract"]},
                "amount": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10}},
                "required": ["name"]}),
        ] {
            check(&schema, &limits).unwrap();
            assert!(from_schema(&schema, &limits).unwrap().contains("root"));
        }
    }

    #[test]
    fn a_schema_the_converter_refuses_is_described_without_internals() {
        let schema = json!({"$ref": "#/definitions/missing"});
        match from_schema(&schema, &SchemaLimits::default()) {
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

    #[test]
    fn pattern_repetitions_are_read() {
        assert_eq!(pattern_repetition("^[0-9]{4}-[0-9]{2}$"), 4);
        assert_eq!(pattern_repetition("a{3,70}b{5,}"), 70);
        assert_eq!(pattern_repetition("no braces"), 0);
        assert_eq!(pattern_repetition("{unclosed"), 0);
    }
}
