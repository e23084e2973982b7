//! Bearer-token verification shared by every service: EdDSA access tokens
//! checked against the auth service's JWKS, and API keys checked through its
//! introspection endpoint. In `all` mode both sources are in-process.

mod extract;
mod jwk;
mod remote;
mod verifier;

pub use extract::{authenticate, bearer};
pub use jwk::{Jwk, JwkSet};
pub use remote::{RemoteIntrospector, RemoteJwks};
pub use verifier::{
    AccessClaims, Credential, Introspector, KeySource, Principal, TokenVerifier, VerifierConfig,
    VerifyError,
};

/// API keys are `sk-` followed by random characters.
pub const API_KEY_PREFIX: &str = "sk-";
