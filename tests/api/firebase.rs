//! Firebase ID tokens (`FIREBASE_PROJECT_ID`): verification against a stand-in for Google's
//! certificate endpoint, the account a Firebase user signs in to, and faults of the key server.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp,
    firebase::{self, KID_A, KID_B, KeyServer, Mode, PROJECT},
};

async fn app_with(keys: &KeyServer, auto_provision: bool) -> TestApp {
    let url = keys.url.clone();
    TestApp::spawn_with(move |c| {
        c.auth.firebase_project_id = Some(PROJECT.to_owned());
        c.auth.firebase_certs_url = url;
        c.auth.firebase_auto_provision = auto_provision;
    })
    .await
}

/// A request as the frontend sends it: the token in the `AuthToken` cookie.
async fn with_cookie(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
) -> (StatusCode, Value) {
    let res = app
        .client
        .request(method, format!("{}{path}", app.addr))
        .header("cookie", format!("AuthToken={token}"))
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn me(app: &TestApp, token: &str) -> (StatusCode, Value) {
    with_cookie(app, Method::GET, "/api/auth/me", token).await
}

/// Waits until the instance holds `n` certificates.
async fn keys_held(app: &TestApp, n: u64) -> Value {
    app.wait_until(|h| h["systems"]["firebase"]["keys"] == n)
        .await
}

#[tokio::test]
async fn a_valid_firebase_token_signs_in_a_new_student_and_health_shows_the_key_set() {
    let keys = KeyServer::start().await;
    let app = app_with(&keys, true).await;
    let health = keys_held(&app, 1).await;
    let fb = &health["systems"]["firebase"];
    assert_eq!(fb["status"], "healthy");
    assert_eq!(fb["projectId"], PROJECT);
    assert_eq!(fb["maxAgeSeconds"], 3600);
    assert!(fb["ageSeconds"].as_u64().is_some_and(|a| a < 60), "{fb}");
    let (_, stats) = app
        .get("/api/performance/stats", Some(crate::helpers::OPS_TOKEN))
        .await;
    assert_eq!(stats["firebase"]["keys"], 1, "{stats}");

    let (uid, email, token) = firebase::new_user();
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = &body["user"];
    assert_eq!(user["email"], email);
    assert_eq!(user["role"], "student");
    assert_eq!(
        user["uid"], uid,
        "the frontend knows the user by their Firebase uid"
    );
    assert_eq!(user["firstName"], "Nour");
    assert_eq!(user["lastName"], "Ben Salah");
    // The bearer header works as the cookie does, and the same account comes back.
    let (status, again) = app.get("/api/auth/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["user"]["id"], user["id"]);
    let count: i64 = app
        .sql()
        .await
        .query_one(
            "select count(*) from app_user where firebase_uid = $1",
            &[&uid],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 1, "one account per Firebase user");
}

#[tokio::test]
async fn tokens_that_break_a_rule_are_refused_and_own_tokens_keep_working() {
    let keys = KeyServer::start().await;
    let app = app_with(&keys, true).await;
    keys_held(&app, 1).await;
    let (uid, email, _) = firebase::new_user();
    let good = firebase::claims(&uid, &email, true);
    let now = chrono::Utc::now().timestamp();
    let mut cases: Vec<(&str, String)> = Vec::new();
    let mut c = good.clone();
    c["exp"] = json!(now - 3600);
    c["iat"] = json!(now - 7200);
    cases.push(("expired", firebase::sign(&c, KID_A)));
    let mut c = good.clone();
    c["aud"] = json!("another-project");
    cases.push(("wrong aud", firebase::sign(&c, KID_A)));
    let mut c = good.clone();
    c["iss"] = json!("https://securetoken.google.com/another-project");
    cases.push(("wrong iss", firebase::sign(&c, KID_A)));
    let mut c = good.clone();
    c["iat"] = json!(now + 3600);
    cases.push(("issued in the future", firebase::sign(&c, KID_A)));
    let mut c = good.clone();
    c["auth_time"] = json!(now + 3600);
    cases.push(("signed in in the future", firebase::sign(&c, KID_A)));
    let mut c = good.clone();
    c["sub"] = json!("");
    cases.push(("empty sub", firebase::sign(&c, KID_A)));
    let mut c = good.clone();
    c["sub"] = json!("x".repeat(129));
    cases.push(("sub over 128", firebase::sign(&c, KID_A)));
    cases.push(("signed by a key it does not name", {
        // Key B's signature under key A's id.
        let t = firebase::sign(&good, KID_B);
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let a = firebase::sign(&good, KID_A);
        parts[0] = a.split('.').next().unwrap_or_default().to_owned();
        parts.join(".")
    }));
    cases.push((
        "HS256 with a Firebase kid",
        firebase::forged(&good, "HS256"),
    ));
    cases.push(("alg none", firebase::forged(&good, "none")));
    for (what, token) in &cases {
        let (status, body) = me(&app, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["code"], "invalid_token", "{what}");
    }
    let count: i64 = app
        .sql()
        .await
        .query_one(
            "select count(*) from app_user where firebase_uid is not null",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 0, "no refused token created an account");
    let own = app.user("student").await;
    assert_eq!(me(&app, &own.token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_on_the_request_path_and_unknown_ids_are_rate_bounded() {
    let keys = KeyServer::start().await;
    let app = app_with(&keys, true).await;
    keys_held(&app, 1).await;
    let hits = keys.hits();
    keys.add_key_b();
    let (uid, email, _) = firebase::new_user();
    let token = firebase::sign(&firebase::claims(&uid, &email, true), KID_B);
    let (status, body) = me(&app, &token).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a key rotated in is fetched: {body}"
    );
    assert_eq!(keys.hits(), hits + 1);
    keys_held(&app, 2).await;

    // An id nobody publishes: at most one fetch in the refetch window, however many requests.
    let mut h = firebase::claims(&uid, &email, true);
    h["jti"] = json!("x");
    let unknown = {
        let t = firebase::sign(&h, KID_A);
        let header = base64_json(&json!({"alg": "RS256", "kid": "kid-unknown", "typ": "JWT"}));
        let rest: Vec<&str> = t.splitn(2, '.').collect();
        format!("{header}.{}", rest[1])
    };
    let before = keys.hits();
    for _ in 0..5 {
        assert_eq!(me(&app, &unknown).await.0, StatusCode::UNAUTHORIZED);
    }
    assert!(
        keys.hits() <= before + 1,
        "unknown key ids fetched {} times",
        keys.hits() - before
    );
}

fn base64_json(v: &Value) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn a_key_server_down_at_start_refuses_firebase_tokens_only_and_heals() {
    let keys = KeyServer::start().await;
    keys.set_mode(Mode::Down);
    let app = app_with(&keys, true).await;
    let (_, health) = app.get_health().await;
    assert_eq!(health["systems"]["firebase"]["keys"], 0, "{health}");
    assert_eq!(health["systems"]["firebase"]["status"], "unhealthy");
    assert_eq!(
        health["overall"], "healthy",
        "own sessions still work: {health}"
    );
    let (_, _, token) = firebase::new_user();
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let own = app.user("student").await;
    assert_eq!(me(&app, &own.token).await.0, StatusCode::OK);

    // The background refresh retries with backoff and picks the keys up by itself.
    keys.set_mode(Mode::Up);
    keys_held(&app, 1).await;
    assert_eq!(me(&app, &token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_slow_key_server_never_stalls_requests() {
    let keys = KeyServer::start().await;
    keys.set_mode(Mode::Slow);
    let app = app_with(&keys, true).await;
    let own = app.user("student").await;
    let start = Instant::now();
    assert_eq!(me(&app, &own.token).await.0, StatusCode::OK);
    assert!(start.elapsed() < Duration::from_secs(2), "own token waited");
    // No keys yet: a Firebase token waits at most the on-path fetch bound, then 401.
    let (_, _, token) = firebase::new_user();
    let start = Instant::now();
    let (status, _) = me(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "a Firebase request waited {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_verified_email_links_the_existing_account_and_an_unverified_one_does_not() {
    let keys = KeyServer::start().await;
    let app = app_with(&keys, true).await;
    keys_held(&app, 1).await;
    let existing = app.user("formateur").await;

    // Unverified: no takeover of the existing account, and no duplicate either.
    let token = firebase::sign(
        &firebase::claims("uid-unverified-000000000000", &existing.email, false),
        KID_A,
    );
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "firebase_email_unverified");

    // Verified: the Firebase user is that account, with its role from the database.
    let uid = "uid-verified-0000000000000000";
    let mut claims = firebase::claims(uid, &existing.email.to_uppercase(), true);
    claims["role"] = json!("admin");
    let token = firebase::sign(&claims, KID_A);
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], existing.id.to_string());
    assert_eq!(
        body["user"]["role"], "formateur",
        "the token's role claim is ignored"
    );
    assert_eq!(body["user"]["uid"], uid);
    let (status, _) = with_cookie(&app, Method::GET, "/api/admin/users", &token).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a forged role claim grants nothing"
    );

    // Another Firebase user with the same verified address cannot take it over.
    let token = firebase::sign(
        &firebase::claims("uid-other-00000000000000000000", &existing.email, true),
        KID_A,
    );
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "firebase_email_taken");
}

#[tokio::test]
async fn role_changes_and_suspension_apply_to_firebase_sessions_at_the_next_request() {
    let keys = KeyServer::start().await;
    let app = app_with(&keys, true).await;
    keys_held(&app, 1).await;
    let (_, _, token) = firebase::new_user();
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::OK);
    let id = body["user"]["id"].as_str().expect("id").to_owned();
    let admin = app.user("admin").await;

    let (status, _) = app
        .patch(
            &format!("/api/admin/users/{id}"),
            admin.t(),
            json!({"role": "formateur"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = with_cookie(&app, Method::GET, "/api/formateur/courses", &token).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "promoted at the next request: {body}"
    );

    let (status, _) = app
        .patch(
            &format!("/api/admin/users/{id}"),
            admin.t(),
            json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "account_suspended");
}

#[tokio::test]
async fn without_auto_provisioning_an_unknown_firebase_user_is_refused() {
    let keys = KeyServer::start().await;
    let app = app_with(&keys, false).await;
    keys_held(&app, 1).await;
    let (_, _, token) = firebase::new_user();
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "account_not_provisioned");
    // A user linked beforehand (an import sets firebase_uid) signs in.
    let student = app.user("student").await;
    app.sql()
        .await
        .execute(
            "update app_user set firebase_uid = 'imported-uid-0000000000000000' where id = $1",
            &[&student.id],
        )
        .await
        .expect("link");
    let token = firebase::sign(
        &firebase::claims("imported-uid-0000000000000000", &student.email, false),
        KID_A,
    );
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], student.id.to_string());
}

#[tokio::test]
async fn firebase_tokens_are_refused_when_no_project_is_configured() {
    let app = TestApp::spawn().await;
    let (_, health) = app.get_health().await;
    assert!(health["systems"].get("firebase").is_none(), "{health}");
    let (_, _, token) = firebase::new_user();
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

/// The `AuthToken` value a response sets, if any.
fn set_cookie_token(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("AuthToken="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_firebase_cookie_is_exchanged_for_a_session_that_outlives_the_id_token() {
    let keys = KeyServer::start().await;
    let app = app_with(&keys, true).await;
    keys_held(&app, 1).await;
    let (_, _, firebase_token) = firebase::new_user();
    let res = app
        .client
        .get(format!("{}/api/auth/me", app.addr))
        .header("cookie", format!("AuthToken={firebase_token}"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let session = set_cookie_token(res.headers()).expect("the Firebase cookie is exchanged");
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let id = res.json::<Value>().await.expect("json")["user"]["id"].clone();
    // The session is this service's own token for the same account (its payload carries the
    // role the frontend's page routing reads), and it works once the ID token has expired.
    let claims = app
        .state
        .jwt
        .verify(&session)
        .expect("an own session token");
    assert_eq!(claims.sub.to_string(), id.as_str().unwrap_or_default());
    assert_eq!(claims.role, "student");
    let (status, body) = me(&app, &session).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["id"], id);

    // A fresh session in the cookie is left alone, and a token in the header is never replaced.
    let res = app
        .client
        .get(format!("{}/api/auth/me", app.addr))
        .header("cookie", format!("AuthToken={session}"))
        .send()
        .await
        .expect("request");
    assert_eq!(set_cookie_token(res.headers()), None);
    let res = app
        .client
        .get(format!("{}/api/auth/me", app.addr))
        .bearer_auth(&firebase_token)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(set_cookie_token(res.headers()), None);
}

#[tokio::test]
async fn a_session_cookie_past_half_its_life_is_renewed() {
    let app = TestApp::spawn_with(|c| c.auth.jwt_ttl = 4).await;
    let user = app.user("student").await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let res = app
        .client
        .get(format!("{}/api/auth/me", app.addr))
        .header("cookie", format!("AuthToken={}", user.token))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let renewed = set_cookie_token(res.headers()).expect("renewed");
    let old = app.state.jwt.verify(&user.token).expect("still valid").exp;
    let new = app.state.jwt.verify(&renewed).expect("valid").exp;
    assert!(
        new > old,
        "the renewed session lives longer ({old} → {new})"
    );
}
