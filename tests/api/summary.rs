//! The daily summary: its content (on demand with `/summary`, from the figures every instance
//! writes to Redis), and the scheduled one sent once across the fleet.

use std::time::Duration;

use chrono::{Timelike, Utc};
use elearning_api::config::SummaryHour;
use reqwest::StatusCode;

use crate::helpers::{
    bot::{ADMIN, OTHER_ADMIN, figure, say},
    bot_api::FakeBotApi,
    ops::{counter, grow, notifying_app, shrink, wait_raised, wait_stats},
};

#[tokio::test]
async fn summary_gives_the_last_24_hours_of_both_instances() {
    let api = FakeBotApi::start().await;
    let first = notifying_app(&api, |_| {}).await;
    let second = first.spawn_peer().await;
    for _ in 0..12 {
        assert_eq!(first.get("/api/courses", None).await.0, StatusCode::OK);
    }
    for _ in 0..8 {
        assert_eq!(second.get("/api/courses", None).await.0, StatusCode::OK);
    }
    for _ in 0..3 {
        let id = uuid::Uuid::new_v4();
        let (status, _) = second.get(&format!("/api/courses/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // One quota alert, raised and cleared.
    grow(&first, "ballast", 6).await;
    wait_raised(&first, "quota_database", true).await;
    shrink(&first, "ballast").await;
    wait_raised(&first, "quota_database", false).await;
    wait_raised(&second, "quota_database", false).await;
    wait_stats(&first, "the alert's changes read", |s| {
        counter(s, "changes") >= 2
    })
    .await;
    // The second instance's minutes reach Redis with its next write (once a minute, or when
    // it answers /summary): ask it first, then the first instance sees them.
    say(&second, ADMIN, "/summary").await;
    let text = say(&first, ADMIN, "/summary").await;

    assert!(
        text.starts_with("📅 <b>Summary</b>\nLast 24 hours, to "),
        "{text}"
    );
    // 12 + 8 + 3 course reads, and the health checks and webhook calls of both instances.
    assert!(figure(&text, "Requests") >= 23.0, "{text}");
    assert!(
        text.contains("Requests: ") && text.contains("(5xx 0)"),
        "{text}"
    );
    assert!(text.contains("Error rate: 0.00 %"), "{text}");
    let latency = text
        .lines()
        .find(|l| l.starts_with("Latency p50/p95/p99: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(latency.matches(" ms").count(), 3, "{latency}");
    // 20 list reads with one miss (the second instance finds the list in Redis), and three
    // reads of courses that do not exist.
    assert!(figure(&text, "Cache hit rate") >= 75.0, "{text}");
    assert!(figure(&text, "Peak memory") > 1.0, "{text}");
    assert!(text.contains("Pool saturation: peak "), "{text}");
    assert!(
        text.contains("quota_database ×1"),
        "counted once for the fleet: {text}"
    );
    let busiest = text
        .split("<b>Busiest routes</b>\n")
        .nth(1)
        .unwrap_or_default();
    assert!(
        busiest.starts_with(
            "1. GET /api/courses — 20 requests, 0 errors\n2. GET /api/courses/{id} — 3 requests"
        ),
        "{text}"
    );
    let slowest = text
        .split("<b>Slowest routes</b> (p95)\n")
        .nth(1)
        .unwrap_or_default();
    assert!(slowest.contains("GET /api/courses — p95 "), "{text}");
    assert!(
        !text.contains("/api/performance/health") && !text.contains("/api/performance/stats"),
        "operations routes are left out of the lists: {text}"
    );
    assert!(text.contains("<i>All instances;"), "{text}");
}

/// Waits until the current hour has at least 20 s left, so that a schedule set to it holds.
async fn an_hour_with_time_left() -> u32 {
    loop {
        let now = Utc::now();
        if now.minute() < 59 || now.second() < 40 {
            return now.hour();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn the_daily_summary_is_sent_once_across_the_fleet_at_its_hour() {
    let api = FakeBotApi::start().await;
    let hour = an_hour_with_time_left().await;
    let first = notifying_app(&api, |c| {
        c.notify.daily_summary_hour = SummaryHour(Some(hour));
    })
    .await;
    let second = first.spawn_peer().await;
    let today = Utc::now().date_naive().to_string();
    for app in [&first, &second] {
        wait_stats(app, "today's summary settled", |s| {
            s["notifications"]["summarySettledFor"] == today.as_str()
        })
        .await;
    }
    api.wait_for("the summary, to both operators", |a| {
        [ADMIN, OTHER_ADMIN].iter().all(|chat| {
            a.delivered(*chat)
                .iter()
                .any(|t| t.starts_with("📅 <b>Daily summary</b>"))
        })
    })
    .await;
    let s = wait_stats(&first, "nothing queued", |s| counter(s, "queued") == 0).await;
    assert_eq!(s["notifications"]["dailySummaryHour"], hour);
    wait_stats(&second, "nothing queued", |s| counter(s, "queued") == 0).await;
    for chat in [ADMIN, OTHER_ADMIN] {
        let summaries: Vec<String> = api
            .delivered(chat)
            .into_iter()
            .filter(|t| t.starts_with("📅 <b>Daily summary</b>"))
            .collect();
        assert_eq!(
            summaries.len(),
            1,
            "once, not once per instance: {summaries:#?}"
        );
        assert!(
            summaries[0].contains("<b>Busiest routes</b>"),
            "{}",
            summaries[0]
        );
    }
}
