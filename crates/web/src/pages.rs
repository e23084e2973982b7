//! The pages and their forms.

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::header::{
    ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::i18n::{self, Lang};
use crate::next::local_path;
use crate::session::{same_token, Session, SignedIn};
use crate::WebState;

pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/login", get(login_page).post(login))
        .route("/register", get(register_page).post(register))
        .route("/home", get(home))
        .route("/logout", get(logout_page).post(logout))
        .route("/lang/{code}", get(switch_lang))
        .route("/settings", get(crate::settings::page))
        .route("/chat", get(crate::chat::page).post(crate::chat::send))
        .route("/chat/clear", post(crate::chat::clear))
        .route("/chat/stream", post(crate::stream::stream))
        .route(
            "/ocr",
            get(crate::ocr::page).post(crate::ocr::upload).layer(
                axum::extract::DefaultBodyLimit::max(crate::ocr::MAX_UPLOAD_BYTES),
            ),
        )
        .route("/ocr/{id}", get(crate::ocr::job))
        .route("/ocr/{id}/source", get(crate::ocr::source))
        .route("/ocr/{id}/download/{format}", get(crate::ocr::download))
        .route("/ocr/{id}/ask", post(crate::ocr::ask))
        .route("/static/chat.js", get(chat_js))
        .route(
            "/settings/keys",
            axum::routing::post(crate::settings::create),
        )
        .route(
            "/settings/keys/{id}/revoke",
            axum::routing::post(crate::settings::revoke),
        )
        .route("/static/app.css", get(css))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A handler may set a stricter policy (downloads do).
    h.entry("content-security-policy")
        .or_insert(HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

async fn css() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/app.css"),
    )
        .into_response()
}

async fn chat_js() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/chat.js"),
    )
        .into_response()
}

fn cookie_name(state: &WebState) -> &'static str {
    if state.secure_cookies {
        "__Host-session"
    } else {
        "session"
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn session_cookie(state: &WebState, id: &str) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Lax{secure}",
        cookie_name(state)
    ))
    .expect("session ids are cookie-safe")
}

fn clear_cookie(state: &WebState) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        cookie_name(state)
    ))
    .expect("static cookie")
}

/// Who is visiting: their session (if any) and language.
pub(crate) struct Visitor {
    pub(crate) session: Option<Session>,
    pub(crate) lang: Lang,
}

pub(crate) fn visitor(state: &WebState, headers: &HeaderMap) -> Visitor {
    let session = cookie(headers, cookie_name(state)).and_then(|id| state.sessions.get(id));
    let lang = cookie(headers, "lang")
        .and_then(Lang::parse)
        .unwrap_or_else(|| {
            Lang::negotiate(headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
        });
    Visitor { session, lang }
}

/// The visitor's session, or a new one with the cookie that names it.
fn ensure_session(state: &WebState, v: &mut Visitor) -> Option<HeaderValue> {
    if v.session.is_some() {
        return None;
    }
    let s = state.sessions.create();
    let cookie = session_cookie(state, &s.id);
    v.session = Some(s);
    Some(cookie)
}

pub(crate) fn render(
    state: &WebState,
    v: &Visitor,
    template: &str,
    path: &str,
    mut ctx: Value,
) -> Html<String> {
    let other = if v.lang == Lang::Fr {
        Lang::En
    } else {
        Lang::Fr
    };
    if let Value::Object(map) = &mut ctx {
        map.insert("t".into(), json!(i18n::all(v.lang)));
        map.insert("lang".into(), json!(v.lang.code()));
        map.insert("other_lang".into(), json!(other.code()));
        map.insert("path".into(), json!(path));
        if let Some(s) = &v.session {
            map.entry("csrf").or_insert(json!(s.csrf));
            if let Some(u) = &s.user {
                map.insert("user".into(), json!(u.username));
            }
        }
    }
    let html = state
        .templates
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, template, "template failed");
            "<!doctype html><title>Error</title><p>Something went wrong.</p>".to_owned()
        });
    Html(html)
}

/// A 303 to `to`; to `/` if `to` is not a valid header value, so that a
/// redirect always says where to go.
pub(crate) fn redirect(to: &str) -> Response {
    let location = HeaderValue::from_str(to).unwrap_or_else(|_| {
        tracing::warn!(to, "not a valid Location; redirecting to /");
        HeaderValue::from_static("/")
    });
    (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response()
}

pub(crate) fn with_cookie(mut res: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        res.headers_mut().append(SET_COOKIE, c);
    }
    res
}

pub(crate) fn refused(state: &WebState, v: &Visitor, path: &str) -> Response {
    let body = json!({
        "title": i18n::t(v.lang, "csrf.title"),
        "body": i18n::t(v.lang, "csrf.body"),
        "back": path,
        "back_label": i18n::t(v.lang, "login.title"),
    });
    (
        StatusCode::FORBIDDEN,
        render(state, v, "message.html", path, body),
    )
        .into_response()
}

/// The session of a form post, if its CSRF token matches.
pub(crate) fn checked<'a>(v: &'a Visitor, token: &str) -> Option<&'a Session> {
    v.session.as_ref().filter(|s| same_token(&s.csrf, token))
}

async fn root(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = visitor(&state, &headers);
    if v.session.as_ref().is_some_and(|s| s.user.is_some()) {
        redirect("/home")
    } else {
        redirect("/login")
    }
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
    registered: Option<String>,
}

async fn login_page(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let mut v = visitor(&state, &headers);
    if v.session.as_ref().is_some_and(|s| s.user.is_some()) {
        return redirect(&local_path(q.next.as_deref()));
    }
    let cookie = ensure_session(&state, &mut v);
    let notice = q.registered.map(|_| i18n::t(v.lang, "login.registered"));
    let page = render(
        &state,
        &v,
        "login.html",
        "/login",
        json!({ "next": local_path(q.next.as_deref()), "notice": notice, "username": "" }),
    );
    with_cookie(page.into_response(), cookie)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

async fn login(
    State(state): State<WebState>,
    ctx: auth::Context,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let v = visitor(&state, &headers);
    let Some(session) = checked(&v, &form.csrf) else {
        return refused(&state, &v, "/login");
    };
    let old = session.id.clone();
    let next = local_path(form.next.as_deref());
    let again = |status: StatusCode, error: String| {
        let ctx = json!({ "next": next, "error": error, "username": form.username });
        (status, render(&state, &v, "login.html", "/login", ctx)).into_response()
    };
    match state.auth.login(&ctx, &form.username, &form.password).await {
        Ok(s) => {
            let user = SignedIn {
                user_id: s.user_id,
                username: s.username,
                access_token: s.access_token,
                refresh_token: s.refresh_token,
            };
            let new = state.sessions.sign_in(Some(&old), user);
            with_cookie(redirect(&next), Some(session_cookie(&state, &new.id)))
        }
        Err(auth::AuthError::TooManyAttempts { retry_after }) => again(
            StatusCode::TOO_MANY_REQUESTS,
            i18n::t(v.lang, "login.locked").replace("{wait}", &retry_after.to_string()),
        ),
        Err(auth::AuthError::InvalidCredentials | auth::AuthError::Disabled) => {
            again(StatusCode::UNAUTHORIZED, i18n::t(v.lang, "login.invalid"))
        }
        Err(e) => {
            tracing::error!(error = %e, "console login failed");
            again(
                StatusCode::SERVICE_UNAVAILABLE,
                i18n::t(v.lang, "error.busy"),
            )
        }
    }
}

async fn register_page(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let mut v = visitor(&state, &headers);
    let cookie = ensure_session(&state, &mut v);
    let page = render(
        &state,
        &v,
        "register.html",
        "/register",
        json!({ "username": "", "errors": {} }),
    );
    with_cookie(page.into_response(), cookie)
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn register(
    State(state): State<WebState>,
    ctx: auth::Context,
    headers: HeaderMap,
    Form(form): Form<RegisterForm>,
) -> Response {
    let v = visitor(&state, &headers);
    if checked(&v, &form.csrf).is_none() {
        return refused(&state, &v, "/register");
    }
    let again = |status: StatusCode, errors: HashMap<String, String>, error: Option<String>| {
        let ctx = json!({ "username": form.username, "errors": errors, "error": error });
        (
            status,
            render(&state, &v, "register.html", "/register", ctx),
        )
            .into_response()
    };
    match state
        .auth
        .register(&ctx, &form.username, &form.password)
        .await
    {
        Ok(_) => redirect("/login?registered=1"),
        Err(auth::AuthError::Validation(errors)) => {
            let errors = errors.into_iter().map(|e| (e.field, e.message)).collect();
            again(StatusCode::UNPROCESSABLE_ENTITY, errors, None)
        }
        Err(auth::AuthError::UsernameTaken) => {
            let errors =
                HashMap::from([("username".to_owned(), i18n::t(v.lang, "register.taken"))]);
            again(StatusCode::CONFLICT, errors, None)
        }
        Err(auth::AuthError::TooManyAttempts { retry_after }) => again(
            StatusCode::TOO_MANY_REQUESTS,
            HashMap::new(),
            Some(i18n::t(v.lang, "login.locked").replace("{wait}", &retry_after.to_string())),
        ),
        Err(e) => {
            tracing::error!(error = %e, "console registration failed");
            again(
                StatusCode::SERVICE_UNAVAILABLE,
                HashMap::new(),
                Some(i18n::t(v.lang, "error.busy")),
            )
        }
    }
}

async fn home(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = visitor(&state, &headers);
    let Some(user) = v.session.as_ref().and_then(|s| s.user.as_ref()) else {
        return redirect("/login?next=%2Fhome");
    };
    let hello = i18n::t(v.lang, "home.hello").replace("{name}", &user.username);
    render(&state, &v, "home.html", "/home", json!({ "hello": hello })).into_response()
}

async fn logout_page(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = visitor(&state, &headers);
    if v.session.as_ref().is_some_and(|s| s.user.is_some()) {
        // The sign-out button is in the header of every page.
        let body = json!({
            "title": i18n::t(v.lang, "logout.title"),
            "body": "",
            "back": "/home",
            "back_label": i18n::t(v.lang, "home.title"),
        });
        return render(&state, &v, "message.html", "/logout", body).into_response();
    }
    redirect("/login")
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

async fn logout(
    State(state): State<WebState>,
    ctx: auth::Context,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let v = visitor(&state, &headers);
    let Some(session) = checked(&v, &form.csrf) else {
        return refused(&state, &v, "/home");
    };
    if let Some(user) = &session.user {
        if let Err(e) = state.auth.logout(&ctx, &user.refresh_token).await {
            tracing::warn!(error = %e, "could not revoke the session's refresh tokens");
        }
    }
    state.sessions.remove(&session.id);
    with_cookie(redirect("/login"), Some(clear_cookie(&state)))
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn switch_lang(Path(code): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::En);
    let mut res = redirect(&local_path(q.next.as_deref()));
    let cookie = format!(
        "lang={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(SET_COOKIE, v);
    }
    res
}
