//! Firebase ID tokens, accepted besides this service's own sessions when `FIREBASE_PROJECT_ID` is
//! set, so the frontend's Firebase sign-in keeps working during a migration.
//!
//! A token is verified the way Firebase documents it: RS256 only; its `kid` names one of Google's
//! public certificates (`FIREBASE_CERTS_URL`); `iss` is `https://securetoken.google.com/<project>`,
//! `aud` the project; `exp` in the future, `iat` and `auth_time` in the past (with
//! [`CLOCK_SKEW`]); `sub` (the Firebase uid) non-empty and at most 128 characters.
//!
//! The certificates are fetched by a background task ([`FirebaseAuth::run_refresh`]) and kept for
//! the `max-age` their answer's `Cache-Control` gives. A request never waits for them, except once
//! for a `kid` the key set does not hold (a rotation seen before the next refresh), at most once
//! every [`UNKNOWN_KID_REFETCH`] for the whole instance and for at most
//! [`ON_PATH_FETCH_TIMEOUT`]. A key server that is down or
//! slow leaves the last good keys serving; with none at all, Firebase tokens get 401 and this
//! service's own tokens keep working.
//!
//! Verified tokens are remembered until they expire (at most [`VERIFIED_TTL`]), so a request
//! carrying a token seen before costs a hash lookup, not an RSA verification. Which account a
//! Firebase user is lives in [`accounts`].

pub mod accounts;

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Google's certificates for Firebase ID tokens, as x509 PEM by key id.
pub const GOOGLE_CERTS_URL: &str =
    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com";

/// Clock difference tolerated on `exp`, `iat` and `auth_time`.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Shortest gap between two fetches made for an unknown `kid` on a request's path.
pub const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(30);

/// Longest a verified token is remembered (never past its `exp`).
pub const VERIFIED_TTL: Duration = Duration::from_secs(600);

/// Bytes of verified tokens remembered (about 16,000 tokens).
const VERIFIED_BYTES: u64 = 16 * 1024 * 1024;

/// How long one fetch of the certificates may take in the background.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request may wait for the fetch of an unknown `kid` (its own or one in flight).
pub const ON_PATH_FETCH_TIMEOUT: Duration = Duration::from_secs(1);

/// Bounds on the refresh interval, whatever `max-age` says.
const MIN_REFRESH: Duration = Duration::from_secs(60);
const MAX_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// Refresh interval when the answer gives no `max-age`.
const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);
/// Longest wait between two attempts while the key server fails.
const MAX_RETRY: Duration = Duration::from_secs(60);

/// Whether `s` can be a Firebase project id (6–30 of `a-z 0-9 -`).
pub fn valid_project_id(s: &str) -> bool {
    (6..=30).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// What a verified Firebase ID token says about its user.
#[derive(Debug, Clone)]
pub struct FirebaseIdentity {
    /// The Firebase uid (`sub`).
    pub uid: String,
    /// The account's e-mail address, when it has one.
    pub email: Option<String>,
    /// Whether Firebase has verified that address.
    pub email_verified: bool,
    /// The display name, when the token carries one.
    pub name: Option<String>,
    /// When the token expires.
    expires: Instant,
}

#[derive(Deserialize)]
struct IdClaims {
    sub: String,
    iat: i64,
    exp: i64,
    auth_time: i64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    name: Option<String>,
}

/// One fetched set of certificates.
struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fetched: Instant,
    fetched_at: DateTime<Utc>,
    max_age: Duration,
}

/// The state of the key set, for health, stats and the logs.
#[derive(Debug, Clone, Copy)]
pub struct KeySetStatus {
    /// Certificates held.
    pub keys: usize,
    /// Time since they were fetched (`None`: never).
    pub age: Option<Duration>,
    /// When they were fetched.
    pub fetched_at: Option<DateTime<Utc>>,
    /// The lifetime the key server gave them.
    pub max_age: Option<Duration>,
    /// Whether the last fetch failed.
    pub last_fetch_failed: bool,
}

/// The key set as health and stats show it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirebaseKeysHealth {
    /// `healthy` with keys fresher than twice their lifetime, `degraded` with older ones or a
    /// failing key server, `unhealthy` with none (Firebase tokens are refused; this service's
    /// own tokens keep working).
    pub status: crate::api::health::HealthStatus,
    /// The project whose ID tokens are accepted.
    pub project_id: String,
    /// Certificates held.
    pub keys: usize,
    /// Seconds since they were fetched (`null`: never).
    pub age_seconds: Option<u64>,
    /// When they were fetched (`null`: never).
    pub fetched_at: Option<String>,
    /// The lifetime the key server gave them, in seconds.
    pub max_age_seconds: Option<u64>,
    /// Whether the last fetch failed (the held keys keep serving).
    pub last_fetch_failed: bool,
}

impl FirebaseAuth {
    /// The key set's figures.
    pub fn health(&self) -> FirebaseKeysHealth {
        use crate::api::health::HealthStatus;
        let s = self.status();
        let stale = matches!((s.age, s.max_age), (Some(age), Some(max)) if age > max * 2);
        FirebaseKeysHealth {
            status: if s.keys == 0 {
                HealthStatus::Unhealthy
            } else if stale || s.last_fetch_failed {
                HealthStatus::Degraded
            } else {
                HealthStatus::Healthy
            },
            project_id: self.project_id.clone(),
            keys: s.keys,
            age_seconds: s.age.map(|a| a.as_secs()),
            fetched_at: s.fetched_at.map(crate::jsontime::iso),
            max_age_seconds: s.max_age.map(|a| a.as_secs()),
            last_fetch_failed: s.last_fetch_failed,
        }
    }
}

/// Verifies Firebase ID tokens of one project.
pub struct FirebaseAuth {
    project_id: String,
    certs_url: String,
    auto_provision: bool,
    validation: Validation,
    http: reqwest::Client,
    keys: RwLock<Option<Arc<KeySet>>>,
    last_fetch_failed: std::sync::atomic::AtomicBool,
    /// When a request last fetched the certificates for an unknown `kid`; the lock makes
    /// concurrent requests share one fetch.
    unknown_kid_fetch: tokio::sync::Mutex<Option<Instant>>,
    verified: moka::sync::Cache<Box<str>, Arc<FirebaseIdentity>>,
    /// Firebase uid → account id, for links already made (they never change).
    links: moka::sync::Cache<Box<str>, Uuid>,
}

/// A remembered token's weight: its length and some bookkeeping.
#[allow(clippy::borrowed_box)] // moka's weigher takes the key type by reference.
fn weigh_token(token: &Box<str>, _: &Arc<FirebaseIdentity>) -> u32 {
    u32::try_from(token.len() + 256).unwrap_or(u32::MAX)
}

struct UntilExpiry;

impl moka::Expiry<Box<str>, Arc<FirebaseIdentity>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _: &Box<str>,
        value: &Arc<FirebaseIdentity>,
        now: Instant,
    ) -> Option<Duration> {
        Some(
            value
                .expires
                .saturating_duration_since(now)
                .min(VERIFIED_TTL),
        )
    }
}

impl FirebaseAuth {
    /// A verifier for `project_id` fetching certificates from `certs_url`; no keys until the
    /// first refresh.
    pub fn new(project_id: &str, certs_url: &str, auto_provision: bool) -> anyhow::Result<Self> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = CLOCK_SKEW.as_secs();
        validation.set_issuer(&[format!("https://securetoken.google.com/{project_id}")]);
        validation.set_audience(&[project_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .build()?;
        Ok(Self {
            project_id: project_id.to_owned(),
            certs_url: certs_url.to_owned(),
            auto_provision,
            validation,
            http,
            keys: RwLock::new(None),
            last_fetch_failed: false.into(),
            unknown_kid_fetch: tokio::sync::Mutex::new(None),
            // Weighed by the token's length (about a kilobyte each): the bound is in bytes, so a
            // flood of distinct valid tokens cannot take more than this much memory.
            verified: moka::sync::Cache::builder()
                .weigher(weigh_token)
                .max_capacity(VERIFIED_BYTES)
                .expire_after(UntilExpiry)
                .build(),
            links: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        })
    }

    /// The project whose tokens are accepted.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Whether a first-seen Firebase user may get a new student account.
    pub fn auto_provision(&self) -> bool {
        self.auto_provision
    }

    /// Whether `token`'s header says RS256, the only algorithm Firebase ID tokens use. Tokens
    /// with any other header are not Firebase's (this service's own are HS256).
    pub fn looks_like_firebase(token: &str) -> bool {
        jsonwebtoken::decode_header(token).is_ok_and(|h| h.alg == Algorithm::RS256)
    }

    /// The identity in `token` if it is a valid Firebase ID token of this project; `None` for
    /// anything else. Waits on the network only for an unknown `kid` (see the module comment).
    pub async fn verify(&self, token: &str) -> Option<Arc<FirebaseIdentity>> {
        if let Some(hit) = self.cached(token) {
            return Some(hit);
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 {
            return None;
        }
        let kid = header.kid?;
        let key = match self.key(&kid) {
            Some(key) => key,
            None => {
                self.fetch_for_unknown_kid().await;
                self.key(&kid)?
            }
        };
        let identity = self.check(token, &key)?;
        let identity = Arc::new(identity);
        self.verified.insert(token.into(), identity.clone());
        Some(identity)
    }

    /// The identity of a token verified before and not yet expired, from memory: no header
    /// parsing, no signature check.
    pub fn cached(&self, token: &str) -> Option<Arc<FirebaseIdentity>> {
        self.verified
            .get(token)
            .filter(|hit| hit.expires > Instant::now())
    }

    /// The account already linked to `uid`, from memory.
    pub fn linked(&self, uid: &str) -> Option<Uuid> {
        self.links.get(uid)
    }

    /// Remembers that `uid` is the account `id`.
    pub fn remember_link(&self, uid: &str, id: Uuid) {
        self.links.insert(uid.into(), id);
    }

    fn key(&self, kid: &str) -> Option<DecodingKey> {
        let guard = self.keys.read().ok()?;
        guard.as_ref()?.keys.get(kid).cloned()
    }

    fn check(&self, token: &str, key: &DecodingKey) -> Option<FirebaseIdentity> {
        let data = jsonwebtoken::decode::<IdClaims>(token, key, &self.validation).ok()?;
        let c = data.claims;
        let now = Utc::now().timestamp();
        let skew = CLOCK_SKEW.as_secs() as i64;
        if c.iat > now + skew || c.auth_time > now + skew {
            return None;
        }
        if c.sub.is_empty() || c.sub.chars().count() > 128 {
            return None;
        }
        let left = u64::try_from(c.exp + skew - now).ok()?;
        Some(FirebaseIdentity {
            uid: c.sub,
            email: c.email.filter(|e| !e.is_empty()),
            email_verified: c.email_verified.unwrap_or(false),
            name: c.name.filter(|n| !n.trim().is_empty()),
            expires: Instant::now() + Duration::from_secs(left),
        })
    }

    /// One fetch for a `kid` the set does not hold, unless a request fetched less than
    /// [`UNKNOWN_KID_REFETCH`] ago. Concurrent callers share it.
    async fn fetch_for_unknown_kid(&self) {
        let Ok(mut last) =
            tokio::time::timeout(ON_PATH_FETCH_TIMEOUT, self.unknown_kid_fetch.lock()).await
        else {
            return;
        };
        if last.is_some_and(|t| t.elapsed() < UNKNOWN_KID_REFETCH) {
            return;
        }
        *last = Some(Instant::now());
        match tokio::time::timeout(ON_PATH_FETCH_TIMEOUT, self.refresh()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "Firebase certificates: fetch for an unknown key id failed"
                );
            }
            Err(_) => {
                tracing::warn!("Firebase certificates: fetch for an unknown key id timed out");
            }
        }
    }

    /// Fetches the certificates once; on success they replace the held set and the answer's
    /// `max-age` is returned.
    pub async fn refresh(&self) -> anyhow::Result<Duration> {
        let result = self.fetch().await;
        self.last_fetch_failed
            .store(result.is_err(), std::sync::atomic::Ordering::Relaxed);
        let set = result?;
        let max_age = set.max_age;
        let count = set.keys.len();
        if let Ok(mut guard) = self.keys.write() {
            *guard = Some(Arc::new(set));
        }
        tracing::debug!(
            keys = count,
            max_age_s = max_age.as_secs(),
            "Firebase certificates fetched"
        );
        Ok(max_age)
    }

    async fn fetch(&self) -> anyhow::Result<KeySet> {
        use anyhow::Context;
        let response = self
            .http
            .get(&self.certs_url)
            .send()
            .await
            .context("requesting the certificates")?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "the key server answered {status}");
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_REFRESH);
        let certs: HashMap<String, String> =
            response.json().await.context("reading the certificates")?;
        let keys: HashMap<String, DecodingKey> = certs
            .into_iter()
            .filter_map(|(kid, pem)| {
                DecodingKey::from_rsa_pem(pem.as_bytes())
                    .ok()
                    .map(|key| (kid, key))
            })
            .collect();
        anyhow::ensure!(
            !keys.is_empty(),
            "the answer holds no usable RSA certificate"
        );
        Ok(KeySet {
            keys,
            fetched: Instant::now(),
            fetched_at: Utc::now(),
            max_age,
        })
    }

    /// The key set as it stands.
    pub fn status(&self) -> KeySetStatus {
        let set = self.keys.read().ok().and_then(|g| g.clone());
        KeySetStatus {
            keys: set.as_ref().map_or(0, |s| s.keys.len()),
            age: set.as_ref().map(|s| s.fetched.elapsed()),
            fetched_at: set.as_ref().map(|s| s.fetched_at),
            max_age: set.as_ref().map(|s| s.max_age),
            last_fetch_failed: self
                .last_fetch_failed
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Keeps the certificates fresh until `shutdown`: fetches at start, again when their
    /// `max-age` runs out, and with backoff (1 s doubling to 60 s) while the key server fails.
    pub async fn run_refresh(self: Arc<Self>, shutdown: CancellationToken) {
        let mut retry = Duration::from_secs(1);
        loop {
            let wait = match self.refresh().await {
                Ok(max_age) => {
                    retry = Duration::from_secs(1);
                    max_age.clamp(MIN_REFRESH, MAX_REFRESH)
                }
                Err(e) => {
                    let held = self.status().keys;
                    tracing::warn!(
                        error = format!("{e:#}"),
                        keys_held = held,
                        retry_in_s = retry.as_secs(),
                        "Firebase certificates: refresh failed"
                    );
                    let wait = retry;
                    retry = (retry * 2).min(MAX_RETRY);
                    wait
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The `max-age` of a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .filter_map(|d| d.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("max-age"))
        .and_then(|(_, v)| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=19702, must-revalidate, no-transform"),
            Some(Duration::from_secs(19702))
        );
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }

    #[test]
    fn project_ids_are_checked() {
        assert!(valid_project_id("eduverse-98jdv"));
        assert!(!valid_project_id("Edu"));
        assert!(!valid_project_id("has space x"));
    }
}
