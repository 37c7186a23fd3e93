//! Session tokens: HS256 JWTs signed with `JWT_SECRET`, claims `sub`, `role`, `iat`, `exp`
//! (API.md §1).

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Claims carried by a session token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The role at issue time (the database stays authoritative).
    pub role: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

/// Keys and settings for issuing and verifying tokens.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl JwtKeys {
    /// Keys from the secret; `ttl` is how long issued tokens live.
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            ttl,
        }
    }

    /// How long issued tokens live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs a token for `user_id` with `role`.
    pub fn issue(&self, user_id: Uuid, role: &str) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            role: role.to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies signature and expiry; `None` for any malformed, forged or expired token.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// The `Set-Cookie` value of the `AuthToken` session cookie (HttpOnly, SameSite=Lax, `Secure`
/// in production); an empty token with `max_age` 0 clears it.
pub fn session_cookie_value(token: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("AuthToken={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// Compares a presented secret with the configured one in constant time. Both sides are hashed
/// with SHA-256 first, so neither the content nor the length of the secret leaks through timing.
pub fn secret_matches(presented: &[u8], expected: &SecretString) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let a: [u8; 32] = Sha256::digest(presented).into();
    let b: [u8; 32] = Sha256::digest(expected.expose_secret().as_bytes()).into();
    bool::from(a[..].ct_eq(&b[..]))
}
