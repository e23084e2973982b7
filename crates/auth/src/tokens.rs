//! Minting secrets: access tokens, refresh tokens and API keys. Only SHA-256
//! digests of refresh tokens and API keys are stored; they carry 256 random
//! bits, so a fast digest is enough (no password hash needed).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header};
use kit::token::{AccessClaims, API_KEY_PREFIX};
use sha2::{Digest, Sha256};

use crate::keys::SigningKey;

/// Characters of an API key kept in clear to recognise it in listings.
pub const API_KEY_SHOWN_PREFIX: usize = 10;

pub fn digest(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub struct Minted {
    pub secret: String,
    pub digest: String,
}

pub fn refresh_token() -> Minted {
    let secret = format!("rt_{}", random_secret());
    Minted {
        digest: digest(&secret),
        secret,
    }
}

pub fn api_key() -> Minted {
    let secret = format!("{API_KEY_PREFIX}{}", random_secret());
    Minted {
        digest: digest(&secret),
        secret,
    }
}

pub struct AccessToken {
    pub token: String,
    pub expires_at: i64,
}

/// Sign an access token for `user_id` with `key`.
pub fn access_token(
    key: &SigningKey,
    issuer: &str,
    audience: &[String],
    ttl: i64,
    user_id: &str,
    username: &str,
    now: i64,
) -> Result<AccessToken, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    let claims = AccessClaims {
        iss: issuer.to_owned(),
        sub: user_id.to_owned(),
        aud: audience.to_vec(),
        exp: now + ttl,
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        name: username.to_owned(),
    };
    let token = jsonwebtoken::encode(&header, &claims, key.encoding())?;
    Ok(AccessToken {
        token,
        expires_at: claims.exp,
    })
}
