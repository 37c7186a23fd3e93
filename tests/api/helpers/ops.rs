//! Arranging what operators are told about: an app that pushes alerts to the stand-in Bot API,
//! a database grown past its quota (and shrunk back), and waits on the notifier's figures.

use std::time::{Duration, Instant};

use elearning_api::config::{Config, SummaryHour};
use secrecy::SecretString;
use serde_json::Value;

use super::{
    OPS_TOKEN, TestApp, TestDb,
    bot::with_bot,
    bot_api::{BOT_TOKEN, FakeBotApi},
    test_config,
};

const MIB: u64 = 1024 * 1024;

/// Size of a database, bytes.
pub async fn database_size(db: &TestDb) -> u64 {
    let (client, conn) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let size: i64 = client
        .query_one("select pg_database_size(current_database())", &[])
        .await
        .expect("size")
        .get(0);
    u64::try_from(size).expect("size")
}

/// Turns on what operators are told, through `api`: the bot with its two operators, quotas
/// checked every 200 ms, and `DATABASE_QUOTA_MB` 4 MiB above the database's size `base`, so
/// [`grow`] takes it past 80 % and [`shrink`] back under. No daily summary.
pub fn notifying(c: &mut Config, api: &FakeBotApi, base: u64) {
    with_bot(c);
    c.telegram.telegram_bot_token = Some(SecretString::from(BOT_TOKEN.to_owned()));
    c.telegram.telegram_api_base = api.base.clone();
    c.ops.quota_check_interval = Duration::from_millis(200);
    c.ops.database_quota_mb = Some(base.div_ceil(MIB) + 4);
    c.notify.daily_summary_hour = SummaryHour(None);
    // The test process holds many apps: its memory is not this app's.
    c.ops.memory_limit_mb = 1 << 20;
}

/// A ready app that tells its operators through `api`, tweaked by `tweak`.
pub async fn notifying_app(api: &FakeBotApi, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDb::create().await;
    let mut config = test_config(&db.url());
    notifying(&mut config, api, database_size(&db).await);
    tweak(&mut config);
    let mut app = TestApp::start(config).await;
    app.db = Some(db);
    app.wait_until(|h| h["phase"] == "ready").await;
    app
}

/// Adds a table of about `mib` MiB.
pub async fn grow(app: &TestApp, table: &str, mib: u64) {
    // 1 KB rows, below the size at which PostgreSQL would compress them.
    app.sql()
        .await
        .execute(
            &format!(
                "create table {table} as select repeat('x', 1000) || g as pad \
                 from generate_series(1, {}) g",
                mib * 1024
            ),
            &[],
        )
        .await
        .expect("grow the database");
}

/// Drops a table [`grow`] made (its file is emptied at once).
pub async fn shrink(app: &TestApp, table: &str) {
    app.sql()
        .await
        .execute(&format!("drop table {table}"), &[])
        .await
        .expect("shrink the database");
}

/// The operations stats.
pub async fn stats(app: &TestApp) -> Value {
    app.get("/api/performance/stats", Some(OPS_TOKEN)).await.1
}

/// Whether `alert` is raised on `app`.
pub async fn raised(app: &TestApp, alert: &str) -> bool {
    stats(app).await["alerts"]
        .as_array()
        .is_some_and(|a| a.iter().any(|a| a["name"] == alert))
}

/// Polls `app`'s stats until `pred` holds (panics after 20 s with the last stats).
pub async fn wait_stats(app: &TestApp, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = stats(app).await;
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "never {what}: {} / {}",
            s["alerts"],
            s["notifications"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `alert` is raised (`true`) or cleared on `app`.
pub async fn wait_raised(app: &TestApp, alert: &str, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while raised(app, alert).await != up {
        assert!(Instant::now() < deadline, "{alert} never became {up}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The notifier's counter `field` on `app`.
pub fn counter(stats: &Value, field: &str) -> u64 {
    stats["notifications"][field].as_u64().unwrap_or(0)
}

/// The messages delivered to `chat` about `alert`.
pub fn about(api: &FakeBotApi, chat: i64, alert: &str) -> Vec<String> {
    api.delivered(chat)
        .into_iter()
        .filter(|t| t.contains(&format!(": {alert}</b>")))
        .collect()
}
