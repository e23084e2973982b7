//! Console sessions: a random id in a cookie, the state on the server. Every
//! visitor gets one (it carries the CSRF token of the forms); signing in
//! replaces it with a new id. Idle and absolute timeouts end it.
//!
//! Sessions live in this process's memory: a restart signs everyone out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The signed-in part of a session: the user's own tokens, so that pages
/// call the services with the user's rights and nothing more.
#[derive(Clone)]
pub struct SignedIn {
    pub user_id: String,
    pub username: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// One message of the console's assistant conversation.
#[derive(Clone, serde::Serialize)]
pub struct ChatTurn {
    pub role: &'static str,
    pub content: String,
}

/// Turns kept per session; older ones are dropped first.
pub const CHAT_TURNS: usize = 20;

#[derive(Clone)]
pub struct Session {
    pub id: String,
    pub csrf: String,
    pub user: Option<SignedIn>,
    /// The assistant conversation, newest last.
    pub chat: Vec<ChatTurn>,
    created: Instant,
    last_seen: Instant,
}

#[derive(Clone)]
pub struct SessionStore {
    inner: Arc<Mutex<HashMap<String, Session>>>,
    idle: Duration,
    absolute: Duration,
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

impl SessionStore {
    pub fn new(idle: Duration, absolute: Duration) -> Self {
        Self {
            inner: Arc::default(),
            idle,
            absolute,
        }
    }

    fn live(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.last_seen) < self.idle && now.duration_since(s.created) < self.absolute
    }

    /// The live session with this id, touched; `None` when unknown or expired.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.inner.lock().expect("session lock");
        let live = map.get(id).is_some_and(|s| self.live(s, now));
        if !live {
            map.remove(id);
            return None;
        }
        let s = map.get_mut(id)?;
        s.last_seen = now;
        Some(s.clone())
    }

    /// A new anonymous session.
    pub fn create(&self) -> Session {
        let now = Instant::now();
        let session = Session {
            id: random_token(),
            csrf: random_token(),
            user: None,
            chat: Vec::new(),
            created: now,
            last_seen: now,
        };
        let mut map = self.inner.lock().expect("session lock");
        if map.len() > 10_000 {
            map.retain(|_, s| self.live(s, now));
        }
        map.insert(session.id.clone(), session.clone());
        session
    }

    /// Replace `old` with a new session (new id, new CSRF token) for `user`.
    pub fn sign_in(&self, old: Option<&str>, user: SignedIn) -> Session {
        if let Some(old) = old {
            self.remove(old);
        }
        let mut session = self.create();
        session.user = Some(user);
        self.inner
            .lock()
            .expect("session lock")
            .insert(session.id.clone(), session.clone());
        session
    }

    /// New tokens for a signed-in session (after a refresh).
    pub fn update_tokens(&self, id: &str, access_token: &str, refresh_token: &str) {
        let mut map = self.inner.lock().expect("session lock");
        if let Some(user) = map.get_mut(id).and_then(|s| s.user.as_mut()) {
            user.access_token = access_token.to_owned();
            user.refresh_token = refresh_token.to_owned();
        }
    }

    /// Adds turns to the session's conversation, keeping the last
    /// [`CHAT_TURNS`].
    pub fn push_chat(&self, id: &str, turns: impl IntoIterator<Item = ChatTurn>) {
        let mut map = self.inner.lock().expect("session lock");
        if let Some(s) = map.get_mut(id) {
            s.chat.extend(turns);
            let extra = s.chat.len().saturating_sub(CHAT_TURNS);
            s.chat.drain(..extra);
        }
    }

    /// A question and its answer, appended to the conversation.
    pub fn push_exchange(&self, id: &str, question: String, answer: String) {
        self.push_chat(
            id,
            [
                ChatTurn {
                    role: "user",
                    content: question,
                },
                ChatTurn {
                    role: "assistant",
                    content: answer,
                },
            ],
        );
    }

    pub fn clear_chat(&self, id: &str) {
        if let Some(s) = self.inner.lock().expect("session lock").get_mut(id) {
            s.chat.clear();
        }
    }

    pub fn remove(&self, id: &str) {
        self.inner.lock().expect("session lock").remove(id);
    }
}

/// Constant-time comparison of CSRF tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
