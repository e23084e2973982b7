//! HTTP-backed key source and introspector, for services running apart from
//! the auth service. Calls carry the W3C `traceparent` of the current span.

use async_trait::async_trait;

use super::{Credential, Introspector, JwkSet, KeySource, Principal, VerifyError};

pub struct RemoteJwks {
    client: reqwest::Client,
    url: String,
}

impl RemoteJwks {
    pub fn new(client: reqwest::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

#[async_trait]
impl KeySource for RemoteJwks {
    #[tracing::instrument(skip_all, name = "fetch_jwks", fields(url = %self.url))]
    async fn jwks(&self) -> Result<JwkSet, VerifyError> {
        let response = self
            .client
            .get(&self.url)
            .headers(crate::telemetry::trace_headers())
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| VerifyError::Upstream(e.to_string()))?;
        response
            .json::<JwkSet>()
            .await
            .map_err(|e| VerifyError::Upstream(e.to_string()))
    }
}

pub struct RemoteIntrospector {
    client: reqwest::Client,
    url: String,
}

impl RemoteIntrospector {
    pub fn new(client: reqwest::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

#[async_trait]
impl Introspector for RemoteIntrospector {
    #[tracing::instrument(skip_all, name = "introspect_api_key", fields(url = %self.url))]
    async fn api_key(&self, key: &str) -> Result<Option<Principal>, VerifyError> {
        let answer: wire::auth::Introspection = self
            .client
            .post(&self.url)
            .headers(crate::telemetry::trace_headers())
            .json(&wire::auth::IntrospectRequest {
                token: key.to_owned(),
            })
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| VerifyError::Upstream(e.to_string()))?
            .json()
            .await
            .map_err(|e| VerifyError::Upstream(e.to_string()))?;
        if !answer.active {
            return Ok(None);
        }
        Ok(Some(Principal {
            user_id: answer.sub.unwrap_or_default(),
            username: answer.username.unwrap_or_default(),
            credential: Credential::ApiKey {
                key_id: answer.key_id.unwrap_or_default(),
            },
        }))
    }
}
