//! Signup, login, logout, me: credentials, cookies, suspension, bad input.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn signup_always_makes_a_student_and_returns_a_working_token() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post("/api/auth/signup", None, json!({"email": "Eve@Example.com", "password": "longenough", "firstName": "Eve", "lastName": "Doe", "role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["user"]["role"], "student",
        "nobody can make themselves admin"
    );
    assert!(body["user"].get("passwordHash").is_none() && !body.to_string().contains("argon2"));
    let token = body["token"].as_str().expect("token").to_owned();
    let (status, me) = app.get("/api/auth/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["email"], "Eve@Example.com");

    let (status, body) = app
        .post("/api/auth/signup", None, json!({"email": "eve@example.COM", "password": "longenough", "firstName": "E", "lastName": "D"}))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "e-mails are unique case-insensitively: {body}"
    );
    assert_eq!(body["code"], "email_taken");
}

#[tokio::test]
async fn signup_rejects_invalid_fields_naming_them() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post(
            "/api/auth/signup",
            None,
            json!({"email": "nope", "password": "short", "firstName": "", "lastName": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["email", "password", "firstName"] {
        assert!(body["details"][f].is_string(), "{f}: {body}");
    }
    let (status, body) = app
        .post(
            "/api/auth/signup",
            None,
            json!({"email": 5, "password": "longenough", "firstName": "a", "lastName": "b"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["details"]["email"].is_string(), "{body}");
    let (status, body) = app
        .post(
            "/api/auth/signup",
            None,
            json!({"password": "longenough", "firstName": "a", "lastName": "b"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["details"]["email"].is_string(), "{body}");
    let count: i64 = app
        .sql()
        .await
        .query_one("select count(*) from app_user", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 0, "nothing written");
}

#[tokio::test]
async fn malformed_json_is_400_and_a_wrong_content_type_is_415() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .post(format!("{}/api/auth/login", app.addr))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["code"], "bad_request");
    let res = app
        .client
        .post(format!("{}/api/auth/login", app.addr))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn login_sets_the_cookie_and_the_cookie_authenticates() {
    let app = TestApp::spawn().await;
    let user = app.user("formateur").await;
    let res = app
        .client
        .post(format!("{}/api/auth/login", app.addr))
        .json(&json!({"email": user.email.to_uppercase(), "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.starts_with("AuthToken=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["user"]["role"], "formateur");
    let token = cookie
        .trim_start_matches("AuthToken=")
        .split(';')
        .next()
        .expect("value")
        .to_owned();
    let res = app
        .client
        .get(format!("{}/api/auth/me", app.addr))
        .header("cookie", format!("theme=dark; AuthToken={token}"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .client
        .post(format!("{}/api/auth/logout", app.addr))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let user = app.user("student").await;
    let (s1, wrong) = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": user.email, "password": "not-the-password"}),
        )
        .await;
    let (s2, unknown) = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "ghost@example.com", "password": "not-the-password"}),
        )
        .await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!(s2, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn bad_tokens_are_401_not_500() {
    let app = TestApp::spawn().await;
    let forged = {
        let user = app.user("admin").await;
        let mut t = user.token;
        t.pop();
        t.push('x');
        t
    };
    for token in ["garbage", "a.b.c", forged.as_str(), ""] {
        let (status, _, body) = app
            .request(Method::GET, "/api/auth/me", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}: {body}");
    }
    let (status, _) = app.get("/api/auth/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_suspended_users_token_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin").await;
    let student = app.user("student").await;
    assert_eq!(app.get("/api/auth/me", student.t()).await.0, StatusCode::OK);
    let (status, body) = app
        .patch(
            &format!("/api/admin/users/{}", student.id),
            admin.t(),
            json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get("/api/auth/me", student.t()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "account_suspended");
    let (status, _) = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": student.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
