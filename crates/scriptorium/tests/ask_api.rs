//! Asking the library end to end, with the real model (SmolLM2-135M) and
//! real OCR of scanned pages, on SQLite and on PostgreSQL: the right page
//! cited, "not found" for what is absent, a prompt that fits the model's
//! context, follow-ups after a restart, streaming, and privacy.

mod common;

use common::library::Library;
use common::{Db, TestDb};
use reqwest::StatusCode;
use scriptorium::configuration::Config;
use serde_json::{json, Value};
use wire::ask::{AskResponse, Conversation, ConversationList};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/smollm2-135m-instruct-q4_1.gguf"
);

fn with_model(config: &mut Config) {
    config.llm.model = MODEL.into();
    config.llm.slots = 2;
    config.llm.context_per_slot = 2048;
}

fn targets() -> scriptorium::targets::Targets {
    "auth,ocr,documents,llm".parse().unwrap()
}

async fn start(db: TestDb, tweak: impl FnOnce(&mut Config)) -> Library {
    let app = serve_asking(&db, tweak).await;
    let t = app.signed_up("reader").await;
    Library {
        token: t["access_token"].as_str().unwrap().to_owned(),
        app,
        db,
    }
}

async fn serve_asking(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> common::TestApp {
    let mut config = db.config();
    with_model(&mut config);
    tweak(&mut config);
    let app = common::TestApp::start_targets(config, &targets()).await;
    let ready = app.wait_ready().await;
    assert_eq!(ready["checks"]["llm"], "ok", "{ready}");
    app
}

/// A scanned page of these lines.
fn scan(lines: &[String]) -> fixtures::PdfPageSpec {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    fixtures::scanned_page(&refs)
}

const TOPICS: [&str; 15] = [
    "installation",
    "power supply",
    "filter",
    "cleaning",
    "noise",
    "pressure",
    "valves",
    "storage",
    "transport",
    "safety",
    "alarms",
    "warranty",
    "seals",
    "motor",
    "disposal",
];

/// A 15-page scanned manual; page 12 says how long the warranty lasts and
/// who repairs the pump.
fn manual() -> Vec<u8> {
    let pages: Vec<_> = TOPICS
        .iter()
        .enumerate()
        .map(|(i, topic)| {
            let mut lines = vec![format!("Halcyon pump manual, chapter {}: {topic}", i + 1)];
            if *topic == "warranty" {
                lines.extend(
                    [
                        "The Halcyon pump is under warranty for 36 months",
                        "from the date of purchase.",
                        "Repairs under warranty are made by Nordwind Service",
                        "in Grenoble.",
                    ]
                    .map(String::from),
                );
            } else {
                lines.push(format!("This chapter explains the {topic} of the pump."));
                lines.push(format!("Read it before you change the {topic} settings."));
                lines.push("Keep the pump dry and away from children.".into());
            }
            scan(&lines)
        })
        .collect();
    fixtures::pdf(&pages)
}

fn letter() -> Vec<u8> {
    let lines = [
        "Mairie de Valence",
        "La réunion du conseil municipal aura lieu",
        "le jeudi 14 mars à dix-huit heures,",
        "dans la salle des fêtes.",
    ]
    .map(String::from);
    fixtures::pdf(&[scan(&lines)])
}

impl Library {
    async fn ask_as(&self, token: &str, body: Value) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url("/v1/ask"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn ask(&self, body: Value) -> AskResponse {
        let r = self.ask_as(&self.token, body.clone()).await;
        assert_eq!(r.status(), StatusCode::OK, "{body}");
        r.json().await.unwrap()
    }

    /// The same library served by a new process.
    async fn restarted(self) -> Library {
        let Library { app, token, db } = self;
        app.stop().await;
        Library {
            app: serve_asking(&db, |_| {}).await,
            token,
            db,
        }
    }

    async fn read<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }

    async fn stored(&self, bytes: Vec<u8>, name: &str) -> String {
        let doc = self.upload(bytes, name).await;
        self.wait_done(&doc.id).await;
        doc.id
    }
}

/// `(document, page)` of each citation.
fn cited(answer: &AskResponse) -> Vec<(String, u32)> {
    answer
        .citations
        .iter()
        .map(|c| (c.document_id.clone(), c.page))
        .collect()
}

async fn facts_are_found_on_their_page(db: Db) {
    let lib = start(TestDb::new(db).await, |_| {}).await;
    let manual = lib.stored(manual(), "halcyon-manual.pdf").await;
    let letter = lib.stored(letter(), "convocation.pdf").await;

    let warranty = lib
        .ask(json!({ "question": "How long is the warranty of the Halcyon pump?" }))
        .await;
    println!("warranty: {warranty:?}");
    assert!(warranty.found);
    assert_eq!(cited(&warranty), [(manual.clone(), 12)], "{warranty:?}");
    assert_eq!(
        (
            warranty.passages[0].document_id.as_str(),
            warranty.passages[0].page
        ),
        (manual.as_str(), 12),
        "the best passage first"
    );
    assert!(warranty.answer.contains("36"), "{warranty:?}");
    let citation = &warranty.citations[0];
    assert!(citation.quote.contains("36 months"), "{citation:?}");
    assert!(!citation.boxes.is_empty());
    assert!(citation
        .boxes
        .iter()
        .all(|b| b[2] <= citation.width && b[3] <= citation.height && b[0] < b[2]));

    let meeting = lib
        .ask(json!({ "question": "Quand aura lieu la réunion du conseil municipal ?" }))
        .await;
    println!("meeting: {meeting:?}");
    assert_eq!(cited(&meeting), [(letter.clone(), 1)], "{meeting:?}");
    assert!(meeting.answer.contains("14"), "{meeting:?}");

    // Only the chosen documents are seen.
    let elsewhere = lib
        .ask(json!({
            "question": "How long is the warranty of the Halcyon pump?",
            "document_ids": [letter],
        }))
        .await;
    assert!(!elsewhere.found, "{elsewhere:?}");

    let absent = lib
        .ask(json!({ "question": "What is the boiling point of mercury?" }))
        .await;
    assert!(!absent.found, "{absent:?}");
    assert!(absent.citations.is_empty());
    assert_eq!(absent.answer, "I could not find this in your documents.");

    // A follow-up, after a restart, in the same conversation.
    let lib = lib.restarted().await;
    let follow_up = lib
        .ask(json!({
            "question": "Who repairs it?",
            "conversation_id": warranty.conversation_id,
        }))
        .await;
    println!("follow-up: {follow_up:?}");
    assert_eq!(follow_up.conversation_id, warranty.conversation_id);
    assert_eq!(cited(&follow_up), [(manual.clone(), 12)], "{follow_up:?}");
    assert!(follow_up.answer.contains("Nordwind"), "{follow_up:?}");
    let r = lib
        .get(&format!("/v1/conversations/{}", warranty.conversation_id))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let conversation: Conversation = r.json().await.unwrap();
    let questions: Vec<&str> = conversation
        .turns
        .iter()
        .map(|t| t.question.as_str())
        .collect();
    assert_eq!(
        questions,
        [
            "How long is the warranty of the Halcyon pump?",
            "Who repairs it?"
        ]
    );
    assert_eq!(conversation.turns[0].citations, warranty.citations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_are_found_on_their_page_on_sqlite() {
    facts_are_found_on_their_page(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_are_found_on_their_page_on_postgres() {
    facts_are_found_on_their_page(Db::Postgres).await;
}

/// Born-digital pages: the library grows fast without OCR.
fn born_digital(pages: usize, lines: impl Fn(usize) -> Vec<String>) -> Vec<u8> {
    let specs: Vec<_> = (0..pages)
        .map(|p| fixtures::PdfPageSpec::Text(lines(p)))
        .collect();
    fixtures::pdf(&specs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prompt_never_exceeds_the_models_context() {
    let lib = start(TestDb::new(Db::Sqlite).await, |c| {
        c.llm.context_per_slot = 1024;
        c.documents.ask.max_passages = 20;
        c.documents.ask.answer_tokens = 64;
    })
    .await;
    // Thirty pages, each of two long paragraphs that all match alike.
    let filler = fixtures::sentences(0, 1, 12).join(" ");
    let page = |p: usize| {
        let mut lines = Vec::new();
        for _ in 0..2 {
            for _ in 0..7 {
                lines.push(format!("the turbine gearbox log {p} {filler}"));
            }
            lines.push(String::new());
        }
        lines
    };
    for d in 0..3 {
        lib.stored(born_digital(10, page), &format!("log-{d}.pdf"))
            .await;
    }
    let answer = lib
        .ask(json!({ "question": "What does the turbine gearbox log say?" }))
        .await;
    let usage = answer.usage.expect("the model was asked");
    println!("{usage:?}");
    assert_eq!(usage.context_tokens, 1024);
    assert!(usage.passages >= 1, "{usage:?}");
    assert!(
        usage.passages < 20,
        "the context, not the cap, limited it: {usage:?}"
    );
    assert!(
        usage.prompt_tokens + 64 <= 1024,
        "prompt of {} tokens and an answer of 64 in 1024: {usage:?}",
        usage.prompt_tokens
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_then_its_citations_then_the_end() {
    let lib = start(TestDb::new(Db::Sqlite).await, |_| {}).await;
    let doc = lib
        .stored(
            born_digital(1, |_| {
                vec!["The cellar key is kept in the blue box behind the bakery.".into()]
            }),
            "notes.pdf",
        )
        .await;
    let r = lib
        .ask_as(
            &lib.token,
            json!({ "question": "Where is the cellar key kept?", "stream": true }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let body = axum::body::Body::from_stream(r.bytes_stream());
    let mut events = client::ask::AskStream::new(axum::http::Response::new(body));
    let mut seen = Vec::new();
    let mut text = String::new();
    while let Some(event) = events.next().await {
        match &event {
            client::ask::AskEvent::Started { .. } => seen.push("conversation"),
            client::ask::AskEvent::Piece(p) => {
                text.push_str(p);
                if seen.last() != Some(&"piece") {
                    seen.push("piece");
                }
            }
            client::ask::AskEvent::Citations {
                citations, found, ..
            } => {
                assert!(found);
                assert_eq!(citations[0].document_id, doc, "{citations:?}");
                seen.push("citations");
            }
            client::ask::AskEvent::Done { usage } => {
                assert!(usage.is_some());
                seen.push("done");
            }
            client::ask::AskEvent::Failed(e) => panic!("{e}"),
        }
    }
    println!("streamed: {text}");
    assert_eq!(seen, ["conversation", "piece", "citations", "done"]);
    assert!(text.to_lowercase().contains("blue box"), "{text}");
    // The streamed turn is kept.
    let r = lib.get("/v1/conversations").await;
    let list: ConversationList = r.json().await.unwrap();
    assert_eq!(list.conversations.len(), 1);
    assert_eq!(list.conversations[0].title, "Where is the cellar key kept?");
    assert_eq!(list.conversations[0].turns, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_and_documents_are_private_and_deletable() {
    let lib = start(TestDb::new(Db::Sqlite).await, |_| {}).await;
    let doc = lib
        .stored(
            born_digital(1, |_| {
                vec!["Invoice 2291 is due on the first of May.".into()]
            }),
            "invoice.pdf",
        )
        .await;
    let mine = lib
        .ask(json!({ "question": "When is invoice 2291 due?" }))
        .await;
    assert!(mine.found, "{mine:?}");
    let other = lib.app.signed_up("stranger").await;
    let other = other["access_token"].as_str().unwrap();

    // Their library has nothing; my conversation and document are not theirs.
    let r = lib
        .ask_as(other, json!({ "question": "When is invoice 2291 due?" }))
        .await;
    let theirs: AskResponse = r.json().await.unwrap();
    assert!(!theirs.found, "{theirs:?}");
    let path = format!("/v1/conversations/{}", mine.conversation_id);
    assert_eq!(
        lib.app.get_auth(&path, other).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = lib
        .ask_as(
            other,
            json!({ "question": "When is it due?", "conversation_id": mine.conversation_id }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = lib
        .ask_as(other, json!({ "question": "When?", "document_ids": [doc] }))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/problem+json"));

    // Bad questions are problems.
    for body in [
        json!({ "question": "   " }),
        json!({ "question": "x".repeat(3000) }),
        json!({ "question": "ok", "document_ids": ["not-an-id"] }),
        json!({ "question": "ok", "colour": "blue" }),
    ] {
        let r = lib.ask_as(&lib.token, body.clone()).await;
        assert!(r.status().is_client_error(), "{body}: {}", r.status());
    }

    // A deleted document is never a passage again; a deleted conversation
    // is gone.
    assert_eq!(
        lib.delete_as(&lib.token, &doc).await.status(),
        StatusCode::NO_CONTENT
    );
    let after = lib
        .ask(json!({ "question": "When is invoice 2291 due?" }))
        .await;
    assert!(!after.found, "{after:?}");
    let r = lib
        .app
        .client
        .delete(lib.app.url(&path))
        .bearer_auth(&lib.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(lib.get(&path).await.status(), StatusCode::NOT_FOUND);
    let list: ConversationList = lib.get("/v1/conversations").await.json().await.unwrap();
    assert_eq!(list.conversations.len(), 1, "the last question's remains");

    // The routes are in the OpenAPI document.
    let doc: Value = lib.app.get_json("/openapi.json").await;
    for (path, method) in [
        ("/v1/ask", "post"),
        ("/v1/conversations", "get"),
        ("/v1/conversations/{id}", "delete"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{path} {method}");
    }
    assert!(doc["components"]["schemas"]["AskResponse"].is_object());
}

/// `library: false`: the model alone (the console's assistant), kept as a
/// conversation of its own kind that a restart keeps and that cannot turn
/// into asking the library.
async fn a_conversation_with_the_model_alone(db: Db) {
    let lib = start(TestDb::new(db).await, |c| {
        c.documents.ask.answer_tokens = 24;
    })
    .await;
    let doc = lib.stored(letter(), "lettre.pdf").await;
    let first = lib
        .ask(json!({ "question": "Say hello to Ada.", "library": false }))
        .await;
    assert!(!first.answer.trim().is_empty(), "{first:?}");
    assert!(!first.found && first.citations.is_empty() && first.passages.is_empty());
    let usage = first.usage.expect("the model was asked");
    assert_eq!(usage.passages, 0);

    // The conversation keeps its kind: a follow-up without the flag is the
    // model alone again; asking the library in it, or naming documents, is
    // refused.
    let id = first.conversation_id.clone();
    let second = lib
        .ask(
            json!({ "question": "Quand aura lieu la réunion du conseil ?", "conversation_id": id }),
        )
        .await;
    assert!(
        second.citations.is_empty() && second.passages.is_empty(),
        "{second:?}"
    );
    for body in [
        json!({ "question": "And?", "conversation_id": id, "library": true }),
        json!({ "question": "And?", "library": false, "document_ids": [doc] }),
    ] {
        let r = lib.ask_as(&lib.token, body.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let problem: Value = r.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains("library"),
            "{problem}"
        );
    }

    // Listed with its kind, beside a conversation of the library.
    let asked = lib
        .ask(json!({ "question": "Quand aura lieu la réunion du conseil municipal ?" }))
        .await;
    let list: ConversationList = lib.read("/v1/conversations").await;
    let kinds: Vec<(String, bool)> = list
        .conversations
        .iter()
        .map(|c| (c.id.clone(), c.library))
        .collect();
    assert!(kinds.contains(&(id.clone(), false)), "{kinds:?}");
    assert!(
        kinds.contains(&(asked.conversation_id.clone(), true)),
        "{kinds:?}"
    );

    // A restart keeps both turns.
    let lib = lib.restarted().await;
    let kept: Conversation = lib.read(&format!("/v1/conversations/{id}")).await;
    assert!(!kept.library);
    assert_eq!(kept.turns.len(), 2);
    assert_eq!(kept.turns[0].question, "Say hello to Ada.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_with_the_model_alone_on_sqlite() {
    a_conversation_with_the_model_alone(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_with_the_model_alone_on_postgres() {
    a_conversation_with_the_model_alone(Db::Postgres).await;
}
