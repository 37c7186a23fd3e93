//! The test harness: [`TestApp::spawn`] boots the real service (the same `App::build` as
//! production) on port 0 with a database and a Redis key prefix of its own.

pub mod bot;
pub mod bot_api;
pub mod child;
pub mod db;
pub mod firebase;
pub mod ops;
pub mod private_pg;
pub mod proxy;

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use clap::Parser;
use elearning_api::{app::App, cli::Cli, config::Config, state::AppState};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::{sync::oneshot, task::JoinHandle};
use uuid::Uuid;

pub use db::TestDb;

/// A configuration for tests: port 0, small pool, short timeouts, its own Redis prefix.
pub fn test_config(database_url: &str) -> Config {
    let mut config = Cli::try_parse_from(["elearning-api"])
        .expect("default config")
        .config;
    config.http.host = "127.0.0.1".parse().expect("ip");
    config.http.port = 0;
    config.http.shutdown_drain_delay = Duration::from_millis(0);
    config.http.shutdown_timeout = Duration::from_secs(10);
    config.db.database_url = SecretString::from(database_url.to_owned());
    config.db.min_connections = 1;
    config.db.max_connections = 5;
    config.db.pool_acquire_timeout = Duration::from_millis(1500);
    config.redis.redis_url = Some(SecretString::from(
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
    ));
    config.redis.redis_key_prefix = format!("test:{}:", Uuid::new_v4().simple());
    config.auth.jwt_secret = Some(SecretString::from(
        "test-secret-test-secret-test-secret!".to_owned(),
    ));
    config.ops.ops_token = Some(SecretString::from(OPS_TOKEN.to_owned()));
    // Tests make many requests from one address; the rate-limit tests turn it back on.
    config.limits.rate_limit_enabled = false;
    config
}

/// The operator token of test apps.
pub const OPS_TOKEN: &str = "test-operator-token-0123456789";

/// A port with nothing listening on it.
pub async fn dead_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    l.local_addr().expect("addr").port()
}

/// A running service under test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub addr: String,
    /// HTTP client (no cookie store: tests pass credentials explicitly).
    pub client: reqwest::Client,
    /// The service's state, for reaching its pool or config.
    pub state: AppState,
    /// The database, dropped with the app (None when the test brought its own URL).
    pub db: Option<TestDb>,
    shutdown: Option<oneshot::Sender<()>>,
    /// The server task; resolves when the service has stopped.
    pub server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// A ready app on a fresh database.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A ready app on a fresh database, with `tweak` applied to the test config.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::create().await;
        let mut config = test_config(&db.url());
        tweak(&mut config);
        let mut app = Self::start(config).await;
        app.db = Some(db);
        app.wait_until(|h| h["phase"] == "ready").await;
        app
    }

    /// Starts an app on `config` without waiting for it to be ready.
    pub async fn start(config: Config) -> Self {
        elearning_api::telemetry::init_for_tests();
        let app = App::build(config).await.expect("build app");
        let addr = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            state,
            db: None,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// A second instance of the same service: same database, same Redis and key prefix.
    pub async fn spawn_peer(&self) -> Self {
        let mut config = self.state.config.clone();
        config.http.port = 0;
        let peer = Self::start(config).await;
        peer.wait_until(|h| h["phase"] == "ready").await;
        peer
    }

    /// A Redis client on the test Redis.
    pub async fn redis(&self) -> fred::clients::Client {
        use fred::interfaces::ClientLike;
        let url =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let client = fred::types::Builder::from_config(
            fred::types::config::Config::from_url(&url).expect("redis url"),
        )
        .build()
        .expect("redis client");
        client.init().await.expect("connect to the test Redis");
        client
    }

    /// This app's Redis key prefix.
    pub fn prefix(&self) -> String {
        self.state.config.redis.redis_key_prefix.clone()
    }

    /// Asks the service to stop (as SIGTERM would).
    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// The health body, polled until `pred` holds (panics after 20 s).
    pub async fn wait_until(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (_, body) = self.get_health().await;
            if pred(&body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "health never reached the expected state: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET /api/performance/health`.
    pub async fn get_health(&self) -> (StatusCode, Value) {
        let (status, _, body) = self
            .request(Method::GET, "/api/performance/health", None, None)
            .await;
        (status, body)
    }

    /// Sends a request; returns status, headers and the JSON body (Null when not JSON).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.addr));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request failed");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// The `/metrics` text, read with the operator token.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.addr))
            .bearer_auth(OPS_TOKEN)
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("metrics text")
    }

    /// GET with an optional token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let (s, _, b) = self.request(Method::GET, path, token, None).await;
        (s, b)
    }

    /// POST JSON with an optional token.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let (s, _, b) = self.request(Method::POST, path, token, Some(body)).await;
        (s, b)
    }

    /// PUT JSON with an optional token.
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let (s, _, b) = self.request(Method::PUT, path, token, Some(body)).await;
        (s, b)
    }

    /// PATCH JSON with an optional token.
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let (s, _, b) = self.request(Method::PATCH, path, token, Some(body)).await;
        (s, b)
    }

    /// DELETE with an optional token.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let (s, _, b) = self.request(Method::DELETE, path, token, None).await;
        (s, b)
    }

    /// A direct connection to the app's database, for arranging and asserting.
    pub async fn sql(&self) -> tokio_postgres::Client {
        let url = self
            .db
            .as_ref()
            .expect("app has its own test database")
            .url();
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect test db");
        tokio::spawn(conn);
        client
    }

    /// Creates a user with `role` directly in the database and returns its id and a token.
    pub async fn user(&self, role: &str) -> TestUser {
        let email = format!("{role}-{}@example.com", Uuid::new_v4().simple());
        let row = self
            .sql()
            .await
            .query_one(
                "insert into app_user (email, password_hash, first_name, last_name, role) values ($1, $2, 'Test', $3, $4) returning id",
                &[&email, &password_hash(), &role, &role],
            )
            .await
            .expect("insert user");
        let id: Uuid = row.get(0);
        let token = self.state.jwt.issue(id, role).expect("token");
        TestUser { id, email, token }
    }

    /// The socket address of the service.
    pub fn socket(&self) -> SocketAddr {
        self.addr
            .trim_start_matches("http://")
            .parse()
            .expect("addr")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.trigger_shutdown();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

impl TestApp {
    /// Creates a course owned by `owner` through the API; returns its JSON.
    pub async fn course(&self, owner: &TestUser, title: &str) -> Value {
        let (status, body) = self
            .post("/api/courses", owner.t(), course_body(title))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create course: {body}");
        body["course"].clone()
    }

    /// Creates and approves a course; `requires_approval` sets its enrollment mode.
    pub async fn published_course(
        &self,
        owner: &TestUser,
        title: &str,
        requires_approval: bool,
    ) -> Value {
        let mut body = course_body(title);
        body["requiresApproval"] = json!(requires_approval);
        let (status, created) = self.post("/api/courses", owner.t(), body).await;
        assert_eq!(status, StatusCode::CREATED, "create course: {created}");
        let id = created["id"].as_str().expect("id").to_owned();
        let admin = self.user("admin").await;
        let (status, body) = self
            .post(
                "/api/admin/course-approval",
                admin.t(),
                json!({"courseId": id, "action": "approve"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "approve: {body}");
        self.get(&format!("/api/courses/{id}"), owner.t()).await.1
    }

    /// Enrolls `student` directly in an open course through the API.
    pub async fn enroll(&self, student: &TestUser, course_id: &str) {
        let (status, body) = self
            .post(
                "/api/enrollment",
                student.t(),
                json!({"courseId": course_id}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "enroll: {body}");
    }
}

/// A user created by [`TestApp::user`].
#[derive(Debug, Clone)]
pub struct TestUser {
    /// User id.
    pub id: Uuid,
    /// E-mail.
    pub email: String,
    /// A valid session token.
    pub token: String,
}

impl TestUser {
    /// The token as `Some(&str)`, for request helpers.
    pub fn t(&self) -> Option<&str> {
        Some(&self.token)
    }
}

/// Password of users made by [`TestApp::user`].
pub const PASSWORD: &str = "password123";

fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| elearning_api::password::hash_blocking(PASSWORD).expect("hash"))
        .clone()
}

/// A valid course creation body.
pub fn course_body(title: &str) -> Value {
    json!({
        "title": title,
        "description": "A thorough course description that is long enough.",
        "category": "programming",
        "level": "beginner",
        "modules": [
            {"title": "Getting started", "lessons": [
                {"title": "Welcome", "contentType": "text", "content": "Hello and welcome", "duration": 5},
                {"title": "Setup", "contentType": "video", "url": "https://example.com/setup.mp4", "duration": 10}
            ]},
            {"title": "Going further", "lessons": [
                {"title": "Deep dive", "contentType": "document", "content": "Details", "duration": 20}
            ]}
        ]
    })
}
