//! Asking the library: a question's passages found with the search index,
//! as many as the model's context holds given to the model, and the
//! answer kept in a conversation with the passages it cites. A
//! conversation without the library (`library: false`) is the model alone,
//! kept the same way: the console's assistant page.
//!
//! The model is reached through the OpenAI-compatible API ([`client`]), in
//! this process or over HTTP, with the caller's own credential: its
//! limits and fairness apply to asking as to any chat.

pub mod passages;
pub mod prompt;
pub mod question;

use client::llm::ChatEvent;
use client::Caller;
use futures::Stream;
use wire::ask::{AskRequest, AskResponse, AskUsage, Citation, PassageRef, Turn};
use wire::llm::{ChatMessage, ChatRequest, Sampling, StreamOptions};

use crate::error::DocumentsError;
use crate::library::{document_ids, Library};
use crate::search::terms::Stems;
use crate::search::Query;
use crate::store::Search;
use passages::{Passage, Ranked, Source};
use question::Language;

/// A passage is relevant when it holds at least this share of the words
/// looked for.
const MIN_COVERAGE: f64 = 0.5;
/// ... and scores at least this share of the best passage's score.
const MIN_SHARE_OF_BEST: f64 = 0.5;

/// Who asks, as the model's API is to see them.
pub struct Asker<'a> {
    pub owner: &'a str,
    pub caller: &'a Caller,
    pub token: &'a str,
}

/// A question ready to be answered: its conversation, and either the
/// prompt for the model or the "not found" answer.
pub struct Prepared {
    pub conversation_id: String,
    /// The conversation starts with this question.
    new: bool,
    /// The library is asked (else the model alone).
    library: bool,
    question: String,
    language: Language,
    /// `None`: nothing relevant was found; the model is not asked.
    prompt: Option<Prompt>,
}

struct Prompt {
    request: ChatRequest,
    /// Whether the answer rests on `passages` (else on the model alone).
    library: bool,
    passages: Vec<Passage>,
    context: u32,
}

impl Prepared {
    /// The passages the model is given, best first.
    pub fn passages(&self) -> Vec<PassageRef> {
        self.prompt.as_ref().map_or_else(Vec::new, |p| {
            p.passages
                .iter()
                .enumerate()
                .map(|(i, p)| PassageRef {
                    n: i as u32 + 1,
                    document_id: p.document_id.clone(),
                    document_name: p.document_name.clone(),
                    page: p.page,
                })
                .collect()
        })
    }
}

impl Prompt {
    fn usage(&self, u: &wire::llm::Usage) -> AskUsage {
        AskUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            context_tokens: self.context,
            passages: self.passages.len() as u32,
        }
    }

    /// What the model's `answer` is: cited passages of the library, or the
    /// model's own words.
    fn settle(&self, answer: String) -> Settled {
        if self.library {
            return settle(answer, &self.passages);
        }
        Settled {
            answer: answer.trim().to_owned(),
            found: false,
            citations: Vec::new(),
        }
    }
}

/// What an answer turned out to be: its text, whether it rests on the
/// library, and the passages it cites.
struct Settled {
    answer: String,
    found: bool,
    citations: Vec<Citation>,
}

fn citation(n: usize, p: &Passage) -> Citation {
    Citation {
        n: n as u32,
        document_id: p.document_id.clone(),
        document_name: p.document_name.clone(),
        page: p.page,
        quote: p.text.clone(),
        width: p.width,
        height: p.height,
        boxes: p.boxes.clone(),
    }
}

/// The citations of `answer` among the `given` passages.
fn settle(answer: String, given: &[Passage]) -> Settled {
    let answer = answer.trim().to_owned();
    if prompt::says_not_found(&answer) || answer.is_empty() {
        return Settled {
            answer,
            found: false,
            citations: Vec::new(),
        };
    }
    let mut numbers = prompt::cited(&answer, given.len());
    if numbers.is_empty() {
        let texts: Vec<&str> = given.iter().map(|p| p.text.as_str()).collect();
        numbers.extend(prompt::attributed(&answer, &texts));
    }
    let citations = numbers
        .into_iter()
        .map(|n| citation(n, &given[n - 1]))
        .collect();
    Settled {
        answer,
        found: true,
        citations,
    }
}

impl Library {
    fn model(&self) -> Result<&client::Client, DocumentsError> {
        self.llm.as_ref().ok_or_else(|| DocumentsError::Model {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            detail: "asking needs the llm service: run it in this process, \
                     or set documents.ask.llm_url"
                .into(),
            retry_after: None,
        })
    }

    /// Find the passages of a question and write its prompt.
    #[tracing::instrument(skip_all, name = "ask_prepare", fields(user = who.owner))]
    pub async fn prepare_answer(
        &self,
        who: &Asker<'_>,
        request: &AskRequest,
    ) -> Result<Prepared, DocumentsError> {
        let config = &self.config.ask;
        let question = request.question.trim().to_owned();
        if question.is_empty() {
            return Err(DocumentsError::BadQuestion(
                "question: ask something".into(),
            ));
        }
        if question.chars().count() > config.max_question_chars {
            return Err(DocumentsError::BadQuestion(format!(
                "question: at most {} characters",
                config.max_question_chars
            )));
        }
        let documents = document_ids(
            request
                .document_ids
                .as_ref()
                .map(|v| v.join(","))
                .as_deref(),
        )?;
        for id in &documents {
            if self.store.get(who.owner, id).await?.is_none() {
                return Err(DocumentsError::BadQuestion(format!(
                    "document_ids: no document {id} of yours"
                )));
            }
        }
        let history = match &request.conversation_id {
            Some(id) => Some(
                self.store
                    .conversation(who.owner, id)
                    .await?
                    .ok_or(DocumentsError::NoConversation)?,
            ),
            None => None,
        };
        // A conversation keeps the choice it started with.
        let library = match (&history, request.library) {
            (Some(c), Some(asked)) if c.library != asked => {
                return Err(DocumentsError::BadQuestion(format!(
                    "library: this conversation was started with library = {}",
                    c.library
                )));
            }
            (Some(c), _) => c.library,
            (None, asked) => asked.unwrap_or(true),
        };
        if !library && !documents.is_empty() {
            return Err(DocumentsError::BadQuestion(
                "document_ids: only when the library is asked (library: true)".into(),
            ));
        }
        let turns: &[Turn] = history.as_ref().map_or(&[], |c| c.turns.as_slice());
        let language = question::language(&question);
        // A new conversation is stored with its first complete answer, so
        // an answer that fails or is abandoned leaves nothing behind.
        let (conversation_id, new) = match &history {
            Some(c) => (c.id.clone(), false),
            None => (uuid::Uuid::now_v7().to_string(), true),
        };
        if !library {
            let prompt = self.prompt(who, &question, language, turns, None).await?;
            return Ok(Prepared {
                conversation_id,
                new,
                library,
                question,
                language,
                prompt: Some(prompt),
            });
        }
        // A follow-up ("and its weight?") is about what the last question
        // was about: its words are looked for too.
        let mut words = question::content_words(&question);
        if let Some(last) = turns.last() {
            for w in question::content_words(&last.question) {
                if !words.contains(&w) {
                    words.push(w);
                }
            }
        }
        let ranked = self.retrieve(who.owner, &words, &documents).await?;
        // Passages far behind the best one would only distract a small
        // model.
        let best = ranked.first().map_or(0.0, |r| r.score);
        let relevant: Vec<Ranked> = ranked
            .into_iter()
            .filter(|r| r.coverage >= MIN_COVERAGE && r.score >= best * MIN_SHARE_OF_BEST)
            .collect();
        tracing::debug!(
            words = words.len(),
            relevant = relevant.len(),
            "passages found"
        );
        let prompt = if relevant.is_empty() {
            None
        } else {
            Some(
                self.prompt(who, &question, language, turns, Some(relevant))
                    .await?,
            )
        };
        Ok(Prepared {
            conversation_id,
            new,
            library,
            question,
            language,
            prompt,
        })
    }

    /// The passages of the best pages for `words`, best first.
    async fn retrieve(
        &self,
        owner: &str,
        words: &[Stems],
        documents: &[String],
    ) -> Result<Vec<Ranked>, DocumentsError> {
        let Some(query) = Query::any_of(words.to_vec()) else {
            return Ok(Vec::new());
        };
        let hits = self
            .store
            .search(
                owner,
                &Search {
                    query: &query,
                    documents,
                    since: None,
                    until: None,
                    limit: self.config.ask.candidate_pages,
                    offset: 0,
                },
            )
            .await?;
        let mut all = Vec::new();
        for (rank, hit) in hits.iter().enumerate() {
            let page: wire::ocr::Page = match serde_json::from_str(&hit.result) {
                Ok(page) => page,
                Err(_) => continue,
            };
            let source = Source {
                document_id: &hit.document_id,
                document_name: &hit.name,
                page_rank: rank,
            };
            all.extend(passages::split(&page, &source));
        }
        Ok(passages::rank(all, words))
    }

    /// The chat request: the conversation's latest turns and the best
    /// passages, as many as the model's context holds beside the answer;
    /// without the library (`relevant` None), the question alone.
    async fn prompt(
        &self,
        who: &Asker<'_>,
        question: &str,
        language: Language,
        turns: &[Turn],
        relevant: Option<Vec<Ranked>>,
    ) -> Result<Prompt, DocumentsError> {
        let library = relevant.is_some();
        let config = &self.config.ask;
        let model = self.model()?;
        let models = model.llm().models(who.caller, who.token).await?;
        let card = match &config.model {
            Some(id) => models.data.iter().find(|m| &m.id == id),
            None => models.data.first(),
        };
        let context = card
            .and_then(|m| m.max_model_len)
            .unwrap_or(config.context_tokens);
        let candidates: Vec<Passage> = relevant
            .into_iter()
            .flatten()
            .take(config.max_passages)
            .map(|r| r.passage)
            .collect();
        let texts: Vec<String> = candidates
            .iter()
            .enumerate()
            .map(|(i, p)| prompt::passage_text(i + 1, &p.document_name, p.page, &p.text))
            .collect();
        let (system, framing) = if library {
            let framing = prompt::user_message(&[], question, language);
            (prompt::system(language), framing)
        } else {
            (prompt::assistant(language), question.to_owned())
        };
        let count = |text: String| async move {
            model
                .llm()
                .tokenize(who.caller, who.token, &text)
                .await
                .map(|t| t.len() as u32)
        };
        let (system_tokens, question_tokens) =
            futures::try_join!(count(system.to_owned()), count(framing))?;
        let history: Vec<u32> = futures::future::try_join_all(
            turns
                .iter()
                .map(|t| count(format!("{}\n{}", t.question, t.answer))),
        )
        .await?;
        let passage_tokens =
            futures::future::try_join_all(texts.iter().map(|t| count(t.clone()))).await?;
        let fit = prompt::fit(&prompt::Counted {
            context,
            answer: config.answer_tokens,
            system: system_tokens,
            question: question_tokens,
            history,
            passages: passage_tokens,
            max_passages: config.max_passages,
        })
        .ok_or_else(|| {
            DocumentsError::BadQuestion(format!(
                "question: too long for the model's context of {context} tokens"
            ))
        })?;
        let mut messages = vec![ChatMessage::new("system", system)];
        for t in &turns[turns.len() - fit.history..] {
            messages.push(ChatMessage::new("user", t.question.clone()));
            messages.push(ChatMessage::new("assistant", t.answer.clone()));
        }
        let asked = if library {
            prompt::user_message(&texts[..fit.passages], question, language)
        } else {
            question.to_owned()
        };
        messages.push(ChatMessage::new("user", asked));
        let mut passages = candidates;
        passages.truncate(fit.passages);
        tracing::debug!(
            passages = fit.passages,
            tokens = fit.tokens,
            context,
            "prompt"
        );
        Ok(Prompt {
            request: ChatRequest {
                model: config.model.clone(),
                messages,
                sampling: Sampling {
                    max_tokens: Some(config.answer_tokens),
                    // Answers from passages are read, not invented.
                    temperature: Some(if library { 0.0 } else { 0.3 }),
                    frequency_penalty: Some(config.frequency_penalty.into()),
                    ..Sampling::default()
                },
            },
            library,
            passages,
            context,
        })
    }

    /// Keep a settled turn; a conversation deleted meanwhile keeps nothing.
    async fn record(
        &self,
        owner: &str,
        prepared: &Prepared,
        settled: &Settled,
    ) -> Result<(), DocumentsError> {
        if prepared.new {
            let (id, question) = (&prepared.conversation_id, &prepared.question);
            let library = prepared.library;
            self.store
                .start_conversation(owner, id, question, library)
                .await?;
        }
        self.store
            .add_turn(
                owner,
                &prepared.conversation_id,
                &prepared.question,
                &settled.answer,
                settled.found,
                &settled.citations,
            )
            .await?;
        Ok(())
    }

    /// The whole answer to a prepared question, kept in its conversation.
    #[tracing::instrument(skip_all, name = "ask_answer", fields(user = who.owner))]
    pub async fn answer(
        &self,
        who: &Asker<'_>,
        prepared: Prepared,
    ) -> Result<AskResponse, DocumentsError> {
        let (settled, usage) = match &prepared.prompt {
            None => (not_found(prepared.language), None),
            Some(p) => {
                let response = self
                    .model()?
                    .llm()
                    .chat(who.caller, who.token, &p.request)
                    .await?;
                let text = response
                    .choices
                    .into_iter()
                    .next()
                    .map(|c| c.message.content)
                    .unwrap_or_default();
                let usage = p.usage(&response.usage);
                (p.settle(text), Some(usage))
            }
        };
        self.record(who.owner, &prepared, &settled).await?;
        Ok(AskResponse {
            passages: prepared.passages(),
            conversation_id: prepared.conversation_id,
            answer: settled.answer,
            found: settled.found,
            citations: settled.citations,
            usage,
        })
    }

    /// The answer to a prepared question as it is written: the stream's
    /// events, the turn kept once the answer is complete.
    pub async fn answer_stream(
        &self,
        who: &Asker<'_>,
        prepared: Prepared,
    ) -> Result<impl Stream<Item = Answered> + Send + 'static, DocumentsError> {
        let chat = match &prepared.prompt {
            Some(p) => {
                let mut request = p.request.clone();
                request.sampling.stream_options = Some(StreamOptions {
                    include_usage: true,
                });
                let llm = self.model()?.llm();
                Some(llm.chat_stream(who.caller, who.token, &request).await?)
            }
            None => None,
        };
        let library = self.clone();
        let owner = who.owner.to_owned();
        let (tx, rx) = futures::channel::mpsc::channel(16);
        tokio::spawn(async move {
            let mut tx = tx;
            use futures::SinkExt;
            let started = Answered::Started(prepared.conversation_id.clone());
            if tx.send(started).await.is_err() {
                return;
            }
            let (settled, usage) = match (chat, &prepared.prompt) {
                (Some(mut chat), Some(p)) => {
                    let mut text = String::new();
                    let mut usage = None;
                    loop {
                        match chat.next().await {
                            Some(ChatEvent::Piece(piece)) => {
                                if tx.send(Answered::Piece(piece.clone())).await.is_err() {
                                    // The reader left (Stop). An answer of
                                    // the library is kept only whole, with
                                    // its citations; a conversation with
                                    // the model alone keeps what was shown.
                                    if !prepared.library && !text.trim().is_empty() {
                                        let settled = p.settle(text);
                                        let kept = library.record(&owner, &prepared, &settled);
                                        if let Err(e) = kept.await {
                                            tracing::warn!(error = %e, "a stopped answer was lost");
                                        }
                                    }
                                    return;
                                }
                                text.push_str(&piece);
                            }
                            Some(ChatEvent::Done { usage: u, .. }) => {
                                usage = u.map(|u| p.usage(&u));
                                break;
                            }
                            Some(ChatEvent::Failed(e)) => {
                                let _ = tx.send(Answered::Failed(e.message)).await;
                                return;
                            }
                            None => break,
                        }
                    }
                    (p.settle(text), usage)
                }
                _ => {
                    let settled = not_found(prepared.language);
                    if tx
                        .send(Answered::Piece(settled.answer.clone()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    (settled, None)
                }
            };
            let cited = Answered::Citations {
                found: settled.found,
                citations: settled.citations.clone(),
                passages: prepared.passages(),
            };
            if tx.send(cited).await.is_err() {
                return;
            }
            let end = match library.record(&owner, &prepared, &settled).await {
                Ok(()) => Answered::Done(usage),
                Err(e) => Answered::Failed(format!("the answer could not be kept: {e}")),
            };
            let _ = tx.send(end).await;
        });
        Ok(rx)
    }
}

fn not_found(language: Language) -> Settled {
    Settled {
        answer: prompt::not_found(language).to_owned(),
        found: false,
        citations: Vec::new(),
    }
}

/// An event of a streamed answer, as the route writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Answered {
    Started(String),
    Piece(String),
    Citations {
        found: bool,
        citations: Vec<Citation>,
        passages: Vec<PassageRef>,
    },
    Done(Option<AskUsage>),
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(page: u32, text: &str) -> Passage {
        Passage {
            document_id: "d".into(),
            document_name: "manual.pdf".into(),
            page,
            width: 10,
            height: 10,
            text: text.into(),
            boxes: vec![[1, 2, 3, 4]],
            page_rank: 0,
        }
    }

    #[test]
    fn an_answer_cites_only_what_it_was_given() {
        let given = [
            passage(3, "the pump is blue"),
            passage(12, "warranty 36 months"),
        ];
        let s = settle("It is 36 months [2] [7].".into(), &given);
        assert!(s.found);
        assert_eq!(s.citations.len(), 1);
        assert_eq!((s.citations[0].n, s.citations[0].page), (2, 12));
        let s = settle("The warranty lasts 36 months.".into(), &given);
        assert_eq!(s.citations[0].page, 12);
        let s = settle(
            " I could not find this in your documents. [1]".into(),
            &given,
        );
        assert!(!s.found && s.citations.is_empty());
    }
}
