//! `elearning-api check`, run as Render's pre-deploy command would: against a good environment,
//! a broken one, a database with its migrations pending, and a role without privileges.

use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{
    TestDb,
    bot::SECRET,
    bot_api::{BOT_TOKEN, FakeBotApi},
    db::{admin_url, url_for},
};

const JWT: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const OPS: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
const WEBHOOK_URL: &str = "https://bot.example.com/api/bot/webhook";

/// Every variable the command reads, removed so the caller's environment cannot leak in.
const VARS: [&str; 22] = [
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_PASSWORD",
    "REDIS_KEY_PREFIX",
    "JWT_SECRET",
    "OPS_TOKEN",
    "APP_ENV",
    "MIN_CONNECTIONS",
    "MAX_CONNECTIONS",
    "ALERT_QUOTA_PERCENT",
    "DATABASE_QUOTA_MB",
    "REDIS_QUOTA_MB",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_WEBHOOK_URL",
    "TELEGRAM_API_BASE",
    "TELEGRAM_ADMIN_IDS",
    "CORS_ORIGINS",
    "LOG_FORMAT",
    "RUST_LOG",
];

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }

    /// The lines of the text report with `status` (`ok`, `warn`, `fail`, `skip`).
    fn lines(&self, status: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{status:<4}  ")))
            .collect()
    }
}

async fn check(args: &[&str], env: &[(&str, String)]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_elearning-api"));
    cmd.arg("check").args(args);
    for var in VARS {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run elearning-api check");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A deployment as it should be: a migrated database, Redis, strong secrets, a bot whose
/// webhook is registered where it should be.
fn good_env(database_url: String, api: &FakeBotApi) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url),
        ("REDIS_URL", redis_url()),
        (
            "REDIS_KEY_PREFIX",
            format!("test:{}:", Uuid::new_v4().simple()),
        ),
        ("JWT_SECRET", JWT.to_owned()),
        ("OPS_TOKEN", OPS.to_owned()),
        ("DATABASE_QUOTA_MB", "1024".to_owned()),
        ("TELEGRAM_BOT_TOKEN", BOT_TOKEN.to_owned()),
        ("TELEGRAM_API_BASE", api.base.clone()),
        ("TELEGRAM_WEBHOOK_URL", WEBHOOK_URL.to_owned()),
        ("TELEGRAM_WEBHOOK_SECRET", SECRET.to_owned()),
        ("TELEGRAM_ADMIN_IDS", "4242".to_owned()),
    ]
}

fn finding<'a>(report: &'a Value, check: &str, status: &str) -> Vec<&'a str> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"] == check && f["status"] == status)
        .filter_map(|f| f["message"].as_str())
        .collect()
}

#[tokio::test]
async fn a_good_environment_passes_with_every_check_reported() {
    let db = TestDb::create().await;
    let api = FakeBotApi::start().await;
    let env = good_env(db.url(), &api);

    let run = check(&["--json"], &env).await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["problems"], 0);
    assert_eq!(
        finding(&report, "config", "ok"),
        ["every setting valid (APP_ENV=development)"]
    );
    assert!(finding(&report, "secrets", "ok")[0].starts_with("3 secret(s) of at least 128 bits"));
    let pg = finding(&report, "postgres", "ok");
    assert!(
        pg.len() == 1 && pg[0].contains(&db.name) && pg[0].contains("reads and writes all"),
        "{report}"
    );
    assert_eq!(
        finding(&report, "migrations", "ok"),
        ["5 applied, none pending"]
    );
    assert_eq!(report["migrations"]["applied"][0], "V1__init");
    assert_eq!(report["migrations"]["pending"], serde_json::json!([]));
    assert!(
        finding(&report, "redis", "ok")[0].contains("writable"),
        "{report}"
    );
    assert_eq!(
        finding(&report, "telegram", "ok"),
        [format!(
            "the bot token works; webhook registered at {WEBHOOK_URL} (3 update(s) pending)"
        )]
    );
    assert!(
        api.calls().iter().any(|c| c.method == "getWebhookInfo"),
        "the webhook was asked about"
    );

    let text = check(&[], &env).await;
    assert!(text.ok, "{}", text.stdout);
    assert!(text.lines("fail").is_empty(), "{}", text.stdout);
    assert!(
        text.stdout
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("all checks passed"))
    );
    assert!(text.stderr.is_empty(), "{}", text.stderr);
}

#[tokio::test]
async fn a_broken_environment_fails_with_one_line_per_problem() {
    let api = FakeBotApi::start().await;
    api.register_webhook("https://old.example.com/api/bot/webhook");
    let dead_pg = crate::helpers::dead_port().await;
    let dead_redis = crate::helpers::dead_port().await;
    let weak = "secret-secret-secret-secret-secret!";
    let env = vec![
        (
            "DATABASE_URL",
            format!("postgres://root@127.0.0.1:{dead_pg}/elearning"),
        ),
        ("REDIS_URL", format!("redis://127.0.0.1:{dead_redis}")),
        ("JWT_SECRET", weak.to_owned()),
        ("OPS_TOKEN", weak.to_owned()),
        ("MIN_CONNECTIONS", "9".to_owned()),
        ("MAX_CONNECTIONS", "5".to_owned()),
        ("ALERT_QUOTA_PERCENT", "120".to_owned()),
        ("TELEGRAM_BOT_TOKEN", BOT_TOKEN.to_owned()),
        ("TELEGRAM_API_BASE", api.base.clone()),
        ("TELEGRAM_WEBHOOK_URL", WEBHOOK_URL.to_owned()),
        ("TELEGRAM_WEBHOOK_SECRET", SECRET.to_owned()),
        ("TELEGRAM_ADMIN_IDS", "4242".to_owned()),
    ];

    let run = check(&[], &env).await;
    assert!(!run.ok, "{}", run.stdout);
    let fails = run.lines("fail");
    let expected = [
        (
            "config",
            "ALERT_QUOTA_PERCENT: must be a percentage between 0 and 100",
        ),
        ("config", "MIN_CONNECTIONS: must not exceed MAX_CONNECTIONS"),
        ("secrets", "JWT_SECRET: only 7 different characters"),
        ("secrets", "OPS_TOKEN: only 7 different characters"),
        ("secrets", "JWT_SECRET and OPS_TOKEN are the same value"),
        ("postgres", "DATABASE_URL: cannot connect to 127.0.0.1:"),
        ("redis", "Redis at 127.0.0.1:"),
        (
            "telegram",
            "the webhook is registered at https://old.example.com/api/bot/webhook, not at TELEGRAM_WEBHOOK_URL",
        ),
    ];
    for (check, text) in expected {
        assert!(
            fails
                .iter()
                .any(|l| l.contains(&format!("  {check:<10}  ")) && l.contains(text)),
            "no fail line for {check}: {text}\n{}",
            run.stdout
        );
    }
    assert_eq!(
        fails.len(),
        expected.len(),
        "one line per problem:\n{}",
        run.stdout
    );
    assert!(!run.stdout.contains(weak), "secrets are never printed");
    let stderr: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        stderr,
        ["error: 8 problem(s): the lines marked fail must be fixed before this deploy goes ahead"]
    );

    let report = check(&["--json"], &env).await;
    assert!(!report.ok);
    let report = report.json();
    assert_eq!(report["ok"], false);
    assert_eq!(report["problems"], 8);
}

/// A database made empty (not from the migrated template), dropped as a [`TestDb`] is.
struct EmptyDb;

impl EmptyDb {
    async fn create() -> TestDb {
        let name = format!("test_{}", Uuid::new_v4().simple());
        let (admin, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        admin
            .execute(&format!("create database {name}"), &[])
            .await
            .expect("create database");
        TestDb { name }
    }
}

#[tokio::test]
async fn pending_migrations_are_listed_and_applied_by_migrate_once_all_else_passes() {
    let db = EmptyDb::create().await;
    let api = FakeBotApi::start().await;
    let mut env = good_env(db.url(), &api);

    let run = check(&["--json"], &env).await;
    assert!(run.ok, "pending migrations are no failure: {}", run.stdout);
    let report = run.json();
    assert_eq!(report["migrations"]["applied"], serde_json::json!([]));
    let pending = report["migrations"]["pending"].as_array().expect("pending");
    assert_eq!(pending.len(), 5);
    assert_eq!(pending[4], "V5__uploaded_images");
    assert!(
        finding(&report, "migrations", "warn")[0]
            .starts_with("0 applied, 5 pending: V1__init, V2__")
    );

    // With a problem elsewhere, --migrate leaves the database alone.
    env.retain(|(k, _)| *k != "OPS_TOKEN");
    env.push(("OPS_TOKEN", JWT.to_owned()));
    let refused = check(&["--migrate", "--json"], &env).await;
    assert!(!refused.ok);
    let refused = refused.json();
    assert_eq!(
        finding(&refused, "migrations", "skip"),
        ["not applied: 1 problem(s) above"]
    );
    assert_eq!(refused["migrations"]["appliedNow"], serde_json::json!([]));

    env.retain(|(k, _)| *k != "OPS_TOKEN");
    env.push(("OPS_TOKEN", OPS.to_owned()));
    let migrated = check(&["--migrate", "--json"], &env).await;
    assert!(migrated.ok, "{}\n{}", migrated.stdout, migrated.stderr);
    let migrated = migrated.json();
    assert_eq!(
        migrated["migrations"]["appliedNow"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    assert!(
        finding(&migrated, "migrations", "ok")[0].starts_with("applied 5 migration(s): V1__init")
    );

    let after = check(&["--json"], &env).await;
    assert!(after.ok);
    assert_eq!(
        finding(&after.json(), "migrations", "ok"),
        ["5 applied, none pending"]
    );
}

#[tokio::test]
async fn a_role_without_privileges_fails_naming_what_it_lacks() {
    let db = TestDb::create().await;
    let api = FakeBotApi::start().await;
    let role = format!("check_{}", Uuid::new_v4().simple());
    let (admin, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    // A login role granted nothing: PUBLIC may connect, but read and write no table.
    admin
        .execute(&format!("create role {role} login"), &[])
        .await
        .expect("create role");
    let mut env = good_env(db.url(), &api);
    env.retain(|(k, _)| *k != "DATABASE_URL");
    let mut url = url::Url::parse(&url_for(&db.name)).expect("url");
    url.set_username(&role).expect("user");
    env.push(("DATABASE_URL", url.to_string()));

    let run = check(&[], &env).await;
    let _ = admin.execute(&format!("drop role {role}"), &[]).await;
    assert!(!run.ok, "{}", run.stdout);
    let fails = run.lines("fail");
    assert_eq!(fails.len(), 1, "{}", run.stdout);
    assert!(
        fails[0].contains(&format!("{role} at ")) && fails[0].contains("lacks DELETE on "),
        "{}",
        fails[0]
    );
}
