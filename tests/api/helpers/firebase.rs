//! Firebase for tests: ID tokens signed by test RSA keys, and a stand-in for Google's
//! certificate endpoint (`FIREBASE_CERTS_URL`) that a test can rotate, take down or slow down.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The test project.
pub const PROJECT: &str = "eduverse-test";

/// Key ids of the two test keys.
pub const KID_A: &str = "kid-a";
/// The second key, for rotations.
pub const KID_B: &str = "kid-b";

const KEY_A: &str = include_str!("../../fixtures/firebase/key-a.pem");
const CERT_A: &str = include_str!("../../fixtures/firebase/cert-a.pem");
const KEY_B: &str = include_str!("../../fixtures/firebase/key-b.pem");
const CERT_B: &str = include_str!("../../fixtures/firebase/cert-b.pem");

/// What the stand-in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The certificates, with `Cache-Control: max-age`.
    Up,
    /// 503.
    Down,
    /// The certificates after 10 seconds.
    Slow,
}

struct Inner {
    certs: BTreeMap<String, String>,
    mode: Mode,
    max_age: u64,
}

/// A running stand-in for Google's certificate endpoint.
#[derive(Clone)]
pub struct KeyServer {
    inner: Arc<Mutex<Inner>>,
    hits: Arc<AtomicUsize>,
    /// The URL to set as `FIREBASE_CERTS_URL`.
    pub url: String,
}

impl KeyServer {
    /// Serves key A only, up.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            certs: BTreeMap::from([(KID_A.to_owned(), CERT_A.to_owned())]),
            mode: Mode::Up,
            max_age: 3600,
        }));
        let hits = Arc::new(AtomicUsize::new(0));
        let router = Router::new()
            .route("/certs", get(certs))
            .with_state((inner.clone(), hits.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind key server");
        let url = format!(
            "http://{}/certs",
            listener.local_addr().expect("key server addr")
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { inner, hits, url }
    }

    /// Changes what it answers.
    pub fn set_mode(&self, mode: Mode) {
        self.inner.lock().expect("key server state").mode = mode;
    }

    /// Publishes key B beside key A.
    pub fn add_key_b(&self) {
        self.inner
            .lock()
            .expect("key server state")
            .certs
            .insert(KID_B.to_owned(), CERT_B.to_owned());
    }

    /// Requests it has received.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn certs(
    State((inner, hits)): State<(Arc<Mutex<Inner>>, Arc<AtomicUsize>)>,
) -> impl IntoResponse {
    hits.fetch_add(1, Ordering::SeqCst);
    let (mode, body, max_age) = {
        let s = inner.lock().expect("key server state");
        (s.mode, json!(s.certs), s.max_age)
    };
    match mode {
        Mode::Down => (StatusCode::SERVICE_UNAVAILABLE, "down").into_response(),
        Mode::Up | Mode::Slow => {
            if mode == Mode::Slow {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            (
                [(
                    "cache-control",
                    format!("public, max-age={max_age}, must-revalidate, no-transform"),
                )],
                axum::Json(body),
            )
                .into_response()
        }
    }
}

/// The claims of a valid ID token for `uid` of the test project.
pub fn claims(uid: &str, email: &str, email_verified: bool) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": format!("https://securetoken.google.com/{PROJECT}"),
        "aud": PROJECT,
        "auth_time": now - 60,
        "user_id": uid,
        "sub": uid,
        "iat": now - 10,
        "exp": now + 3600,
        "email": email,
        "email_verified": email_verified,
        "name": "Nour Ben Salah",
        "firebase": {"identities": {"email": [email]}, "sign_in_provider": "password"},
    })
}

/// Signs `claims` with key A (`kid-a`) or B, RS256.
pub fn sign(claims: &Value, kid: &str) -> String {
    let key = if kid == KID_B { KEY_B } else { KEY_A };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(key.as_bytes()).expect("test key"),
    )
    .expect("sign")
}

/// A valid token of a new Firebase user with a verified address; returns (uid, email, token).
pub fn new_user() -> (String, String, String) {
    let uid = uuid::Uuid::new_v4().simple().to_string()[..28].to_owned();
    let email = format!("fb-{uid}@example.com");
    let token = sign(&claims(&uid, &email, true), KID_A);
    (uid, email, token)
}

/// The same token with the signature of a different algorithm or none at all (forgeries).
pub fn forged(claims: &Value, alg: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": KID_A, "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    match alg {
        "HS256" => {
            // The classic confusion: the public certificate used as an HMAC secret.
            let key = EncodingKey::from_secret(CERT_A.as_bytes());
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(KID_A.to_owned());
            jsonwebtoken::encode(&h, claims, &key).expect("sign hs256")
        }
        _ => format!("{input}."),
    }
}
