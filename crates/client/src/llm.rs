//! The OpenAI-compatible API, with streamed answers read as typed events.

use axum::body::Body;
use axum::http::{Method, Response};
use futures::StreamExt;
use wire::llm::{
    ApiError, ChatChunk, ChatRequest, ChatResponse, ErrorBody, FinishReason, ModelList,
    TokenizeRequest, TokenizeResponse, Usage,
};

use crate::transport::{read_json, refusal, Payload};
use crate::{Caller, Client, ClientError};

/// `client.llm()`.
pub struct Llm<'a>(pub(crate) &'a Client);

impl Llm<'_> {
    /// A whole answer.
    pub async fn chat(
        &self,
        caller: &Caller,
        token: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ClientError> {
        read_json(self.completion(caller, token, request, false).await?).await
    }

    /// An answer as it is written. A refusal before the first piece is an
    /// `Err`; a failure midway is a [`ChatEvent::Failed`].
    pub async fn chat_stream(
        &self,
        caller: &Caller,
        token: &str,
        request: &ChatRequest,
    ) -> Result<ChatStream, ClientError> {
        let res = self.completion(caller, token, request, true).await?;
        if !res.status().is_success() {
            return Err(refusal(res).await);
        }
        Ok(ChatStream::new(res))
    }

    /// The models served, with their context length where the server says it.
    pub async fn models(&self, caller: &Caller, token: &str) -> Result<ModelList, ClientError> {
        let res = self
            .0
            .send(
                caller,
                Method::GET,
                "/v1/models",
                Some(token),
                Payload::Empty,
            )
            .await?;
        read_json(res).await
    }

    /// `text` in the model's tokens, without the special ones.
    pub async fn tokenize(
        &self,
        caller: &Caller,
        token: &str,
        text: &str,
    ) -> Result<Vec<i32>, ClientError> {
        let body = Payload::json(&TokenizeRequest {
            content: text.to_owned(),
            add_special: false,
        });
        let res = self
            .0
            .send(caller, Method::POST, "/v1/tokenize", Some(token), body)
            .await?;
        Ok(read_json::<TokenizeResponse>(res).await?.tokens)
    }

    async fn completion(
        &self,
        caller: &Caller,
        token: &str,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<Response<Body>, ClientError> {
        let mut request = request.clone();
        request.sampling.stream = stream;
        let body = Payload::json(&request);
        let path = "/v1/chat/completions";
        self.0
            .send(caller, Method::POST, path, Some(token), body)
            .await
    }
}

/// One event of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// The next piece of text.
    Piece(String),
    /// The answer is complete (`finish` says whether it was cut at
    /// `max_tokens`).
    Done {
        finish: Option<FinishReason>,
        usage: Option<Usage>,
    },
    /// The answer stopped midway: the model failed, or the stream was cut
    /// off before its end. What came before is not the whole answer.
    Failed(ApiError),
}

/// The events of a streamed chat completion.
pub struct ChatStream {
    events: crate::sse::Events,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    ended: bool,
}

fn failure(message: String) -> ChatEvent {
    ChatEvent::Failed(ApiError {
        message,
        kind: "server_error".into(),
        param: None,
        code: None,
        limit: None,
    })
}

impl ChatStream {
    /// The events of an answer's server-sent event stream.
    pub fn new(res: Response<Body>) -> Self {
        Self {
            events: crate::sse::events(res),
            finish: None,
            usage: None,
            ended: false,
        }
    }

    /// The next event; `None` after the last.
    pub async fn next(&mut self) -> Option<ChatEvent> {
        if self.ended {
            return None;
        }
        loop {
            let event = match self.events.next().await {
                Some(Ok(event)) => event,
                Some(Err(e)) => {
                    self.ended = true;
                    return Some(failure(format!("the answer broke off: {e}")));
                }
                None => {
                    self.ended = true;
                    return Some(failure("the answer was cut off before its end".into()));
                }
            };
            let data = event.data.trim();
            if data == "[DONE]" {
                self.ended = true;
                return Some(ChatEvent::Done {
                    finish: self.finish,
                    usage: self.usage,
                });
            }
            if let Ok(body) = serde_json::from_str::<ErrorBody>(data) {
                self.ended = true;
                return Some(ChatEvent::Failed(body.error));
            }
            let chunk: ChatChunk = match serde_json::from_str(data) {
                Ok(chunk) => chunk,
                Err(e) => {
                    self.ended = true;
                    return Some(failure(format!("an event of the answer is not valid: {e}")));
                }
            };
            if chunk.usage.is_some() {
                self.usage = chunk.usage;
            }
            let mut piece = String::new();
            for choice in chunk.choices {
                if let Some(finish) = choice.finish_reason {
                    self.finish = Some(finish);
                }
                piece.extend(choice.delta.content);
            }
            if !piece.is_empty() {
                return Some(ChatEvent::Piece(piece));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(body: impl Into<String>) -> ChatStream {
        ChatStream::new(Response::new(Body::from(body.into())))
    }

    async fn all(mut s: ChatStream) -> Vec<ChatEvent> {
        let mut out = Vec::new();
        while let Some(e) = s.next().await {
            out.push(e);
        }
        out
    }

    const HELLO: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Bon\"},\"finish_reason\":null}]}\r\n\r\n\
data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n";

    #[tokio::test]
    async fn pieces_then_the_end() {
        let events = all(stream(format!("{HELLO}data: [DONE]\n\n"))).await;
        assert_eq!(
            events,
            vec![
                ChatEvent::Piece("Bon".into()),
                ChatEvent::Done {
                    finish: Some(FinishReason::Length),
                    usage: None
                }
            ]
        );
    }

    #[tokio::test]
    async fn a_stream_without_its_end_is_a_failure() {
        let events = all(stream(HELLO)).await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(&events[1], ChatEvent::Failed(e) if e.message.contains("cut off")));
    }

    #[tokio::test]
    async fn an_error_event_midway_is_a_failure() {
        let failed = r#"data: {"error":{"message":"the engine failed on this request","type":"server_error","param":null,"code":null}}"#;
        let events = all(stream(format!("{HELLO}{failed}\n\ndata: [DONE]\n\n"))).await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(
            matches!(&events[1], ChatEvent::Failed(e) if e.message == "the engine failed on this request")
        );
    }
}
