//! Hostile input: text the database cannot store, bodies of the wrong shape, values out of
//! range, limits that must not be multiplied. Every case is a clear JSON 4xx, never a 500, and
//! leaves nothing half-written.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{OPS_TOKEN, PASSWORD, TestApp};

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.addr))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn nul_in_a_body_a_query_or_a_form_is_a_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "x\u{0}@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["details"]["email"].is_string(), "{body}");
    let (status, body) = app
        .post(
            "/api/auth/signup",
            None,
            json!({"email": "nul@example.com", "password": "password123", "firstName": "A\u{0}", "lastName": "B"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["details"]["firstName"].is_string(), "{body}");
    let formateur = app.user("formateur").await;
    let mut course = crate::helpers::course_body("A course with a NUL");
    course["modules"][0]["lessons"][1]["title"] = json!("Se\u{0}tup");
    let (status, body) = app.post("/api/courses", formateur.t(), course).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["details"]["modules[0].lessons[1].title"].is_string(),
        "{body}"
    );
    let (status, body) = app.get("/api/courses?q=x%00", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["details"]["q"].is_string(), "{body}");
    let (status, _) = app.get("/api/courses/x%00", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let form = reqwest::multipart::Form::new()
        .text("title", "A multipart course\u{0}")
        .text(
            "description",
            "A thorough course description that is long enough.",
        )
        .text("category", "programming")
        .text("level", "beginner");
    let res = app
        .client
        .post(format!("{}/api/formateur/courses", app.addr))
        .bearer_auth(&formateur.token)
        .multipart(form)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let count: i64 = app
        .sql()
        .await
        .query_one("select count(*) from course", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 0, "nothing was written");
}

#[tokio::test]
async fn bodies_must_be_objects_and_numbers_finite() {
    let app = TestApp::spawn().await;
    let student = app.user("student").await;
    // An array used to deserialise field by field into the login body, and `[null,null]` into
    // a clear-cache body.
    let (status, body) = raw(
        &app,
        Method::POST,
        "/api/auth/login",
        None,
        &format!(r#"["{}","{PASSWORD}"]"#, student.email),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["details"]["body"], "must be a JSON object");
    let (status, body) = raw(
        &app,
        Method::POST,
        "/api/performance/clear-cache",
        Some(OPS_TOKEN),
        "[null,null]",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let formateur = app.user("formateur").await;
    for (field, value) in [("price", "NaN"), ("duration", "1e400"), ("price", "inf")] {
        let form = reqwest::multipart::Form::new()
            .text("title", "A multipart course")
            .text(
                "description",
                "A thorough course description that is long enough.",
            )
            .text("category", "programming")
            .text("level", "beginner")
            .text(field, value);
        let res = app
            .client
            .post(format!("{}/api/formateur/courses", app.addr))
            .bearer_auth(&formateur.token)
            .multipart(form)
            .send()
            .await
            .expect("request");
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}"
        );
        let body: Value = res.json().await.expect("json");
        assert!(body["details"][field].is_string(), "{body}");
    }
}

#[tokio::test]
async fn a_caller_who_may_not_write_learns_it_before_the_body_is_parsed() {
    let app = TestApp::spawn().await;
    let student = app.user("student").await;
    for (path, body) in [
        ("/api/admin/course-approval", "{not json"),
        ("/api/admin/users", "[1,2]"),
        ("/api/formateur/quizzes", "{\"title\": 5}"),
        ("/api/formateur/quizzes/stats-batch", "nonsense"),
    ] {
        let (status, answer) = raw(&app, Method::POST, path, student.t(), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
    }
    let res = app
        .client
        .post(format!("{}/api/admin/course-approval", app.addr))
        .bearer_auth(&student.token)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "403 before 415");
}

#[tokio::test]
async fn values_the_columns_cannot_hold_are_4xx_and_leave_nothing_pending() {
    let app = TestApp::spawn().await;
    let owner = app.user("formateur").await;
    let course = app.course(&owner, "A course to reject at length").await;
    let admin = app.user("admin").await;
    // The owner's notification quotes the reason: at the reason's maximum it used to overflow
    // the message column, a 500 that left the course pending.
    let (status, body) = app
        .post(
            "/api/admin/course-approval",
            admin.t(),
            json!({"courseId": course["id"], "action": "reject", "reason": "r".repeat(2000)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, notes) = app.get("/api/notifications", owner.t()).await;
    let message = notes["notifications"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(message.chars().count(), 2000, "cut to the column");
    assert!(message.ends_with('…'));
    // A cursor whose time PostgreSQL cannot hold is a 400, not a 500.
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let cursor = URL_SAFE_NO_PAD.encode(format!("{}:{}", i64::MAX / 4, uuid::Uuid::nil()));
    let (status, body) = app
        .get(&format!("/api/courses?cursor={cursor}"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["details"]["cursor"].is_string());
}

#[tokio::test]
async fn sessions_do_not_multiply_the_password_limit_and_the_profile_is_not_in_it() {
    let app = TestApp::spawn_with(|c| {
        c.limits.rate_limit_enabled = true;
        c.limits.rate_limit_auth = "6/60".parse().expect("spec");
    })
    .await;
    let target = app.user("admin").await;
    // Each attempt carries a fresh session of a different account: they are all counted
    // against the one address (each aims at another e-mail, so the per-account throttle stays
    // out of it).
    let mut refused = 0;
    for i in 0..10 {
        let wrong =
            json!({"email": format!("guess-{i}@example.com"), "password": "not-the-password"});
        let other = app.user("student").await;
        let (status, _, _) = app
            .request(
                Method::POST,
                "/api/auth/login",
                other.t(),
                Some(wrong.clone()),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert_eq!(
        refused, 4,
        "6 of 10 attempts pass, whatever session they carry"
    );
    // The profile and logout are not password attempts.
    for _ in 0..10 {
        assert_eq!(app.get("/api/auth/me", target.t()).await.0, StatusCode::OK);
    }
    let (status, headers, _) = app
        .request(Method::POST, "/api/auth/logout", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["ratelimit-policy"], "\"default\";q=60;w=60");
}

#[tokio::test]
async fn failed_sign_ins_at_one_account_slow_down_attempts_from_any_address() {
    let app = TestApp::spawn().await;
    let target = app.user("student").await;
    let wrong = json!({"email": target.email, "password": "not-the-password"});
    for _ in 0..crate_free_failures() {
        let (status, body) = app.post("/api/auth/login", None, wrong.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // The next attempt, even with the right password, waits: the account is being guessed.
    let right = json!({"email": target.email.to_uppercase(), "password": PASSWORD});
    let (status, headers, body) = app
        .request(Method::POST, "/api/auth/login", None, Some(right.clone()))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(headers["retry-after"].to_str().is_ok_and(|s| s == "1"));
    // Another account is not affected, and the wait is short.
    let other = app.user("student").await;
    let (status, _) = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": other.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = app.post("/api/auth/login", None, right).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn crate_free_failures() -> u32 {
    elearning_api::guard::FREE_FAILURES
}

#[tokio::test]
async fn a_suspended_account_does_not_confirm_its_password() {
    let app = TestApp::spawn().await;
    let student = app.user("student").await;
    app.sql()
        .await
        .execute(
            "update app_user set status = 'suspended' where id = $1",
            &[&student.id],
        )
        .await
        .expect("suspend");
    let (status, right) = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": student.email, "password": PASSWORD}),
        )
        .await;
    let (_, wrong) = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": student.email, "password": "nope-nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        right, wrong,
        "the right and a wrong password get the same answer"
    );
}

#[tokio::test]
async fn wrong_operator_tokens_slow_their_sender_down() {
    let app = TestApp::spawn().await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let res = app
            .client
            .get(format!("{}/metrics", app.addr))
            .bearer_auth("a-wrong-operator-token-guess")
            .send()
            .await
            .expect("request");
        statuses.push(res.status());
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "guesses are throttled: {statuses:?}"
    );
}
