//! The global middleware stack: each layer's behaviour, pinned by a test (STYLE §7.8).

use std::time::{Duration, Instant};

use axum::{Router, routing::get};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tower::ServiceExt;

use crate::helpers::TestApp;

#[tokio::test]
async fn every_response_carries_request_id_and_execution_time() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(format!("{}/api/health", app.addr))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("send");
    assert_eq!(res.headers()["x-request-id"], "trace-me-42", "echoed");
    let t = res.headers()["x-execution-time"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        t.ends_with("ms") && t.trim_end_matches("ms").parse::<f64>().is_ok(),
        "{t}"
    );
    let res = app
        .client
        .get(format!("{}/no/such/route", app.addr))
        .send()
        .await
        .expect("send");
    assert!(
        res.headers().contains_key("x-request-id"),
        "generated when absent, also on 404"
    );
    assert!(res.headers().contains_key("x-execution-time"));
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_json_errors() {
    let app = TestApp::spawn().await;
    let (status, headers, body) = app.request(Method::GET, "/api/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["code"], "not_found");
    let (status, _, body) = app.request(Method::DELETE, "/api/health", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "method_not_allowed");
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn oversized_bodies_get_413_json() {
    let app = TestApp::spawn_with(|c| c.http.body_limit = 1024).await;
    let big = "x".repeat(4096);
    let (status, _, body) = app
        .request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": big, "password": "p"})),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "payload_too_large");
    // A body that declares no length (chunked) is cut at the limit as well.
    let mut stream = TcpStream::connect(app.socket()).await.expect("connect");
    let head = "POST /api/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await.expect("write");
    let chunk = format!("{:x}\r\n{}\r\n", 4000, "y".repeat(4000));
    let _ = stream.write_all(chunk.as_bytes()).await;
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("payload_too_large"), "{response}");
}

#[tokio::test]
async fn slow_requests_get_504_json_after_the_request_timeout() {
    let app = TestApp::spawn_with(|c| c.http.request_timeout = Duration::from_millis(300)).await;
    let mut stream = TcpStream::connect(app.socket()).await.expect("connect");
    let start = Instant::now();
    // Declare a body and never finish sending it: the handler waits until the timeout fires.
    let head = "POST /api/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{\"email\":";
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut response = String::new();
    let _ =
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response)).await;
    assert!(response.starts_with("HTTP/1.1 504"), "{response}");
    assert!(response.contains("\"code\":\"timeout\""), "{response}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_json_500() {
    let app = TestApp::spawn().await;
    let router: Router<elearning_api::state::AppState> = Router::new().route(
        "/boom",
        get(|| async {
            if std::hint::black_box(true) {
                panic!("handler bug");
            }
            "unreachable"
        }),
    );
    let svc = elearning_api::middleware::apply(router, &app.state).with_state(app.state.clone());
    let res = svc
        .oneshot(
            axum::http::Request::get("/boom")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(res.headers().contains_key("x-request-id"));
    let bytes = axum::body::to_bytes(res.into_body(), 10_000)
        .await
        .expect("body");
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(body["code"], "internal_error");
    assert!(
        !body.to_string().contains("handler bug"),
        "no internals leak"
    );
}

#[tokio::test]
async fn cors_allows_listed_origins_with_credentials_and_refuses_others() {
    let app =
        TestApp::spawn_with(|c| c.http.cors_origins = vec!["https://app.example.com".to_owned()])
            .await;
    let res = app
        .client
        .request(Method::OPTIONS, format!("{}/api/auth/login", app.addr))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("send");
    assert!(res.status().is_success());
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let res = app
        .client
        .get(format!("{}/api/health", app.addr))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("send");
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn large_responses_are_compressed_when_the_client_accepts_it() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(format!("{}/api/openapi.json", app.addr))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_quickly_instead_of_hanging() {
    let app = TestApp::spawn_with(|c| {
        c.db.min_connections = 1;
        c.db.max_connections = 1;
        c.db.pool_acquire_timeout = Duration::from_millis(300);
    })
    .await;
    let student = app.user("student").await;
    let held = app.state.db.get().await.expect("take the only connection");
    let start = Instant::now();
    let (status, headers, body) = app
        .request(Method::GET, "/api/auth/me", student.t(), None)
        .await;
    let took = start.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "database_unavailable");
    assert!(headers.contains_key("retry-after"));
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    drop(held);
    let (status, _) = app.get("/api/auth/me", student.t()).await;
    assert_eq!(status, StatusCode::OK, "recovers once a connection is free");
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests_and_turns_health_503() {
    let mut app =
        TestApp::spawn_with(|c| c.http.shutdown_drain_delay = Duration::from_millis(700)).await;
    // A request in flight: its body is only half sent.
    let mut stream = TcpStream::connect(app.socket()).await.expect("connect");
    let body = r#"{"email":"nobody@example.com","password":"wrong-password"}"#;
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream
        .write_all(&body.as_bytes()[..10])
        .await
        .expect("write part");
    tokio::time::sleep(Duration::from_millis(100)).await;

    app.trigger_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, health) = app.get_health().await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "draining: {health}"
    );
    assert_eq!(health["phase"], "draining");

    stream
        .write_all(&body.as_bytes()[10..])
        .await
        .expect("write rest");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(
        response.starts_with("HTTP/1.1 401"),
        "the in-flight request completed: {response}"
    );

    let server = app.server.take().expect("server task");
    let result = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stopped in time")
        .expect("join");
    assert!(result.is_ok(), "{result:?}");
    assert!(app.state.db.is_closed(), "pool closed");
    assert!(
        app.client
            .get(format!("{}/api/health", app.addr))
            .send()
            .await
            .is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn beyond_the_in_flight_cap_requests_are_shed_at_once_and_health_still_answers() {
    let app = TestApp::spawn_with(|c| {
        c.http.max_concurrent_requests = 2;
        c.http.max_queued_requests = 1;
        c.http.queue_timeout = Duration::from_millis(50);
    })
    .await;
    // Two requests in flight, each waiting for the rest of its body.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(app.socket()).await.expect("connect");
        let head = "POST /api/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 60\r\nconnection: close\r\n\r\n{\"email\":";
        stream.write_all(head.as_bytes()).await.expect("write");
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    let (status, headers, body) = app.request(Method::GET, "/api/courses", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "overloaded");
    assert!(headers.contains_key("retry-after"));
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "shed quickly: {:?}",
        start.elapsed()
    );
    let (status, _) = app.get_health().await;
    assert_eq!(status, StatusCode::OK, "health is never shed");

    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = app.get("/api/courses", None).await;
    assert_eq!(status, StatusCode::OK, "admitted again once slots are free");
    let (_, stats) = app
        .get("/api/performance/stats", Some(crate::helpers::OPS_TOKEN))
        .await;
    assert!(
        stats["admission"]["shed"].as_u64().unwrap_or(0) >= 1,
        "{stats}"
    );
    assert!(
        stats["admission"]["peakInFlight"].as_u64().unwrap_or(0) >= 2,
        "{stats}"
    );
}

#[tokio::test]
async fn requests_dropped_while_queued_or_running_leave_the_admission_figures_at_zero() {
    use elearning_api::middleware::load_shed::{Admission, admit};
    let admission = std::sync::Arc::new(Admission::new(2, 4, Duration::from_secs(30)));
    // A handler that never finishes: every request is either running or queued until dropped,
    // as when its client goes away.
    let router = axum::Router::new()
        .route("/slow", axum::routing::get(std::future::pending::<()>))
        .layer(axum::middleware::from_fn_with_state(
            admission.clone(),
            admit,
        ));
    let mut calls = Vec::new();
    for _ in 0..5 {
        let req = axum::http::Request::get("/slow")
            .body(axum::body::Body::empty())
            .expect("request");
        calls.push(tokio::spawn(router.clone().oneshot(req)));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while admission.stats().queued < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = admission.stats();
    assert_eq!((stats.in_flight, stats.queued), (2, 3), "{stats:?}");
    // The clients disconnect: their futures are dropped mid-await.
    for call in &calls {
        call.abort();
    }
    for call in calls {
        let _ = call.await;
    }
    let stats = admission.stats();
    assert_eq!((stats.in_flight, stats.queued), (0, 0), "{stats:?}");
    // And the instance still admits: the slots came back too.
    let req = axum::http::Request::get("/slow")
        .body(axum::body::Body::empty())
        .expect("request");
    let running = tokio::spawn(router.oneshot(req));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(admission.stats().in_flight, 1);
    running.abort();
}

#[tokio::test]
async fn answers_during_the_drain_close_their_connection() {
    let mut app = TestApp::spawn_with(|c| {
        c.http.shutdown_drain_delay = Duration::from_millis(1500);
    })
    .await;
    let (_, headers, _) = app
        .request(Method::GET, "/api/performance/health", None, None)
        .await;
    assert!(
        headers.get("connection").is_none(),
        "kept alive while serving"
    );
    app.trigger_shutdown();
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let (status, headers, _) = app
            .request(Method::GET, "/api/performance/health", None, None)
            .await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(headers["connection"], "close");
            break;
        }
        assert!(Instant::now() < deadline, "never saw the drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
