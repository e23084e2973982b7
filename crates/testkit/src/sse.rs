//! Server-sent events as a test reads them.

use futures::StreamExt;

/// The `data:` payloads of a server-sent event stream, as they arrive.
pub struct Sse {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl Sse {
    pub fn new(r: reqwest::Response) -> Self {
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Self {
            stream: r.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    pub async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                return Some(data.join("\n"));
            }
            let chunk = self.stream.next().await?.unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The JSON chunks of a whole stream, checked to end with `[DONE]`.
    pub async fn chunks(self) -> Vec<serde_json::Value> {
        let payloads = self.all().await;
        assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
        payloads[..payloads.len() - 1]
            .iter()
            .map(|p| serde_json::from_str(p).unwrap())
            .collect()
    }

    /// Every payload up to and including `[DONE]`.
    pub async fn all(mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(p) = self.next().await {
            let done = p == "[DONE]";
            out.push(p);
            if done {
                break;
            }
        }
        out
    }
}
