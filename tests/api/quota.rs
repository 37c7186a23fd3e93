//! Quotas against a database grown in the test: the figures in health, stats, `/metrics` and
//! `/quota`, and the alert past `ALERT_QUOTA_PERCENT`.

use elearning_api::config::SummaryHour;

use crate::helpers::{
    TestApp, TestDb,
    bot::{ADMIN, say, with_bot},
    ops::{database_size, grow, raised, shrink},
    test_config,
};

const MIB: u64 = 1024 * 1024;

/// Metric `name` with `label`, from the scrape.
fn sample(metrics: &str, name: &str, label: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}{{{label}}} in the scrape"))
}

#[tokio::test]
async fn quota_figures_follow_a_database_grown_in_the_test() {
    let db = TestDb::create().await;
    let base = database_size(&db).await;
    let quota_mb = base.div_ceil(MIB) + 4;
    let mut config = test_config(&db.url());
    with_bot(&mut config);
    config.ops.quota_check_interval = std::time::Duration::from_millis(200);
    config.ops.database_quota_mb = Some(quota_mb);
    config.ops.redis_quota_mb = Some(1024);
    config.notify.daily_summary_hour = SummaryHour(None);
    let mut app = TestApp::start(config).await;
    app.db = Some(db);
    let health = app
        .wait_until(|h| h["systems"]["quota"]["database"]["usedBytes"].is_u64())
        .await;
    let quota = &health["systems"]["quota"];
    let before = quota["database"]["usedBytes"].as_u64().unwrap_or(0);
    assert!(before.abs_diff(base) < MIB, "{before} against {base}");
    assert_eq!(quota["alertPercent"], 80.0);
    assert_eq!(quota["database"]["limitBytes"], quota_mb * MIB);
    assert!(
        quota["database"]["percent"].as_f64() < Some(80.0),
        "{quota}"
    );
    assert!(quota["redis"]["usedBytes"].as_u64() > Some(0), "{quota}");
    assert_eq!(
        quota["redis"]["limitBytes"],
        1024 * MIB,
        "REDIS_QUOTA_MB wins"
    );
    assert_eq!(quota["redis"]["limitSource"], "REDIS_QUOTA_MB");
    let server_max: i64 = app
        .sql()
        .await
        .query_one("select current_setting('max_connections')::bigint", &[])
        .await
        .expect("max_connections")
        .get(0);
    let conns = &quota["connections"];
    assert_eq!(conns["serverMax"], server_max);
    assert_eq!(conns["poolMax"], 5);
    assert!(conns["thisService"].as_u64() >= Some(1), "{conns}");
    assert!(
        conns["inUse"].as_u64() >= conns["thisService"].as_u64(),
        "{conns}"
    );
    assert!(!raised(&app, "quota_database").await);

    grow(&app, "ballast", 6).await;
    let health = app
        .wait_until(|h| {
            h["systems"]["quota"]["database"]["usedBytes"]
                .as_u64()
                .is_some_and(|b| b >= before + 5 * MIB)
        })
        .await;
    let db_quota = &health["systems"]["quota"]["database"];
    let percent = db_quota["percent"].as_f64().unwrap_or(0.0);
    assert!(percent > 80.0, "{db_quota}");
    // The alert follows the check that measured it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !raised(&app, "quota_database").await {
        assert!(std::time::Instant::now() < deadline, "no quota alert");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, stats) = app
        .get("/api/performance/stats", Some(crate::helpers::OPS_TOKEN))
        .await;
    assert!(stats["quota"]["database"]["usedBytes"].as_u64() >= Some(before + 5 * MIB));
    let alert = stats["alerts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "quota_database"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(alert["threshold"], 80.0);
    assert!(alert["value"].as_f64() > Some(80.0), "{alert}");
    assert!(
        alert["message"]
            .as_str()
            .is_some_and(|m| m.contains("% of DATABASE_QUOTA_MB")),
        "{alert}"
    );

    let metrics = app.metrics().await;
    assert!(
        sample(
            &metrics,
            "elearning_quota_used_bytes",
            "resource=\"database\""
        ) >= (before + 5 * MIB) as f64
    );
    assert_eq!(
        sample(
            &metrics,
            "elearning_quota_limit_bytes",
            "resource=\"database\""
        ),
        (quota_mb * MIB) as f64
    );
    assert!(
        sample(
            &metrics,
            "elearning_quota_usage_percent",
            "resource=\"database\""
        ) > 80.0
    );
    assert_eq!(
        sample(
            &metrics,
            "elearning_alert_active",
            "alert=\"quota_database\""
        ),
        1.0
    );
    assert_eq!(
        sample(&metrics, "elearning_db_server_connections", "state=\"max\""),
        server_max as f64
    );

    let reply = say(&app, ADMIN, "/quota").await;
    assert!(reply.starts_with("💽 <b>Quotas</b>"), "{reply}");
    assert!(
        reply.contains(&format!(" of {quota_mb}.0 MiB (")),
        "the limit: {reply}"
    );
    assert!(reply.contains("Raised: quota_database"), "{reply}");
    assert!(reply.contains("Server connections: "), "{reply}");
    assert!(reply.contains("[REDIS_QUOTA_MB]"), "{reply}");

    shrink(&app, "ballast").await;
    app.wait_until(|h| {
        h["systems"]["quota"]["database"]["usedBytes"]
            .as_u64()
            .is_some_and(|b| b < before + MIB)
    })
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while raised(&app, "quota_database").await {
        assert!(
            std::time::Instant::now() < deadline,
            "the alert never cleared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
