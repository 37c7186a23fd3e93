//! The service as a process of its own, for tests that measure its memory: the test binary runs
//! many tests at once, so its own peak resident set says nothing about one of them.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use uuid::Uuid;

use super::{OPS_TOKEN, PASSWORD, TestDb, dead_port};

/// `elearning-api serve` on a database of its own.
pub struct ChildServer {
    /// `http://127.0.0.1:<port>`.
    pub addr: String,
    /// An HTTP client.
    pub client: reqwest::Client,
    child: Child,
    pid: u32,
    db: TestDb,
}

impl ChildServer {
    /// Starts the binary with the test settings and `env` on top; waits until it is ready.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let db = TestDb::create().await;
        let port = dead_port().await;
        let redis =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_elearning-api"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATABASE_URL", db.url())
            .env("REDIS_URL", redis)
            .env(
                "REDIS_KEY_PREFIX",
                format!("test:{}:", Uuid::new_v4().simple()),
            )
            .env("JWT_SECRET", "test-secret-test-secret-test-secret!")
            .env("OPS_TOKEN", OPS_TOKEN)
            .env("MIN_CONNECTIONS", "1")
            .env("MAX_CONNECTIONS", "5")
            .env("RATE_LIMIT_ENABLED", "false")
            .env("SHUTDOWN_DRAIN_DELAY", "0")
            .env("RUST_LOG", "error")
            .envs(env.iter().copied())
            .kill_on_drop(true);
        let child = cmd.spawn().expect("start elearning-api serve");
        let pid = child.id().expect("a pid");
        let server = Self {
            addr: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            child,
            pid,
            db,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ready = server
                .client
                .get(format!("{}/api/performance/health", server.addr))
                .send()
                .await
                .ok();
            if let Some(res) = ready
                && res
                    .json::<Value>()
                    .await
                    .is_ok_and(|h| h["phase"] == "ready")
            {
                return server;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the child server never became ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A `/proc/<pid>/status` figure in KiB (`VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("the child's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.pid))
    }

    /// The resident set now, MiB.
    pub fn rss_mib(&self) -> u64 {
        self.status_kib("VmRSS") / 1024
    }

    /// The peak resident set so far (`VmHWM`), MiB.
    pub fn peak_rss_mib(&self) -> u64 {
        self.status_kib("VmHWM") / 1024
    }

    /// A user with `role`, signed in; returns its id and session token.
    pub async fn user(&self, role: &str) -> (Uuid, String) {
        let email = format!("{role}-{}@example.com", Uuid::new_v4().simple());
        let (client, conn) = tokio_postgres::connect(&self.db.url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let id: Uuid = client
            .query_one(
                "insert into app_user (email, password_hash, first_name, last_name, role) \
                 values ($1, $2, 'Test', $3, $4) returning id",
                &[&email, &super::password_hash(), &role, &role],
            )
            .await
            .expect("insert user")
            .get(0);
        let res = self
            .client
            .post(format!("{}/api/auth/login", self.addr))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.expect("login body");
        (id, body["token"].as_str().expect("token").to_owned())
    }

    /// Runs `sql` on the server's database.
    pub async fn sql(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) {
        let (client, conn) = tokio_postgres::connect(&self.db.url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client.execute(sql, params).await.expect("sql");
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
