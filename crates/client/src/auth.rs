//! The auth API.

use axum::http::Method;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use wire::auth::{
    ApiKey, CreatedApiKey, Credentials, NewApiKey, RefreshRequest, TokenResponse, User,
};

use crate::transport::{no_content, read_json, Payload};
use crate::{Caller, Client, ClientError};

/// `client.auth()`.
pub struct Auth<'a>(pub(crate) &'a Client);

impl Auth<'_> {
    pub async fn register(
        &self,
        caller: &Caller,
        credentials: &Credentials,
    ) -> Result<User, ClientError> {
        let body = Payload::json(credentials);
        read_json(
            self.0
                .send(caller, Method::POST, "/auth/register", None, body)
                .await?,
        )
        .await
    }

    pub async fn login(
        &self,
        caller: &Caller,
        credentials: &Credentials,
    ) -> Result<TokenResponse, ClientError> {
        let body = Payload::json(credentials);
        read_json(
            self.0
                .send(caller, Method::POST, "/auth/login", None, body)
                .await?,
        )
        .await
    }

    pub async fn refresh(
        &self,
        caller: &Caller,
        refresh_token: &str,
    ) -> Result<TokenResponse, ClientError> {
        let body = Payload::json(&RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        });
        read_json(
            self.0
                .send(caller, Method::POST, "/auth/refresh", None, body)
                .await?,
        )
        .await
    }

    pub async fn logout(&self, caller: &Caller, refresh_token: &str) -> Result<(), ClientError> {
        let body = Payload::json(&RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        });
        no_content(
            self.0
                .send(caller, Method::POST, "/auth/logout", None, body)
                .await?,
        )
        .await
    }

    pub async fn me(&self, caller: &Caller, token: &str) -> Result<User, ClientError> {
        read_json(
            self.0
                .send(caller, Method::GET, "/auth/me", Some(token), Payload::Empty)
                .await?,
        )
        .await
    }

    pub async fn api_keys(&self, caller: &Caller, token: &str) -> Result<Vec<ApiKey>, ClientError> {
        read_json(
            self.0
                .send(
                    caller,
                    Method::GET,
                    "/auth/api-keys",
                    Some(token),
                    Payload::Empty,
                )
                .await?,
        )
        .await
    }

    pub async fn create_api_key(
        &self,
        caller: &Caller,
        token: &str,
        key: &NewApiKey,
    ) -> Result<CreatedApiKey, ClientError> {
        let body = Payload::json(key);
        read_json(
            self.0
                .send(caller, Method::POST, "/auth/api-keys", Some(token), body)
                .await?,
        )
        .await
    }

    pub async fn revoke_api_key(
        &self,
        caller: &Caller,
        token: &str,
        id: &str,
    ) -> Result<(), ClientError> {
        let path = format!("/auth/api-keys/{}", path_segment(id));
        no_content(
            self.0
                .send(caller, Method::DELETE, &path, Some(token), Payload::Empty)
                .await?,
        )
        .await
    }
}

/// Everything but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `id` as one path segment.
pub(crate) fn path_segment(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_stay_one_segment() {
        assert_eq!(super::path_segment("k-1_a.b~"), "k-1_a.b~");
        assert_eq!(super::path_segment("../x?y"), "..%2Fx%3Fy");
    }
}
