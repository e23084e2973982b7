//! Console sessions, held by the browser. A session's state (the CSRF token
//! of its forms and, once signed in, the user's own tokens) is sealed in one
//! cookie with AES-256-GCM (the `cookie` crate's private cookies) under the
//! console's key: every replica holding the key reads every session, a
//! restart signs nobody out, and the console keeps no session table. The
//! idle and absolute timeouts are checked from times sealed inside.
//!
//! Signing out revokes the session's refresh tokens at auth and clears the
//! cookie; a copy of the cookie taken before then holds an access token
//! that stays valid until it expires (minutes), and nothing more.
//!
//! The [`layer`] middleware opens the cookie of each request into a
//! [`SessionSlot`]; handlers change the slot, and the middleware seals it
//! into the response when it changed, or when the idle clock should restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cookie::{Cookie, CookieJar, Key};
use serde::{Deserialize, Serialize};

/// The shortest master key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// A session seen again is sealed anew (its idle clock restarted) at most
/// this often, so that most responses carry no cookie.
const TOUCH_SECS: i64 = 60;

/// The signed-in part of a session: the user's own tokens, so that pages
/// call the services with the user's rights and nothing more.
#[derive(Clone, Serialize, Deserialize)]
pub struct SignedIn {
    pub user_id: String,
    pub username: String,
    pub access_token: String,
    pub refresh_token: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    pub csrf: String,
    pub user: Option<SignedIn>,
    /// Unix seconds.
    created: i64,
    seen: i64,
}

/// Opens and seals sessions.
#[derive(Clone)]
pub struct Sessions {
    key: Key,
    idle: i64,
    absolute: i64,
    secure: bool,
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The value of the request's cookie `name`.
pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Sessions {
    /// `master` is the console's key (at least [`MIN_KEY_BYTES`]); the
    /// cookie key is derived from it with HKDF.
    pub fn new(master: &[u8], idle: Duration, absolute: Duration, secure: bool) -> Self {
        assert!(
            master.len() >= MIN_KEY_BYTES,
            "the session key is too short"
        );
        Self {
            key: Key::derive_from(master),
            idle: idle.as_secs() as i64,
            absolute: absolute.as_secs() as i64,
            secure,
        }
    }

    fn name(&self) -> &'static str {
        if self.secure {
            "__Host-session"
        } else {
            "session"
        }
    }

    /// The live session of a request's cookie; `None` when there is none,
    /// it was not sealed with this key, or it has expired.
    pub fn open(&self, headers: &HeaderMap) -> Option<Session> {
        let raw = cookie_value(headers, self.name())?;
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(self.name(), raw.to_owned()));
        let plain = jar.private(&self.key).get(self.name())?;
        let session: Session = serde_json::from_str(plain.value()).ok()?;
        let now = kit::unix_now();
        let live = now - session.seen < self.idle && now - session.created < self.absolute;
        live.then_some(session)
    }

    /// A new anonymous session (it carries the CSRF token of the forms).
    pub fn anonymous(&self) -> Session {
        let now = kit::unix_now();
        Session {
            csrf: random_token(),
            user: None,
            created: now,
            seen: now,
        }
    }

    /// A new session for `user`, with a new CSRF token.
    pub fn signed_in(&self, user: SignedIn) -> Session {
        Session {
            user: Some(user),
            ..self.anonymous()
        }
    }

    /// The `Set-Cookie` value holding `session`, seen now.
    pub fn seal(&self, session: &Session) -> HeaderValue {
        let mut session = session.clone();
        session.seen = kit::unix_now();
        let plain = serde_json::to_string(&session).expect("a session serializes");
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(Cookie::new(self.name(), plain));
        let sealed = jar
            .get(self.name())
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={sealed}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.name()
        ))
        .expect("a sealed cookie is base64")
    }

    /// The `Set-Cookie` value that removes the session.
    pub fn cleared(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            self.name()
        ))
        .expect("static cookie")
    }

    fn stale(&self, session: &Session) -> bool {
        kit::unix_now() - session.seen >= TOUCH_SECS
    }
}

/// The session of the request being served, as its handler leaves it.
#[derive(Clone, Default)]
pub struct SessionSlot(Arc<Mutex<Slot>>);

#[derive(Default)]
struct Slot {
    session: Option<Session>,
    changed: bool,
}

impl SessionSlot {
    fn new(session: Option<Session>) -> Self {
        Self(Arc::new(Mutex::new(Slot {
            session,
            changed: false,
        })))
    }

    pub fn get(&self) -> Option<Session> {
        self.0.lock().expect("session slot").session.clone()
    }

    /// Replace the session (signing in, a new anonymous one).
    pub fn set(&self, session: Session) {
        let mut slot = self.0.lock().expect("session slot");
        slot.session = Some(session);
        slot.changed = true;
    }

    /// End the session (signing out).
    pub fn clear(&self) {
        let mut slot = self.0.lock().expect("session slot");
        slot.session = None;
        slot.changed = true;
    }

    /// New tokens for the signed-in user (after a refresh).
    pub fn update_tokens(&self, access_token: &str, refresh_token: &str) {
        let mut slot = self.0.lock().expect("session slot");
        if let Some(user) = slot.session.as_mut().and_then(|s| s.user.as_mut()) {
            user.access_token = access_token.to_owned();
            user.refresh_token = refresh_token.to_owned();
            slot.changed = true;
        }
    }
}

/// Opens the request's session into its [`SessionSlot`], and seals the slot
/// into the response.
pub async fn layer(State(sessions): State<Sessions>, mut req: Request, next: Next) -> Response {
    let slot = SessionSlot::new(sessions.open(req.headers()));
    req.extensions_mut().insert(slot.clone());
    let mut res = next.run(req).await;
    let cookie = {
        let slot = slot.0.lock().expect("session slot");
        match (&slot.session, slot.changed) {
            (Some(s), true) => Some(sessions.seal(s)),
            (Some(s), false) if sessions.stale(s) => Some(sessions.seal(s)),
            (None, true) => Some(sessions.cleared()),
            // No session, or a cookie that does not open (expired, or
            // sealed with another key): left as it is, replaced by the
            // next session.
            (None, false) | (Some(_), false) => None,
        }
    };
    if let Some(cookie) = cookie {
        res.headers_mut().append(SET_COOKIE, cookie);
    }
    res
}

/// Constant-time comparison of CSRF tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(key: &[u8]) -> Sessions {
        Sessions::new(
            key,
            Duration::from_secs(60),
            Duration::from_secs(3600),
            false,
        )
    }

    fn request_with(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(pair).unwrap());
        headers
    }

    fn ada() -> SignedIn {
        SignedIn {
            user_id: "u1".into(),
            username: "ada".into(),
            access_token: "access".into(),
            refresh_token: "refresh".into(),
        }
    }

    #[test]
    fn a_sealed_session_opens_with_the_same_key_only() {
        let one = sessions(&[7; 32]);
        let session = one.signed_in(ada());
        let headers = request_with(&one.seal(&session));
        let opened = one.open(&headers).expect("opens");
        assert_eq!(opened.csrf, session.csrf);
        assert_eq!(opened.user.unwrap().refresh_token, "refresh");
        // Another replica with the same key reads it; another key does not.
        assert!(sessions(&[7; 32]).open(&headers).is_some());
        assert!(sessions(&[8; 32]).open(&headers).is_none());
    }

    #[test]
    fn the_cookie_hides_the_tokens() {
        let one = sessions(&[7; 32]);
        let sealed = one.seal(&one.signed_in(ada()));
        let text = sealed.to_str().unwrap();
        assert!(!text.contains("refresh") && !text.contains("ada"), "{text}");
    }

    #[test]
    fn a_tampered_cookie_does_not_open() {
        let one = sessions(&[7; 32]);
        let sealed = one.seal(&one.anonymous());
        let text = sealed.to_str().unwrap().split(';').next().unwrap();
        let (name, value) = text.split_once('=').unwrap();
        let mut bytes = value.as_bytes().to_vec();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let forged = format!("{name}={}", String::from_utf8(bytes).unwrap());
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(&forged).unwrap());
        assert!(one.open(&headers).is_none());
    }

    #[test]
    fn an_idle_or_old_session_is_over() {
        let one = sessions(&[7; 32]);
        let mut idle = one.anonymous();
        idle.seen -= 61;
        // `seal` stamps `seen`: make the cookie by hand.
        let mut jar = CookieJar::new();
        jar.private_mut(&one.key).add(Cookie::new(
            one.name(),
            serde_json::to_string(&idle).unwrap(),
        ));
        let value = jar.get(one.name()).unwrap().value().to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("session={value}")).unwrap(),
        );
        assert!(one.open(&headers).is_none(), "idle");

        let mut old = one.anonymous();
        old.created -= 3601;
        let headers = request_with(&one.seal(&old));
        assert!(one.open(&headers).is_none(), "past the absolute timeout");
    }
}
