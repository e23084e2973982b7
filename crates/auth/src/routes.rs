//! HTTP handlers: thin translations between JSON and the service.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use axum::Router;
use kit::client_ip::{ClientIp, TrustedProxies};
use kit::problem::Json;
use kit::token::{JwkSet, Principal, TokenVerifier};
use kit::Problem;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};
use wire::auth::{
    ApiKey, CreatedApiKey, Credentials, IntrospectRequest, Introspection, NewApiKey,
    RefreshRequest, TokenResponse, User,
};
use wire::openapi::BearerAuth;

use crate::error::AuthError;
use crate::service::{Auth, Context};
use crate::sessions::Session;
use crate::store::{ApiKeyRow, UserRow};

#[derive(Clone)]
pub struct AuthState {
    pub auth: Auth,
    pub verifier: Arc<TokenVerifier>,
    pub proxies: TrustedProxies,
}

impl FromRef<AuthState> for Arc<TokenVerifier> {
    fn from_ref(s: &AuthState) -> Self {
        s.verifier.clone()
    }
}

impl FromRef<AuthState> for TrustedProxies {
    fn from_ref(s: &AuthState) -> Self {
        s.proxies.clone()
    }
}

impl<S> FromRequestParts<S> for Context
where
    TrustedProxies: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let request_id = parts
            .headers
            .get(kit::server::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Context { ip, request_id })
    }
}

/// The auth routes and their OpenAPI operations, from one list, including
/// the JWKS at its well-known path, but not introspection (see
/// [`introspection_api`]).
fn api() -> OpenApiRouter<AuthState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
        .routes(routes!(jwks))
        // The same keys under the service's own prefix, for a gateway that
        // routes `/auth/` alone: one document entry is enough.
        .route("/auth/.well-known/jwks.json", get(jwks))
}

/// Auth's OpenAPI document: the operations [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

pub fn router(state: AuthState) -> Router {
    api().with_state(state).into()
}

/// The edge's question (Envoy's HTTP `ext_authz`, the Istio components'
/// `scriptorium-auth` provider): may this request's bearer credential, an
/// access token or an API key, pass? Any method, at `/auth/check` followed
/// by the request's own path; 200 with no body, or the 401 problem a
/// service would give.
async fn check(_: Principal) -> StatusCode {
    StatusCode::OK
}

/// `/auth/introspect` and `/auth/check`, for services in other processes
/// and the mesh's edge. It answers without
/// authentication, so it is mounted only where such services need it, and
/// the gateway must not route it.
fn introspection_api() -> OpenApiRouter<AuthState> {
    OpenApiRouter::new()
        .routes(routes!(introspect))
        // Envoy's question on any method and path: no operation of its own.
        .route("/auth/check", any(check))
        .route("/auth/check/{*path}", any(check))
}

/// The OpenAPI operations of [`introspection_router`], documented where
/// it is mounted.
pub fn introspection_openapi() -> utoipa::openapi::OpenApi {
    introspection_api().into_openapi()
}

pub fn introspection_router(state: AuthState) -> Router {
    introspection_api().with_state(state).into()
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> Self {
        Self {
            id: u.id,
            username: u.username,
            created_at: u.created_at,
        }
    }
}

fn token_response(s: Session) -> TokenResponse {
    TokenResponse {
        access_token: s.access_token,
        token_type: "Bearer".into(),
        expires_in: s.expires_in,
        refresh_token: s.refresh_token,
        refresh_expires_in: s.refresh_expires_in,
    }
}

impl From<ApiKeyRow> for ApiKey {
    fn from(k: ApiKeyRow) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[utoipa::path(post, path = "/auth/register", request_body = Credentials, tag = "auth",
    responses((status = 201, body = User), (status = 409, description = "username taken"),
              (status = 422, description = "invalid username or password"),
              (status = 429, description = "too many registrations from this address")))]
async fn register(
    State(s): State<AuthState>,
    ctx: Context,
    Json(body): Json<Credentials>,
) -> Result<impl IntoResponse, AuthError> {
    let user = s
        .auth
        .register(&ctx, &body.username, &body.password)
        .await?;
    Ok((StatusCode::CREATED, Json(User::from(user))))
}

#[utoipa::path(post, path = "/auth/login", request_body = Credentials, tag = "auth",
    responses((status = 200, body = TokenResponse), (status = 401, description = "bad credentials"),
              (status = 429, description = "locked out; see Retry-After")))]
async fn login(
    State(s): State<AuthState>,
    ctx: Context,
    Json(body): Json<Credentials>,
) -> Result<impl IntoResponse, AuthError> {
    let session = s.auth.login(&ctx, &body.username, &body.password).await?;
    Ok(no_store(Json(token_response(session))))
}

#[utoipa::path(post, path = "/auth/refresh", request_body = RefreshRequest, tag = "auth",
    responses((status = 200, body = TokenResponse), (status = 401, description = "invalid, spent or revoked")))]
async fn refresh(
    State(s): State<AuthState>,
    ctx: Context,
    Json(body): Json<RefreshRequest>,
) -> Result<impl IntoResponse, AuthError> {
    let session = s.auth.refresh(&ctx, &body.refresh_token).await?;
    Ok(no_store(Json(token_response(session))))
}

#[utoipa::path(post, path = "/auth/logout", request_body = RefreshRequest, tag = "auth",
    responses((status = 204, description = "the refresh-token family is revoked")))]
async fn logout(
    State(s): State<AuthState>,
    ctx: Context,
    Json(body): Json<RefreshRequest>,
) -> Result<StatusCode, AuthError> {
    s.auth.logout(&ctx, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, description = "no valid token")))]
async fn me(State(s): State<AuthState>, principal: Principal) -> Result<Json<User>, AuthError> {
    let user = s.auth.user(&principal.user_id).await.map_err(|e| match e {
        AuthError::NotFound | AuthError::Disabled => AuthError::InvalidCredentials,
        other => other,
    })?;
    Ok(Json(user.into()))
}

#[utoipa::path(post, path = "/auth/api-keys", request_body = NewApiKey, tag = "api-keys",
    security(("bearer" = [])), responses((status = 201, body = CreatedApiKey)))]
async fn create_api_key(
    State(s): State<AuthState>,
    ctx: Context,
    principal: Principal,
    Json(body): Json<NewApiKey>,
) -> Result<impl IntoResponse, AuthError> {
    let (row, secret) = s
        .auth
        .create_api_key(&ctx, &principal, &body.name, body.expires_at)
        .await?;
    let body = CreatedApiKey {
        key: row.into(),
        secret,
    };
    Ok((StatusCode::CREATED, no_store(Json(body))))
}

#[utoipa::path(get, path = "/auth/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKey>)))]
async fn list_api_keys(
    State(s): State<AuthState>,
    principal: Principal,
) -> Result<Json<Vec<ApiKey>>, AuthError> {
    let keys = s.auth.api_keys(&principal).await?;
    Ok(Json(keys.into_iter().map(Into::into).collect()))
}

#[utoipa::path(delete, path = "/auth/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    responses((status = 204, description = "revoked"), (status = 404, description = "no such key of yours")))]
async fn revoke_api_key(
    State(s): State<AuthState>,
    ctx: Context,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AuthError> {
    s.auth.revoke_api_key(&ctx, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/auth/introspect", request_body = IntrospectRequest, tag = "internal",
    responses((status = 200, body = Introspection)))]
async fn introspect(
    State(s): State<AuthState>,
    Json(body): Json<IntrospectRequest>,
) -> Result<Json<Introspection>, AuthError> {
    Ok(Json(s.auth.introspect(&s.verifier, &body.token).await?))
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "the public signing keys (RFC 7517)")))]
async fn jwks(State(s): State<AuthState>) -> Result<impl IntoResponse, AuthError> {
    let set: JwkSet = s.auth.keys().jwks(kit::unix_now()).await?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=60")],
        axum::Json(set),
    ))
}

fn no_store<T: IntoResponse>(body: T) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], body)
}

#[derive(OpenApi)]
#[openapi(
    components(schemas(Credentials, User, TokenResponse, RefreshRequest, NewApiKey,
                        ApiKey, CreatedApiKey, IntrospectRequest, Introspection)),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Accounts, sessions and signing keys"),
         (name = "api-keys", description = "Keys for programs"),
         (name = "internal", description = "For services in other processes: served only where one runs apart (not with `--target all`), never routed by the gateway")),
)]
pub struct ApiDoc;
