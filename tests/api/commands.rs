//! The operator subcommands, run as a process like an operator would.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, TestDb};

fn cli(db: &TestDb, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_elearning-api"))
        .args(args)
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "warn")
        .env_remove("JWT_SECRET")
        .output()
        .expect("run elearning-api")
}

#[tokio::test]
async fn create_user_makes_an_admin_who_can_log_in() {
    let app = TestApp::spawn().await;
    let db = app.db.as_ref().expect("db");
    let out = cli(
        db,
        &[
            "create-user",
            "--email",
            "ops@example.com",
            "--password",
            "a long passphrase",
            "--role",
            "admin",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "ops@example.com", "password": "a long passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["role"], "admin");
    let again = cli(
        db,
        &[
            "create-user",
            "--email",
            "OPS@example.com",
            "--password",
            "a long passphrase",
            "--role",
            "admin",
        ],
    );
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("already exists") && stderr.lines().count() == 1,
        "{stderr}"
    );
    let short = cli(
        db,
        &[
            "create-user",
            "--email",
            "x@example.com",
            "--password",
            "short",
            "--role",
            "student",
        ],
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));
}

#[tokio::test]
async fn seed_fills_an_empty_database_reproducibly_and_only_once() {
    let first = TestDb::create().await;
    let second = TestDb::create().await;
    for db in [&first, &second] {
        let out = cli(
            db,
            &["seed", "--users", "60", "--courses", "12", "--seed", "7"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let snapshot = |db: &TestDb| {
        let url = db.url();
        async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            let row = client
                .query_one(
                    "select (select count(*) from app_user), (select count(*) from course), (select count(*) from lesson),
                            (select count(*) from enrollment), (select count(*) from quiz_attempt),
                            (select string_agg(id::text || title, ',' order by id) from course)",
                    &[],
                )
                .await
                .expect("snapshot");
            (
                row.get::<_, i64>(0),
                row.get::<_, i64>(1),
                row.get::<_, i64>(2),
                row.get::<_, i64>(3),
                row.get::<_, i64>(4),
                row.get::<_, String>(5),
            )
        }
    };
    let a = snapshot(&first).await;
    let b = snapshot(&second).await;
    assert_eq!(a.0, 60);
    assert_eq!(a.1, 12);
    assert!(a.2 >= 12 * 3 * 3 && a.3 > 0 && a.4 > 0, "{a:?}");
    assert_eq!(a, b, "same seed, same data");
    let out = cli(&first, &["seed", "--users", "60", "--courses", "12"]);
    assert!(out.status.success());
    assert_eq!(snapshot(&first).await.0, 60, "a second seed adds nothing");
}
