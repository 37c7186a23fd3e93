//! Health in its three states (API.md §3) and recovery.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{TestApp, TestDb, dead_port, proxy::ChaosProxy, test_config};

#[tokio::test]
async fn health_is_healthy_with_every_field_of_the_contract() {
    let app = TestApp::spawn().await;
    let body = app.wait_until(|h| h["overall"] == "healthy").await;
    let (status, _) = app.get_health().await;
    assert_eq!(status, StatusCode::OK);
    for ptr in [
        "/timestamp",
        "/systems/cache/status",
        "/systems/cache/memoryCacheSize",
        "/systems/cache/redisConnected",
        "/systems/connectionPool/status",
        "/systems/connectionPool/totalConnections",
        "/systems/connectionPool/activeConnections",
        "/systems/connectionPool/idleConnections",
        "/systems/connectionPool/waitingRequests",
        "/systems/redis/status",
        "/systems/redis/connected",
        "/performance/responseTime",
        "/performance/uptime",
        "/performance/memory/rss",
        "/performance/memory/heapUsed",
        "/performance/memory/heapTotal",
    ] {
        assert!(body.pointer(ptr).is_some(), "{ptr} missing from {body}");
    }
    assert_eq!(body["systems"]["redis"]["connected"], true);
    assert!(
        body["performance"]["memory"]["rss"].as_u64().unwrap_or(0) > 1_000_000,
        "rss is real: {body}"
    );
    assert!(
        body["performance"]["memory"]["heapUsed"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    let ts = body["timestamp"].as_str().unwrap_or_default();
    assert!(ts.ends_with('Z') && ts.len() == 24, "ISO with millis: {ts}");
}

#[tokio::test]
async fn pool_opens_min_connections_at_start() {
    let app = TestApp::spawn_with(|c| {
        c.db.min_connections = 3;
        c.db.max_connections = 6;
    })
    .await;
    let body = app.wait_until(|h| h["overall"] == "healthy").await;
    assert!(
        body["systems"]["connectionPool"]["totalConnections"]
            .as_u64()
            .unwrap_or(0)
            >= 3,
        "{body}"
    );
    assert_eq!(body["systems"]["connectionPool"]["maxConnections"], 6);
}

#[tokio::test]
async fn idle_connections_above_the_minimum_are_closed() {
    let app = TestApp::spawn_with(|c| {
        c.db.min_connections = 1;
        c.db.max_connections = 5;
    })
    .await;
    let pool = &app.state.db;
    let held = futures::future::try_join_all((0..4).map(|_| pool.get()))
        .await
        .expect("grow the pool");
    drop(held);
    assert!(pool.status().size >= 4);
    let closed = elearning_api::db::pool::close_idle(pool, 1, Duration::ZERO);
    assert!(closed >= 3, "closed {closed}");
    assert_eq!(pool.status().size, 1, "the minimum stays open");
}

#[tokio::test]
async fn health_is_degraded_but_200_when_redis_is_unreachable() {
    let port = dead_port().await;
    let app = TestApp::spawn_with(|c| {
        c.redis.redis_url = Some(format!("redis://127.0.0.1:{port}").into());
    })
    .await;
    let body = app.wait_until(|h| h["overall"] == "degraded").await;
    assert_eq!(body["systems"]["redis"]["status"], "unhealthy");
    assert_eq!(body["systems"]["redis"]["connected"], false);
    assert_eq!(body["systems"]["cache"]["redisConnected"], false);
    assert_eq!(body["systems"]["connectionPool"]["status"], "healthy");
    let start = Instant::now();
    let (status, _) = app.get_health().await;
    assert_eq!(status, StatusCode::OK);
    assert!(start.elapsed() < Duration::from_secs(2));
    // Requests that need only PostgreSQL keep working.
    let (status, _) = app.get("/api/health", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn health_is_unhealthy_503_until_postgres_is_reached_then_recovers() {
    let db = TestDb::create().await;
    let proxy = ChaosProxy::start(crate::helpers::db::server_addr(), false).await;
    let mut url = url::Url::parse(&db.url()).expect("url");
    url.set_port(Some(proxy.port())).expect("port");
    let app = TestApp::start(test_config(url.as_str())).await;

    // No PostgreSQL: starting, 503, and database routes answer 503 rather than hang.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = app.get_health().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["overall"], "unhealthy");
    assert_eq!(body["phase"], "starting");
    let (status, headers, body) = app
        .request(
            reqwest::Method::POST,
            "/api/auth/login",
            None,
            Some(serde_json::json!({"email": "a@b.co", "password": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(headers.contains_key("retry-after"));

    // PostgreSQL appears: the boot task's retry gets through without a restart.
    proxy.restore();
    let body = app.wait_until(|h| h["overall"] == "healthy").await;
    assert_eq!(body["phase"], "ready");
}

#[tokio::test]
async fn postgres_lost_after_start_is_degraded_with_fast_503s_and_heals() {
    let db = TestDb::create().await;
    let proxy = ChaosProxy::start(crate::helpers::db::server_addr(), true).await;
    let mut url = url::Url::parse(&db.url()).expect("url");
    url.set_port(Some(proxy.port())).expect("port");
    let mut app = TestApp::start(test_config(url.as_str())).await;
    app.db = Some(db);
    app.wait_until(|h| h["overall"] == "healthy").await;
    let student = app.user("student").await;

    proxy.cut();
    let body = app.wait_until(|h| h["overall"] == "degraded").await;
    assert_eq!(body["systems"]["connectionPool"]["status"], "unhealthy");
    let (status, _) = app.get_health().await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a shared dependency must not get the instance restarted"
    );
    let start = Instant::now();
    let (status, headers, body) = app
        .request(reqwest::Method::GET, "/api/auth/me", student.t(), None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "answered in {:?}",
        start.elapsed()
    );

    proxy.restore();
    app.wait_until(|h| h["overall"] == "healthy").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = app.get("/api/auth/me", student.t()).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "requests did not recover: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_private_postgres_stopped_after_start_degrades_then_heals_without_restart() {
    let pg = crate::helpers::private_pg::PrivatePostgres::start().await;
    let mut app = TestApp::start(test_config(&pg.url("postgres"))).await;
    app.wait_until(|h| h["overall"] == "healthy").await;
    let (status, _) = app.get("/api/courses", None).await;
    assert_eq!(status, StatusCode::OK);

    pg.stop_server();
    let body = app.wait_until(|h| h["overall"] == "degraded").await;
    assert_eq!(body["systems"]["connectionPool"]["status"], "unhealthy");
    // The catalogue read before the outage is still served from the cache...
    let (status, headers, _) = app
        .request(reqwest::Method::GET, "/api/courses", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-cache"], "HIT-MEMORY");
    // ...while anything that needs the database gets a quick 503.
    let start = Instant::now();
    let login = serde_json::json!({"email": "a@example.com", "password": "whatever"});
    let (status, headers, _) = app
        .request(
            reqwest::Method::POST,
            "/api/auth/login",
            None,
            Some(login.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key("retry-after"));
    assert!(start.elapsed() < Duration::from_secs(3));

    pg.start_server();
    app.wait_until(|h| h["overall"] == "healthy").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.post("/api/auth/login", None, login.clone()).await.0 != StatusCode::UNAUTHORIZED {
        assert!(Instant::now() < deadline, "requests did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.trigger_shutdown();
}
