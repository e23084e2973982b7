//! A streamed answer of `/v1/ask`, read as typed events.

use axum::body::Body;
use axum::http::Response;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use wire::ask::{AskCitations, AskDone, AskPiece, AskStarted, AskUsage, Citation, PassageRef};
use wire::ProblemDocument;

/// One event of a streamed answer, in this order: `Started`, `Piece`s,
/// `Citations`, `Done`; or `Failed` at any point.
#[derive(Debug, Clone, PartialEq)]
pub enum AskEvent {
    Started {
        conversation_id: String,
    },
    Piece(String),
    /// What the answer cites, and every passage the model was given.
    Citations {
        found: bool,
        citations: Vec<Citation>,
        passages: Vec<PassageRef>,
    },
    Done {
        usage: Option<AskUsage>,
    },
    /// The answer stopped midway; what came before is not the whole answer.
    Failed(String),
}

pub struct AskStream {
    events: crate::sse::Events,
    ended: bool,
}

fn data<T: DeserializeOwned>(event: &eventsource_stream::Event) -> Result<T, String> {
    serde_json::from_str(&event.data)
        .map_err(|e| format!("the `{}` event is not valid: {e}", event.event))
}

impl AskStream {
    pub fn new(res: Response<Body>) -> Self {
        Self {
            events: crate::sse::events(res),
            ended: false,
        }
    }

    /// The next event; `None` after `Done` or `Failed`.
    pub async fn next(&mut self) -> Option<AskEvent> {
        if self.ended {
            return None;
        }
        let event = loop {
            match self.events.next().await {
                Some(Ok(event)) if event.event.is_empty() => continue,
                Some(Ok(event)) => break event,
                Some(Err(e)) => {
                    self.ended = true;
                    return Some(AskEvent::Failed(format!("the answer broke off: {e}")));
                }
                None => {
                    self.ended = true;
                    return Some(AskEvent::Failed(
                        "the answer was cut off before its end".into(),
                    ));
                }
            }
        };
        let read = match event.event.as_str() {
            "conversation" => data::<AskStarted>(&event).map(|s| AskEvent::Started {
                conversation_id: s.conversation_id,
            }),
            "piece" => data::<AskPiece>(&event).map(|p| AskEvent::Piece(p.text)),
            "citations" => data::<AskCitations>(&event).map(|c| AskEvent::Citations {
                found: c.found,
                citations: c.citations,
                passages: c.passages,
            }),
            "done" => data::<AskDone>(&event).map(|d| AskEvent::Done { usage: d.usage }),
            "error" => data::<ProblemDocument>(&event)
                .map(|p| AskEvent::Failed(p.detail.unwrap_or(p.title))),
            other => Err(format!("an unknown event `{other}`")),
        };
        let event = read.unwrap_or_else(AskEvent::Failed);
        if matches!(event, AskEvent::Done { .. } | AskEvent::Failed(_)) {
            self.ended = true;
        }
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(body: &str) -> Vec<AskEvent> {
        let mut s = AskStream::new(Response::new(Body::from(body.to_owned())));
        let mut out = Vec::new();
        while let Some(e) = s.next().await {
            out.push(e);
        }
        out
    }

    #[tokio::test]
    async fn events_in_order() {
        let body = "event: conversation\ndata: {\"conversation_id\":\"c1\"}\n\n\
                    event: piece\ndata: {\"text\":\"Trente \"}\n\n\
                    event: piece\ndata: {\"text\":\"jours [1]\"}\n\n\
                    event: citations\ndata: {\"found\":true,\"citations\":[],\"passages\":[]}\n\n\
                    event: done\ndata: {}\n\n";
        let events = all(body).await;
        assert_eq!(
            events,
            vec![
                AskEvent::Started {
                    conversation_id: "c1".into()
                },
                AskEvent::Piece("Trente ".into()),
                AskEvent::Piece("jours [1]".into()),
                AskEvent::Citations {
                    found: true,
                    citations: vec![],
                    passages: vec![]
                },
                AskEvent::Done { usage: None },
            ]
        );
    }

    #[tokio::test]
    async fn an_error_or_a_cut_ends_the_answer() {
        let body = "event: piece\ndata: {\"text\":\"a\"}\n\n\
                    event: error\ndata: {\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,\"detail\":\"the model is busy\"}\n\n\
                    event: done\ndata: {}\n\n";
        let events = all(body).await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[1], AskEvent::Failed("the model is busy".into()));
        let cut = all("event: piece\ndata: {\"text\":\"a\"}\n\n").await;
        assert!(matches!(&cut[1], AskEvent::Failed(m) if m.contains("cut off")));
    }
}
