//! The pages and their forms.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use client::{Caller, ClientError};
use serde::Deserialize;
use serde_json::{json, Value};
use wire::auth::Credentials;

use crate::extract::{csrf_field, Checked, Member, Visitor};
use crate::i18n::{self, Lang};
use crate::next::local_path;
use crate::session::SignedIn;
use crate::WebState;

csrf_field!(LoginForm, RegisterForm, CsrfForm);

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
        .route("/chat/stream", post(crate::chat::stream))
        .route("/library", get(crate::library::page))
        .route("/library/progress", get(crate::library::progress))
        .route("/library/{id}", get(crate::library::document))
        .route(
            "/library/upload",
            post(crate::library::upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::library::MAX_UPLOAD_BYTES,
            )),
        )
        .route("/library/{id}/delete", post(crate::library::delete))
        .route(
            "/library/{id}/download/{kind}",
            get(crate::library::download),
        )
        .route(
            "/library/{id}/pages/{number}/image",
            get(crate::library::page_image),
        )
        .route("/ask", get(crate::library::ask).post(crate::library::send))
        .route("/ask/stream", post(crate::library::stream))
        // The reading page of old: the library reads, keeps and shows.
        .route("/ocr", get(to_library))
        .route("/ocr/{*rest}", get(to_library))
        .route("/static/chat.js", get(chat_js))
        .route("/static/library.js", get(library_js))
        .route(
            "/settings/keys",
            axum::routing::post(crate::settings::create),
        )
        .route(
            "/settings/keys/{id}/revoke",
            axum::routing::post(crate::settings::revoke),
        )
        .route("/static/app.css", get(css))
        .layer(axum::middleware::from_fn_with_state(
            state.sessions.clone(),
            crate::session::layer,
        ))
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

async fn to_library() -> Response {
    (
        StatusCode::MOVED_PERMANENTLY,
        [(LOCATION, HeaderValue::from_static("/library"))],
    )
        .into_response()
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
    script(include_str!("../static/chat.js"))
}

async fn library_js() -> Response {
    script(include_str!("../static/library.js"))
}

fn script(body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
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

async fn root(v: Visitor) -> Response {
    if v.user().is_some() {
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
    mut v: Visitor,
    Query(q): Query<LoginQuery>,
) -> Response {
    if v.user().is_some() {
        return redirect(&local_path(q.next.as_deref()));
    }
    v.ensure(&state);
    let notice = q.registered.map(|_| i18n::t(v.lang, "login.registered"));
    let ctx = json!({ "next": local_path(q.next.as_deref()), "notice": notice, "username": "" });
    render(&state, &v, "login.html", "/login", ctx).into_response()
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
    caller: Caller,
    mut v: Visitor,
    Checked(form): Checked<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let again = |status: StatusCode, error: String| {
        let ctx = json!({ "next": next, "error": error, "username": form.username });
        (status, render(&state, &v, "login.html", "/login", ctx)).into_response()
    };
    let credentials = Credentials {
        username: form.username.clone(),
        password: form.password.clone(),
    };
    let signed_in = match state.client.auth().login(&caller, &credentials).await {
        Ok(tokens) => state
            .verifier
            .verify(&tokens.access_token)
            .await
            .map(|who| SignedIn {
                user_id: who.user_id,
                username: who.username,
                access_token: tokens.access_token,
                refresh_token: tokens.refresh_token,
            })
            .map_err(|e| ClientError::Unreachable(format!("the new access token: {e}"))),
        Err(e) => Err(e),
    };
    match signed_in {
        Ok(user) => {
            v.sign_in(&state, user);
            redirect(&next)
        }
        Err(e) if e.status() == Some(StatusCode::TOO_MANY_REQUESTS) => again(
            StatusCode::TOO_MANY_REQUESTS,
            i18n::t(v.lang, "login.locked")
                .replace("{wait}", &e.retry_after().unwrap_or(1).to_string()),
        ),
        Err(e)
            if matches!(
                e.status(),
                Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
            ) =>
        {
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

async fn register_page(State(state): State<WebState>, mut v: Visitor) -> Response {
    v.ensure(&state);
    let ctx = json!({ "username": "", "errors": {} });
    render(&state, &v, "register.html", "/register", ctx).into_response()
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
    caller: Caller,
    v: Visitor,
    Checked(form): Checked<RegisterForm>,
) -> Response {
    let again = |status: StatusCode, errors: HashMap<String, String>, error: Option<String>| {
        let ctx = json!({ "username": form.username, "errors": errors, "error": error });
        (
            status,
            render(&state, &v, "register.html", "/register", ctx),
        )
            .into_response()
    };
    let credentials = Credentials {
        username: form.username.clone(),
        password: form.password.clone(),
    };
    match state.client.auth().register(&caller, &credentials).await {
        Ok(_) => redirect("/login?registered=1"),
        Err(e) if e.status() == Some(StatusCode::UNPROCESSABLE_ENTITY) => {
            let errors = e
                .problem()
                .map(|p| p.errors.iter())
                .into_iter()
                .flatten()
                .map(|f| (f.field.clone(), f.message.clone()))
                .collect();
            again(StatusCode::UNPROCESSABLE_ENTITY, errors, None)
        }
        Err(e) if e.status() == Some(StatusCode::CONFLICT) => {
            let errors =
                HashMap::from([("username".to_owned(), i18n::t(v.lang, "register.taken"))]);
            again(StatusCode::CONFLICT, errors, None)
        }
        Err(e) if e.status() == Some(StatusCode::TOO_MANY_REQUESTS) => again(
            StatusCode::TOO_MANY_REQUESTS,
            HashMap::new(),
            Some(
                i18n::t(v.lang, "login.locked")
                    .replace("{wait}", &e.retry_after().unwrap_or(1).to_string()),
            ),
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

async fn home(State(state): State<WebState>, m: Member) -> Response {
    let hello = i18n::t(m.v.lang, "home.hello").replace("{name}", &m.user.username);
    render(
        &state,
        &m.v,
        "home.html",
        "/home",
        json!({ "hello": hello }),
    )
    .into_response()
}

async fn logout_page(State(state): State<WebState>, v: Visitor) -> Response {
    if v.user().is_some() {
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
    caller: Caller,
    mut v: Visitor,
    Checked(_): Checked<CsrfForm>,
) -> Response {
    if let Some(user) = v.user() {
        if let Err(e) = state
            .client
            .auth()
            .logout(&caller, &user.refresh_token)
            .await
        {
            tracing::warn!(error = %e, "could not revoke the session's refresh tokens");
        }
    }
    v.sign_out();
    redirect("/login")
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
