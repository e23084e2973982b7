//! `/settings`: create, list and revoke API keys. The console acts with the
//! signed-in user's own access token, verified like any API request and
//! refreshed with the user's refresh token when it has expired.

use std::collections::HashMap;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kit::token::Principal;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::i18n;
use crate::pages::{checked, redirect, refused, render, visitor, CsrfForm, Visitor};
use crate::session::Session;
use crate::WebState;

/// The user behind a session, by their access token; refreshed once when it
/// has expired. `None`: the session is over (sign in again).
pub(crate) async fn principal(
    state: &WebState,
    ctx: &auth::Context,
    session: &Session,
) -> Option<Principal> {
    Some(credentials(state, ctx, session).await?.0)
}

/// The user and a valid access token of theirs, to call other services with.
pub(crate) async fn credentials(
    state: &WebState,
    ctx: &auth::Context,
    session: &Session,
) -> Option<(Principal, String)> {
    let user = session.user.as_ref()?;
    if let Ok(p) = state.verifier.verify(&user.access_token).await {
        return Some((p, user.access_token.clone()));
    }
    let fresh = state.auth.refresh(ctx, &user.refresh_token).await.ok()?;
    state
        .sessions
        .update_tokens(&session.id, &fresh.access_token, &fresh.refresh_token);
    let p = state.verifier.verify(&fresh.access_token).await.ok()?;
    Some((p, fresh.access_token))
}

fn day(unix: i64) -> String {
    // YYYY-MM-DD from Unix seconds (proleptic Gregorian, UTC).
    let days = unix.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

async fn show(
    state: &WebState,
    v: &Visitor,
    who: &Principal,
    status: StatusCode,
    extra: Value,
) -> Response {
    let keys = state.auth.api_keys(who).await.unwrap_or_default();
    let never = i18n::t(v.lang, "settings.never");
    let keys: Vec<Value> = keys
        .into_iter()
        .map(|k| {
            json!({
                "id": k.id, "name": k.name, "prefix": k.prefix,
                "created": day(k.created_at),
                "expires": k.expires_at.map(day).unwrap_or_else(|| never.clone()),
                "revoked": k.revoked_at.is_some(),
            })
        })
        .collect();
    let mut ctx =
        json!({ "keys": keys, "base": state.public_url, "name": "", "days": "", "errors": {} });
    if let (Value::Object(base), Value::Object(more)) = (&mut ctx, extra) {
        base.extend(more);
    }
    (status, render(state, v, "settings.html", "/settings", ctx)).into_response()
}

/// The visitor and the user a form post acts for, once its CSRF token and
/// the session's tokens check out; otherwise the page to answer with.
async fn acting(
    state: &WebState,
    ctx: &auth::Context,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(Visitor, Principal), Response> {
    let v = visitor(state, headers);
    let Some(session) = checked(&v, csrf).cloned() else {
        return Err(refused(state, &v, "/settings"));
    };
    match principal(state, ctx, &session).await {
        Some(who) => Ok((v, who)),
        None => Err(redirect("/login?next=%2Fsettings")),
    }
}

pub(crate) async fn page(
    State(state): State<WebState>,
    ctx: auth::Context,
    headers: HeaderMap,
) -> Response {
    let v = visitor(&state, &headers);
    let Some(session) = v.session.clone() else {
        return redirect("/login?next=%2Fsettings");
    };
    let Some(who) = principal(&state, &ctx, &session).await else {
        return redirect("/login?next=%2Fsettings");
    };
    show(&state, &v, &who, StatusCode::OK, json!({})).await
}

#[derive(Deserialize)]
pub(crate) struct NewKey {
    #[serde(default)]
    name: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn create(
    State(state): State<WebState>,
    ctx: auth::Context,
    headers: HeaderMap,
    Form(form): Form<NewKey>,
) -> Response {
    let (v, who) = match acting(&state, &ctx, &headers, &form.csrf).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let mut errors: HashMap<String, String> = HashMap::new();
    let days = form.days.trim();
    let expires_at = if days.is_empty() {
        None
    } else {
        match days.parse::<i64>() {
            Ok(d) if (1..=3650).contains(&d) => Some(kit::unix_now() + d * 86_400),
            _ => {
                errors.insert("days".into(), i18n::t(v.lang, "settings.bad_days"));
                None
            }
        }
    };
    let kept = json!({ "name": form.name, "days": form.days });
    if errors.is_empty() {
        match state
            .auth
            .create_api_key(&ctx, &who, &form.name, expires_at)
            .await
        {
            Ok((_, secret)) => {
                return show(
                    &state,
                    &v,
                    &who,
                    StatusCode::CREATED,
                    json!({ "secret": secret }),
                )
                .await
            }
            Err(auth::AuthError::Validation(list)) => {
                errors.extend(list.into_iter().map(|e| (e.field, e.message)));
            }
            Err(e) => {
                tracing::error!(error = %e, "console could not create an API key");
                let extra = json!({ "error": i18n::t(v.lang, "error.busy") });
                return show(&state, &v, &who, StatusCode::SERVICE_UNAVAILABLE, extra).await;
            }
        }
    }
    let mut extra = kept;
    extra["errors"] = json!(errors);
    show(&state, &v, &who, StatusCode::UNPROCESSABLE_ENTITY, extra).await
}

pub(crate) async fn revoke(
    State(state): State<WebState>,
    ctx: auth::Context,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (_, who) = match acting(&state, &ctx, &headers, &form.csrf).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    // A key that is not the user's is "not found" for the API and simply
    // absent here: the page is shown again either way.
    let _ = state.auth.revoke_api_key(&ctx, &who, &id).await;
    redirect("/settings")
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_days() {
        assert_eq!(super::day(0), "1970-01-01");
        assert_eq!(super::day(951_782_400), "2000-02-29");
        assert_eq!(super::day(1_795_478_400), "2026-11-24");
    }
}
