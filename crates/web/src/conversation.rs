//! The assistant page's conversation, per user: the last turns only.
//!
//! Kept in this process's memory, so a restart (or another replica) starts
//! it over; sessions themselves survive both (see `session`). Conversations
//! move to the service that owns them with the library's asking API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One message of the conversation.
#[derive(Clone, serde::Serialize)]
pub struct ChatTurn {
    pub role: &'static str,
    pub content: String,
}

/// Turns kept per user; older ones are dropped first.
pub const CHAT_TURNS: usize = 20;
/// Users whose conversation is kept; the least recent is dropped first.
const MAX_USERS: usize = 10_000;

#[derive(Clone)]
pub struct Conversations {
    inner: Arc<Mutex<HashMap<String, Conversation>>>,
    ttl: Duration,
}

struct Conversation {
    turns: Vec<ChatTurn>,
    at: Instant,
}

impl Conversations {
    /// Conversations untouched for `ttl` are forgotten.
    pub fn new(ttl: Duration) -> Self {
        Self {
            inner: Arc::default(),
            ttl,
        }
    }

    pub fn get(&self, user: &str) -> Vec<ChatTurn> {
        let map = self.inner.lock().expect("conversations lock");
        map.get(user)
            .filter(|c| c.at.elapsed() < self.ttl)
            .map(|c| c.turns.clone())
            .unwrap_or_default()
    }

    /// A question and its answer, appended; the last [`CHAT_TURNS`] kept.
    pub fn push_exchange(&self, user: &str, question: String, answer: String) {
        let mut map = self.inner.lock().expect("conversations lock");
        if map.len() >= MAX_USERS && !map.contains_key(user) {
            map.retain(|_, c| c.at.elapsed() < self.ttl);
            if map.len() >= MAX_USERS {
                if let Some(oldest) = map.iter().min_by_key(|(_, c)| c.at).map(|(k, _)| k.clone()) {
                    map.remove(&oldest);
                }
            }
        }
        let c = map.entry(user.to_owned()).or_insert_with(|| Conversation {
            turns: Vec::new(),
            at: Instant::now(),
        });
        if c.at.elapsed() >= self.ttl {
            c.turns.clear();
        }
        c.at = Instant::now();
        c.turns.push(ChatTurn {
            role: "user",
            content: question,
        });
        c.turns.push(ChatTurn {
            role: "assistant",
            content: answer,
        });
        let extra = c.turns.len().saturating_sub(CHAT_TURNS);
        c.turns.drain(..extra);
    }

    pub fn clear(&self, user: &str) {
        self.inner.lock().expect("conversations lock").remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_turns_are_kept_per_user() {
        let c = Conversations::new(Duration::from_secs(60));
        for i in 0..15 {
            c.push_exchange("ada", format!("q{i}"), format!("a{i}"));
        }
        c.push_exchange("grace", "hello".into(), "hi".into());
        let ada = c.get("ada");
        assert_eq!(ada.len(), CHAT_TURNS);
        assert_eq!(ada[0].content, "q5");
        assert_eq!(c.get("grace").len(), 2);
        c.clear("ada");
        assert!(c.get("ada").is_empty());
        assert_eq!(c.get("grace").len(), 2);
    }
}
