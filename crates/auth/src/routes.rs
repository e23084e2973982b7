//! HTTP handlers: thin translations between JSON and the service.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::Router;
use kit::client_ip::{ClientIp, TrustedProxies};
use kit::problem::Json;
use kit::token::{JwkSet, Principal, TokenVerifier};
use kit::Problem;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::api_keys::Introspection;
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

/// The auth routes, including the JWKS at its well-known path, but not
/// introspection (see [`introspection_router`]).
pub fn router(state: AuthState) -> Router {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .route("/auth/api-keys", post(create_api_key).get(list_api_keys))
        .route("/auth/api-keys/{id}", delete(revoke_api_key))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/auth/.well-known/jwks.json", get(jwks))
        .with_state(state)
}

/// `/auth/introspect`, for services in other processes. It answers without
/// authentication, so it is mounted only where such services need it, and
/// the gateway must not route it.
pub fn introspection_router(state: AuthState) -> Router {
    Router::new()
        .route("/auth/introspect", post(introspect))
        .with_state(state)
}

#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub created_at: i64,
}

impl From<UserRow> for UserView {
    fn from(u: UserRow) -> Self {
        Self {
            id: u.id,
            username: u.username,
            created_at: u.created_at,
        }
    }
}

/// OAuth 2.0 token response fields.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
}

impl From<Session> for TokenResponse {
    fn from(s: Session) -> Self {
        Self {
            access_token: s.access_token,
            token_type: "Bearer",
            expires_in: s.expires_in,
            refresh_token: s.refresh_token,
            refresh_expires_in: s.refresh_expires_in,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Deserialize, ToSchema)]
pub struct NewApiKey {
    pub name: String,
    /// Unix seconds; absent for a key that does not expire.
    pub expires_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<ApiKeyRow> for ApiKeyView {
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

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The key itself. Shown once: only its digest is stored.
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
pub struct IntrospectRequest {
    pub token: String,
}

#[utoipa::path(post, path = "/auth/register", request_body = Credentials, tag = "auth",
    responses((status = 201, body = UserView), (status = 409, description = "username taken"),
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
    Ok((StatusCode::CREATED, Json(UserView::from(user))))
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
    Ok(no_store(Json(TokenResponse::from(session))))
}

#[utoipa::path(post, path = "/auth/refresh", request_body = RefreshRequest, tag = "auth",
    responses((status = 200, body = TokenResponse), (status = 401, description = "invalid, spent or revoked")))]
async fn refresh(
    State(s): State<AuthState>,
    ctx: Context,
    Json(body): Json<RefreshRequest>,
) -> Result<impl IntoResponse, AuthError> {
    let session = s.auth.refresh(&ctx, &body.refresh_token).await?;
    Ok(no_store(Json(TokenResponse::from(session))))
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
    responses((status = 200, body = UserView), (status = 401, description = "no valid token")))]
async fn me(State(s): State<AuthState>, principal: Principal) -> Result<Json<UserView>, AuthError> {
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
    responses((status = 200, body = Vec<ApiKeyView>)))]
async fn list_api_keys(
    State(s): State<AuthState>,
    principal: Principal,
) -> Result<Json<Vec<ApiKeyView>>, AuthError> {
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
    paths(register, login, refresh, logout, me, create_api_key, list_api_keys, revoke_api_key,
          introspect, jwks),
    components(schemas(Credentials, UserView, TokenResponse, RefreshRequest, NewApiKey,
                        ApiKeyView, CreatedApiKey, IntrospectRequest, Introspection)),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Accounts, sessions and signing keys"),
         (name = "api-keys", description = "Keys for programs"),
         (name = "internal", description = "For services in other processes: served only where one runs apart (not with `--target all`), never routed by the gateway")),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or sk- API key")
                    .build(),
            ),
        );
    }
}
