//! What a handler starts from, so that none repeats the checks: who is
//! visiting ([`Visitor`]), a signed-in user with a valid access token
//! ([`Member`], else a redirect to the sign-in page), and a posted form
//! whose CSRF token matches the session's ([`Checked`], else a 403 page).

use std::convert::Infallible;

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use client::Caller;
use serde::de::DeserializeOwned;

use crate::i18n::Lang;
use crate::pages::{redirect, refused};
use crate::session::{cookie_value, same_token, Session, SessionSlot, SignedIn};
use crate::WebState;

/// The visitor: their session (if any), their language, and the slot the
/// session middleware seals into the response.
pub(crate) struct Visitor {
    pub(crate) session: Option<Session>,
    pub(crate) lang: Lang,
    slot: SessionSlot,
}

fn lang(headers: &HeaderMap) -> Lang {
    cookie_value(headers, "lang")
        .and_then(Lang::parse)
        .unwrap_or_else(|| {
            Lang::negotiate(headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
        })
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let slot = parts
            .extensions
            .get::<SessionSlot>()
            .cloned()
            .unwrap_or_default();
        Ok(Self {
            session: slot.get(),
            lang: lang(&parts.headers),
            slot,
        })
    }
}

impl Visitor {
    pub(crate) fn user(&self) -> Option<&SignedIn> {
        self.session.as_ref().and_then(|s| s.user.as_ref())
    }

    /// Gives an anonymous visitor a session (for the CSRF token of a form).
    pub(crate) fn ensure(&mut self, state: &WebState) {
        if self.session.is_none() {
            let session = state.sessions.anonymous();
            self.slot.set(session.clone());
            self.session = Some(session);
        }
    }

    /// A new session (new CSRF token) for `user`.
    pub(crate) fn sign_in(&mut self, state: &WebState, user: SignedIn) {
        let session = state.sessions.signed_in(user);
        self.slot.set(session.clone());
        self.session = Some(session);
    }

    pub(crate) fn sign_out(&mut self) {
        self.slot.clear();
        self.session = None;
    }

    /// Whether `token` is this session's CSRF token.
    pub(crate) fn checks(&self, token: &str) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| same_token(&s.csrf, token))
    }

    /// The user and a valid access token of theirs, refreshed once (and
    /// kept in the session) when it has expired. `None`: signed out, or the
    /// session is over (sign in again).
    pub(crate) async fn credentials(
        &self,
        state: &WebState,
        caller: &Caller,
    ) -> Option<(SignedIn, String)> {
        let user = self.user()?;
        if state.verifier.verify(&user.access_token).await.is_ok() {
            return Some((user.clone(), user.access_token.clone()));
        }
        let fresh = match state
            .client
            .auth()
            .refresh(caller, &user.refresh_token)
            .await
        {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::info!(error = %e, "the console session could not be refreshed");
                return None;
            }
        };
        state.verifier.verify(&fresh.access_token).await.ok()?;
        self.slot
            .update_tokens(&fresh.access_token, &fresh.refresh_token);
        Some((user.clone(), fresh.access_token))
    }
}

/// Where a page sends a visitor who must sign in first: back to the page
/// itself for a GET, to the page of the form otherwise.
fn sign_in_first(parts: &Parts) -> Response {
    let back = if parts.method == Method::GET {
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into())
    } else {
        page_of(parts.uri.path())
    };
    let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    redirect(&format!("/login?next={next}"))
}

/// The page a form path belongs to: `/settings/keys/x/revoke` → `/settings`.
pub(crate) fn page_of(path: &str) -> String {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    format!("/{first}")
}

/// A signed-in visitor, the user's id and name, a valid access token of
/// theirs, and the address and request id to forward with each call.
pub(crate) struct Member {
    pub(crate) v: Visitor,
    pub(crate) user: SignedIn,
    pub(crate) token: String,
    pub(crate) caller: Caller,
}

impl FromRequestParts<WebState> for Member {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(v) = Visitor::from_request_parts(parts, state).await;
        let caller = Caller::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match v.credentials(state, &caller).await {
            Some((user, token)) => Ok(Self {
                v,
                user,
                token,
                caller,
            }),
            None => Err(sign_in_first(parts)),
        }
    }
}

impl Member {
    /// What the chat helpers take: who calls, in which language, with
    /// which token.
    pub(crate) fn who(&self) -> (&Caller, Lang, &str) {
        (&self.caller, self.v.lang, &self.token)
    }
}

/// A form that carries the CSRF token of its session.
pub(crate) trait CsrfToken {
    fn csrf(&self) -> &str;
}

/// `CsrfToken` for forms whose token is their `csrf` field.
macro_rules! csrf_field {
    ($($form:ty),+ $(,)?) => {
        $(impl $crate::extract::CsrfToken for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })+
    };
}
pub(crate) use csrf_field;

/// A posted form whose CSRF token is the session's.
pub(crate) struct Checked<F>(pub(crate) F);

impl<F> FromRequest<WebState> for Checked<F>
where
    F: DeserializeOwned + CsrfToken + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let Ok(v) = Visitor::from_request_parts(&mut parts, state).await;
        let back = page_of(parts.uri.path());
        let req = Request::from_parts(parts, body);
        match Form::<F>::from_request(req, state).await {
            Ok(Form(form)) if v.checks(form.csrf()) => Ok(Self(form)),
            _ => Err(refused(state, &v, &back)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_form_belongs_to_its_page() {
        assert_eq!(super::page_of("/settings/keys/k1/revoke"), "/settings");
        assert_eq!(super::page_of("/chat"), "/chat");
        assert_eq!(super::page_of("/"), "/");
    }
}
