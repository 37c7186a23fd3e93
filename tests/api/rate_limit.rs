//! Rate limits: exact per group, honest headers, identities that cannot be spoofed.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn exactly_the_limit_passes_then_429_with_the_contract_body_and_headers() {
    let app = TestApp::spawn_with(|c| {
        c.limits.rate_limit_enabled = true;
        c.limits.rate_limit_auth = "3/60".parse().expect("spec");
    })
    .await;
    let login = json!({"email": "nobody@example.com", "password": "wrong-password"});
    for expected in ["2", "1", "0"] {
        let (status, headers, _) = app
            .request(Method::POST, "/api/auth/login", None, Some(login.clone()))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers["x-ratelimit-limit"], "3");
        assert_eq!(headers["x-ratelimit-remaining"], expected);
        assert_eq!(headers["ratelimit-policy"], "\"auth\";q=3;w=60");
        assert!(
            headers["ratelimit"]
                .to_str()
                .unwrap_or_default()
                .starts_with(&format!("\"auth\";r={expected};t="))
        );
    }
    let (status, headers, body) = app
        .request(Method::POST, "/api/auth/login", None, Some(login.clone()))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"], "Rate limit exceeded");
    assert_eq!(
        body["message"],
        "Too many requests. Please try again later."
    );
    assert!(body["resetTime"].as_str().is_some_and(|t| t.ends_with('Z')));
    let retry: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((15..=21).contains(&retry), "one request per 20 s: {retry}");
    assert_eq!(headers["x-ratelimit-remaining"], "0");

    // Other groups, health and liveness are not affected.
    assert_eq!(app.get("/api/courses", None).await.0, StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(app.get_health().await.0, StatusCode::OK);
        assert_eq!(app.get("/api/health", None).await.0, StatusCode::OK);
    }
    let (_, stats) = app
        .get("/api/performance/stats", Some(crate::helpers::OPS_TOKEN))
        .await;
    let auth = stats["rateLimits"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group"] == "auth")
        .cloned()
        .expect("auth");
    assert_eq!(auth["allowedIps"], 3);
    assert_eq!(auth["limitedIps"], 1);
}

#[tokio::test]
async fn a_spoofed_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let limited = TestApp::spawn_with(|c| {
        c.limits.rate_limit_enabled = true;
        c.limits.rate_limit_courses = "2/60".parse().expect("spec");
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let res = limited
            .client
            .get(format!("{}/api/courses", limited.addr))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .send()
            .await
            .expect("send");
        statuses.push(res.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "one bucket: the header was ignored"
    );

    let proxied = TestApp::spawn_with(|c| {
        c.limits.rate_limit_enabled = true;
        c.limits.rate_limit_courses = "2/60".parse().expect("spec");
        c.http.trusted_proxies = "127.0.0.1/32".to_owned();
    })
    .await;
    for i in 0..3 {
        let res = proxied
            .client
            .get(format!("{}/api/courses", proxied.addr))
            .header("x-forwarded-for", format!("6.6.6.6, 203.0.113.{i}"))
            .send()
            .await
            .expect("send");
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "each client behind the proxy has its own bucket"
        );
    }
    let res = proxied
        .client
        .get(format!("{}/api/courses", proxied.addr))
        .header("x-forwarded-for", "9.9.9.9, 203.0.113.0")
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.headers()["x-ratelimit-remaining"],
        "0",
        "the left-most, client-chosen entry does not pick the bucket"
    );
}

#[tokio::test]
async fn signed_in_users_have_their_own_allowance_under_an_ip_ceiling() {
    let app = TestApp::spawn_with(|c| {
        c.limits.rate_limit_enabled = true;
        c.limits.rate_limit_default = "2/60".parse().expect("spec");
        c.limits.rate_limit_ip_ceiling = "4/60".parse().expect("spec");
    })
    .await;
    let a = app.user("student").await;
    let b = app.user("student").await;
    let c = app.user("student").await;
    for u in [&a, &b] {
        for _ in 0..2 {
            assert_eq!(app.get("/api/notifications", u.t()).await.0, StatusCode::OK);
        }
        assert_eq!(
            app.get("/api/notifications", u.t()).await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    // The four allowed requests spent the address's ceiling: a third account from the same
    // address is refused by it.
    assert_eq!(
        app.get("/api/notifications", c.t()).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn two_instances_sharing_redis_enforce_one_quota() {
    let a = TestApp::spawn_with(|c| {
        c.limits.rate_limit_enabled = true;
        c.limits.rate_limit_courses = "4/60".parse().expect("spec");
    })
    .await;
    let b = a.spawn_peer().await;
    for app in [&a, &b, &a, &b] {
        assert_eq!(app.get("/api/courses", None).await.0, StatusCode::OK);
    }
    assert_eq!(
        a.get("/api/courses", None).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        b.get("/api/courses", None).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn with_redis_unreachable_each_instance_still_limits() {
    let port = crate::helpers::dead_port().await;
    let app = TestApp::spawn_with(|c| {
        c.redis.redis_url = Some(format!("redis://127.0.0.1:{port}").into());
        c.limits.rate_limit_enabled = true;
        c.limits.rate_limit_courses = "2/60".parse().expect("spec");
    })
    .await;
    let start = std::time::Instant::now();
    assert_eq!(app.get("/api/courses", None).await.0, StatusCode::OK);
    assert_eq!(app.get("/api/courses", None).await.0, StatusCode::OK);
    let (status, headers, _) = app.request(Method::GET, "/api/courses", None, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "never fails open");
    assert!(headers.contains_key("retry-after"));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(2),
        "no stall: {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn bulk_requests_cost_one_unit_per_item() {
    let app = TestApp::spawn_with(|c| {
        c.limits.rate_limit_enabled = true;
        c.limits.rate_limit_quizzes = "10/60".parse().expect("spec");
        c.limits.rate_limit_role_multipliers = String::new();
    })
    .await;
    let f = app.user("formateur").await;
    let ids = |n: usize| {
        (0..n)
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect::<Vec<_>>()
    };
    // Eight unknown quizzes: eight units are spent, then the 404.
    let (status, _) = app
        .post(
            "/api/formateur/quizzes/stats-batch",
            f.t(),
            json!({"quizIds": ids(8)}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .post(
            "/api/formateur/quizzes/stats-batch",
            f.t(),
            json!({"quizIds": ids(4)}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "12 units > 10 (or 11 with the earned allowance): {body}"
    );
    assert_eq!(body["error"], "Rate limit exceeded");
    let (status, _) = app
        .post(
            "/api/formateur/quizzes/stats-batch",
            f.t(),
            json!({"quizIds": ids(31)}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the list is capped"
    );
}

#[tokio::test]
async fn the_allowance_rises_with_good_behaviour_and_falls_with_abuse() {
    let app = TestApp::spawn_with(|c| {
        c.limits.rate_limit_enabled = true;
        c.limits.rate_limit_default = "10/60".parse().expect("spec");
    })
    .await;
    let s = app.user("student").await;
    let mut limits = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let (status, headers, _) = app
            .request(Method::GET, "/api/notifications", s.t(), None)
            .await;
        statuses.push(status);
        limits.push(
            headers["x-ratelimit-limit"]
                .to_str()
                .expect("ascii")
                .parse::<u32>()
                .expect("number"),
        );
    }
    assert_eq!(limits[0], 10, "starts at the base");
    let peak = *limits.iter().max().expect("some");
    assert!(
        peak > 10 && peak <= 15,
        "well-behaved callers earn more, at most 1.5x: {limits:?}"
    );
    let allowed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(
        allowed > 10 && allowed <= 15,
        "{allowed} allowed: {statuses:?}"
    );
    assert!(
        *limits.last().expect("some") < peak,
        "callers who keep hitting the limit get less: {limits:?}"
    );
    assert!(
        limits.iter().all(|l| *l >= 5),
        "never below 0.5x: {limits:?}"
    );
}

#[tokio::test]
async fn trusted_roles_get_a_larger_allowance() {
    let app = TestApp::spawn_with(|c| {
        c.limits.rate_limit_enabled = true;
        c.limits.rate_limit_default = "10/60".parse().expect("spec");
        c.limits.rate_limit_role_multipliers = "admin=2".to_owned();
    })
    .await;
    let admin = app.user("admin").await;
    let (_, headers, _) = app
        .request(Method::GET, "/api/notifications", admin.t(), None)
        .await;
    assert_eq!(headers["x-ratelimit-limit"], "20");
}

#[tokio::test]
async fn leased_slices_never_let_two_instances_admit_more_than_the_quota() {
    let a = TestApp::spawn_with(|c| {
        c.limits.rate_limit_enabled = true;
        // 40/60: each instance leases four cells at a time.
        c.limits.rate_limit_courses = "40/60".parse().expect("spec");
    })
    .await;
    let b = a.spawn_peer().await;
    let (mut allowed, mut refused) = (0, 0);
    for i in 0..150 {
        let app = if i % 3 == 0 { &b } else { &a };
        let (status, headers, _) = app.request(Method::GET, "/api/courses", None, None).await;
        assert!(headers.contains_key("x-ratelimit-remaining"));
        match status {
            StatusCode::OK => allowed += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    // At most the quota grown by the adaptive 1.5x (60), at least the quota less the slices the
    // two instances may still hold unused.
    assert!(
        (34..=60).contains(&allowed),
        "{allowed} admitted, {refused} refused"
    );
    assert_eq!(allowed + refused, 150);
}

#[tokio::test]
async fn a_busy_caller_costs_one_redis_call_per_slice_not_per_request() {
    let app = TestApp::spawn_with(|c| {
        c.limits.rate_limit_enabled = true;
        // Slices of 100 cells.
        c.limits.rate_limit_courses = "100000/60".parse().expect("spec");
        c.limits.rate_limit_ip_ceiling = "100000/60".parse().expect("spec");
    })
    .await;
    let calls = async || {
        let (_, stats) = app
            .get("/api/performance/stats", Some(crate::helpers::OPS_TOKEN))
            .await;
        stats["rateLimitRedisCalls"].as_u64().expect("count")
    };
    let before = calls().await;
    // 400 requests, 50 at a time: requests arriving while a slice is being fetched spend what
    // is left of the previous one instead of each asking Redis.
    for _ in 0..8 {
        let batch = (0..50).map(|_| app.get("/api/courses", None));
        for (status, _) in futures::future::join_all(batch).await {
            assert_eq!(status, StatusCode::OK);
        }
    }
    let made = calls().await - before;
    assert!(
        (1..=40).contains(&made),
        "{made} Redis round trips for 400 requests"
    );
}
