//! `/settings`: create, list and revoke API keys. The console acts with the
//! signed-in user's own access token, verified like any API request and
//! refreshed with the user's refresh token when it has expired.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use wire::auth::NewApiKey;

use crate::extract::{csrf_field, Checked, Member};
use crate::i18n;
use crate::pages::{redirect, render, CsrfForm};
use crate::WebState;

csrf_field!(NewKey);

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

async fn show(state: &WebState, m: &Member, status: StatusCode, extra: Value) -> Response {
    let keys = match state.client.auth().api_keys(&m.caller, &m.token).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(error = %e, "the console could not list the API keys");
            Vec::new()
        }
    };
    let never = i18n::t(m.v.lang, "settings.never");
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
    (
        status,
        render(state, &m.v, "settings.html", "/settings", ctx),
    )
        .into_response()
}

pub(crate) async fn page(State(state): State<WebState>, m: Member) -> Response {
    show(&state, &m, StatusCode::OK, json!({})).await
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
    m: Member,
    Checked(form): Checked<NewKey>,
) -> Response {
    let mut errors: HashMap<String, String> = HashMap::new();
    let days = form.days.trim();
    let expires_at = if days.is_empty() {
        None
    } else {
        match days.parse::<i64>() {
            Ok(d) if (1..=3650).contains(&d) => Some(kit::unix_now() + d * 86_400),
            _ => {
                errors.insert("days".into(), i18n::t(m.v.lang, "settings.bad_days"));
                None
            }
        }
    };
    let kept = json!({ "name": form.name, "days": form.days });
    if errors.is_empty() {
        let key = NewApiKey {
            name: form.name.clone(),
            expires_at,
        };
        let made = state
            .client
            .auth()
            .create_api_key(&m.caller, &m.token, &key)
            .await;
        match made {
            Ok(created) => {
                let extra = json!({ "secret": created.secret });
                return show(&state, &m, StatusCode::CREATED, extra).await;
            }
            Err(e) if e.status() == Some(StatusCode::UNPROCESSABLE_ENTITY) => {
                let fields = e.problem().map(|p| p.errors.clone()).unwrap_or_default();
                errors.extend(fields.into_iter().map(|f| (f.field, f.message)));
            }
            Err(e) => {
                tracing::error!(error = %e, "console could not create an API key");
                let extra = json!({ "error": i18n::t(m.v.lang, "error.busy") });
                return show(&state, &m, StatusCode::SERVICE_UNAVAILABLE, extra).await;
            }
        }
    }
    let mut extra = kept;
    extra["errors"] = json!(errors);
    show(&state, &m, StatusCode::UNPROCESSABLE_ENTITY, extra).await
}

pub(crate) async fn revoke(
    State(state): State<WebState>,
    m: Member,
    Path(id): Path<String>,
    Checked(_): Checked<CsrfForm>,
) -> Response {
    // A key that is not the user's is "not found" for the API and simply
    // absent here: the page is shown again either way.
    let revoked = state
        .client
        .auth()
        .revoke_api_key(&m.caller, &m.token, &id)
        .await;
    if let Err(e) = revoked {
        tracing::debug!(error = %e, "no key revoked");
    }
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
