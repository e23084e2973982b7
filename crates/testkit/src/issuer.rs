//! Access tokens for a service under test, signed with a key of the test's
//! own (Ed25519, as the auth service signs them).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kit::token::{
    AccessClaims, Introspector, Jwk, JwkSet, KeySource, Principal, TokenVerifier, VerifierConfig,
    VerifyError,
};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

/// Signs access tokens and answers for their key; knows no API key.
pub struct Issuer {
    kid: String,
    encoding: EncodingKey,
    public: Vec<u8>,
}

impl Issuer {
    pub fn new() -> Arc<Self> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("a new key");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("the key just made");
        Arc::new(Self {
            kid: uuid::Uuid::new_v4().simple().to_string(),
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            public: pair.public_key().as_ref().to_vec(),
        })
    }

    /// A verifier that trusts this issuer's tokens (the default issuer and
    /// audience, as the services are configured).
    pub fn verifier(self: &Arc<Self>) -> Arc<TokenVerifier> {
        let config = VerifierConfig {
            refetch_interval: Duration::ZERO,
            ..VerifierConfig::default()
        };
        Arc::new(TokenVerifier::new(config, self.clone(), self.clone()))
    }

    /// An access token of `user_id`, valid for an hour.
    pub fn token(&self, user_id: &str) -> String {
        let now = kit::unix_now();
        let defaults = VerifierConfig::default();
        let claims = AccessClaims {
            iss: defaults.issuer,
            sub: user_id.to_owned(),
            aud: vec![defaults.audience],
            exp: now + 3600,
            iat: now,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            name: user_id.to_owned(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).expect("a signed token")
    }
}

#[async_trait]
impl KeySource for Issuer {
    async fn jwks(&self) -> Result<JwkSet, VerifyError> {
        Ok(JwkSet {
            keys: vec![Jwk::ed25519(self.kid.clone(), &self.public)],
        })
    }
}

#[async_trait]
impl Introspector for Issuer {
    async fn api_key(&self, _key: &str) -> Result<Option<Principal>, VerifyError> {
        Ok(None)
    }
}
