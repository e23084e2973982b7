//! The JSON request bodies of every service, as their handlers read them:
//! deserialized into the wire type, then validated (auth's credentials,
//! llm's sampling settings, messages and JSON schemas, documents' questions
//! and search queries). The first byte picks the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn auth(body: &[u8]) {
    if let Ok(c) = serde_json::from_slice::<wire::auth::Credentials>(body) {
        if auth::domain::Username::parse(&c.username).is_ok() {
            let _ = auth::domain::NewPassword::parse(&c.password, Some(&c.username), 3);
        }
    }
    let _ = serde_json::from_slice::<wire::auth::RefreshRequest>(body);
    let _ = serde_json::from_slice::<wire::auth::NewApiKey>(body);
    let _ = serde_json::from_slice::<wire::auth::IntrospectRequest>(body);
}

fn llm(body: &[u8], chat: bool) {
    let limits = llm::config::SchemaLimits::default();
    let sampling = if chat {
        let Ok(r) = serde_json::from_slice::<wire::llm::ChatRequest>(body) else {
            return;
        };
        let _ = llm::request::template_messages(&r.messages);
        r.sampling
    } else {
        let Ok(r) = serde_json::from_slice::<wire::llm::CompletionRequest>(body) else {
            return;
        };
        r.sampling
    };
    let _ = llm::request::Settings::from_request(&sampling, 256, &limits);
    let _ = serde_json::from_slice::<wire::llm::TokenizeRequest>(body);
    if let Ok(schema) = serde_json::from_slice::<serde_json::Value>(body) {
        let _ = llm::grammar::check(&schema, &limits);
    }
}

fn documents(body: &[u8]) {
    if let Ok(ask) = serde_json::from_slice::<wire::ask::AskRequest>(body) {
        let _ = documents::ask::question::content_words(&ask.question);
        let _ = documents::ask::question::language(&ask.question);
        let _ = ask.question.parse::<documents::search::Query>();
    }
    let _ = serde_json::from_slice::<wire::documents::ListQuery>(body);
    let _ = serde_json::from_slice::<wire::ocr::OcrOptions>(body);
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&pick, body)) = bytes.split_first() else {
        return;
    };
    match pick % 4 {
        0 => auth(body),
        1 => llm(body, true),
        2 => llm(body, false),
        _ => documents(body),
    }
});
