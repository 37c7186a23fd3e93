//! Live figures: the stats endpoint, `/metrics` and the alerts.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{OPS_TOKEN, TestApp};

async fn stats(app: &TestApp) -> Value {
    let (status, body) = app.get("/api/performance/stats", Some(OPS_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    body
}

fn route<'a>(stats: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    stats["requests"]["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["method"] == method && r["route"] == path)
}

#[tokio::test]
async fn figures_move_as_requests_are_made() {
    let app = TestApp::spawn().await;
    let before = stats(&app).await;
    let total_before = before["requests"]["total"].as_u64().expect("total");
    for _ in 0..12 {
        assert_eq!(app.get("/api/courses", None).await.0, StatusCode::OK);
    }
    let id = uuid::Uuid::new_v4();
    assert_eq!(
        app.get(&format!("/api/courses/{id}"), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/no/such/path", None).await.0,
        StatusCode::NOT_FOUND
    );

    let after = stats(&app).await;
    let r = &after["requests"];
    assert!(r["total"].as_u64().expect("total") >= total_before + 14);
    assert!(r["lastMinute"].as_u64().expect("last minute") >= 14);
    assert!(r["perSecond"].as_f64().expect("rate") > 0.0);
    assert!(r["clientErrors"].as_u64().expect("4xx") >= 2);
    assert!(r["p50Us"].as_u64().expect("p50") > 0);
    assert!(r["p99Us"].as_u64() >= r["p50Us"].as_u64());
    let courses = route(&after, "GET", "/api/courses").expect("the course list is a route");
    assert_eq!(courses["requests"], 12);
    assert_eq!(courses["serverErrors"], 0);
    assert!(courses["p95Us"].as_u64().expect("p95") > 0);
    let details = route(&after, "GET", "/api/courses/{id}").expect("templated, not the raw path");
    assert_eq!(details["clientErrors"], 1);
    assert!(route(&after, "GET", "unmatched").is_some());
    // Cache, pool, memory and admission figures are real, not placeholders.
    assert!(after["cache"]["memoryHits"].as_u64().expect("hits") >= 11);
    assert!(after["pool"]["maxSize"].as_u64() == Some(5));
    assert!(after["memory"]["rss"].as_u64().expect("rss") > 1_000_000);
    assert!(after["admission"]["peakInFlight"].as_u64().expect("peak") >= 1);

    // The per-second history fills as seconds end.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let later = stats(&app).await;
    let history = later["history"].as_array().expect("history");
    let served: u64 = history
        .iter()
        .map(|p| p["requests"].as_u64().unwrap_or(0))
        .sum();
    assert!(served >= 14, "{served} requests in {history:?}");
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_the_same_figures() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        app.get("/api/courses", None).await;
    }
    let (status, _) = app.get("/metrics", None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "figures are for operators"
    );

    let res = app
        .client
        .get(format!("{}/metrics", app.addr))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .expect("scrape");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/openmetrics-text")
    );
    let text = res.text().await.expect("body");
    assert!(text.trim_end().ends_with("# EOF"));
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("parses as Prometheus text");
    let sample = |name: &str, label: (&str, &str)| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
            .map(|s| s.value.clone())
    };
    match sample("elearning_http_requests_total", ("route", "/api/courses")) {
        // The parser reads OpenMetrics counters (`_total` samples) as untyped.
        Some(prometheus_parse::Value::Counter(n) | prometheus_parse::Value::Untyped(n)) => {
            assert_eq!(n, 5.0);
        }
        other => panic!("request counter: {other:?}"),
    }
    match sample(
        "elearning_http_request_duration_seconds",
        ("route", "/api/courses"),
    ) {
        Some(prometheus_parse::Value::Histogram(buckets)) => {
            let total = buckets.last().map(|b| b.count).unwrap_or_default();
            assert_eq!(total, 5.0, "{buckets:?}");
        }
        other => panic!("latency histogram: {other:?}"),
    }
    for name in [
        "elearning_cache_lookups_total",
        "elearning_db_pool_connections",
        "elearning_memory_bytes",
        "elearning_rate_limit_decisions_total",
        "elearning_alert_active",
        "elearning_uptime_seconds",
    ] {
        assert!(
            scrape.samples.iter().any(|s| s.metric == name),
            "{name} missing from:\n{text}"
        );
    }
}

#[tokio::test]
async fn alerts_are_raised_past_their_thresholds_and_exported() {
    let app = TestApp::spawn_with(|c| {
        // Any process is over 1 % of 16 MiB; any miss is under a 100 % hit rate.
        c.ops.memory_limit_mb = 16;
        c.ops.alert_memory_percent = 1.0;
        c.ops.alert_cache_hit_rate = 100.0;
        c.ops.alert_min_samples = 1;
    })
    .await;
    let (status, body) = app.get("/api/courses", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut names = Vec::new();
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let s = stats(&app).await;
        names = s["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .map(|a| a["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        if names.len() >= 2 {
            let memory = &s["alerts"][names.iter().position(|n| n == "memory").expect("memory")];
            assert!(memory["value"].as_f64().expect("value") > 1.0);
            assert_eq!(memory["threshold"], 1.0);
            assert!(
                memory["message"]
                    .as_str()
                    .expect("message")
                    .contains("16 MiB")
            );
            break;
        }
    }
    assert!(names.contains(&"memory".to_owned()), "{names:?}");
    assert!(names.contains(&"cache_hit_rate".to_owned()), "{names:?}");
    assert!(
        !names.contains(&"error_rate".to_owned()),
        "{names:?} {}",
        stats(&app).await["requests"]
    );
    let (_, headers, _) = app
        .request(Method::GET, "/metrics", Some(OPS_TOKEN), None)
        .await;
    assert!(headers.contains_key("content-type"));
    let text = app.metrics().await;
    assert!(
        text.contains("elearning_alert_active{alert=\"memory\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("elearning_alert_active{alert=\"error_rate\"} 0"),
        "{text}"
    );
}
