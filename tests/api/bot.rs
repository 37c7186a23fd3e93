//! The Telegram bot (API.md §6, reliability §2 rows T9a–T9i): the webhook's secret, its
//! once-only effects, its replies with real figures, and the `telegram` subcommands against a
//! stand-in Bot API.

use std::time::Duration;

use elearning_api::config::TelegramIds;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    TestApp, TestDb,
    bot::{ADMIN, SECRET, USER, deliver, deliver_json, figure, next_id, say, update, with_bot},
    bot_api::FakeBotApi,
    proxy::ChaosProxy,
    test_config,
};

const OPERATOR_COMMANDS: [&str; 14] = [
    "/health",
    "/stats",
    "/realtime",
    "/cache",
    "/pools",
    "/memory",
    "/performance",
    "/clearcache",
    "/maintenance",
    "/reset",
    "/quota",
    "/ultrafast",
    "/production",
    "/summary",
];

async fn bot_app() -> TestApp {
    TestApp::spawn_with(with_bot).await
}

async fn update_rows(app: &TestApp) -> i64 {
    app.sql()
        .await
        .query_one("select count(*) from telegram_update", &[])
        .await
        .expect("count")
        .get(0)
}

async fn x_cache(app: &TestApp, path: &str) -> String {
    let (status, headers, _) = app.request(Method::GET, path, None, None).await;
    assert_eq!(status, StatusCode::OK);
    headers["x-cache"].to_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn every_operator_command_answers_an_admin_with_real_figures() {
    let app = bot_app().await;
    // "ready" can precede the first PostgreSQL probe by a moment.
    app.wait_until(|h| h["overall"] == "healthy").await;
    const N: usize = 7;
    for _ in 0..N {
        assert_eq!(app.get("/api/courses", None).await.0, StatusCode::OK);
    }

    let health = say(&app, ADMIN, "/health").await;
    assert!(health.contains("<b>Health: healthy</b>"), "{health}");
    assert!(
        health.contains("PostgreSQL: up (") && health.contains("Redis: up ("),
        "{health}"
    );
    assert!(health.contains("Phase: ready") && health.contains("Uptime: "));

    let stats = say(&app, ADMIN, "/stats@ElearningBot please").await;
    assert!(figure(&stats, "Requests") >= N as f64, "{stats}");
    for label in [
        "Rate",
        "Error rate",
        "Latency p50/p95/p99",
        "Cache hit rate",
        "Active alerts",
    ] {
        figure(&stats, label);
    }
    // 7 catalogue reads: one miss, six memory hits.
    assert!(figure(&stats, "Cache hit rate") > 50.0, "{stats}");

    let realtime = say(&app, ADMIN, "/realtime").await;
    assert!(figure(&realtime, "Requests") >= N as f64, "{realtime}");
    assert!(
        figure(&realtime, "In flight") >= 1.0,
        "the webhook itself: {realtime}"
    );
    assert!(realtime.contains("capacity 1024") && realtime.contains("Alerts: "));

    let cache = say(&app, ADMIN, "/cache").await;
    assert!(figure(&cache, "Memory hits") >= (N - 1) as f64, "{cache}");
    assert!(figure(&cache, "Misses") >= 1.0, "{cache}");
    assert!(figure(&cache, "Memory tier") >= 1.0, "{cache}");
    assert!(cache.contains("Redis tier: connected"), "{cache}");

    let pools = say(&app, ADMIN, "/pools").await;
    assert_eq!(
        figure(&pools, "Max"),
        5.0,
        "MAX_CONNECTIONS of the tests: {pools}"
    );
    assert!(figure(&pools, "Size") >= 1.0, "{pools}");

    let memory = say(&app, ADMIN, "/memory").await;
    assert!(figure(&memory, "RSS") > 1.0, "{memory}");
    assert!(memory.contains("of 512 MiB"), "{memory}");
    figure(&memory, "Heap used");

    let performance = say(&app, ADMIN, "/performance").await;
    assert!(
        performance.contains(&format!("GET /api/courses — {N} requests, p95 ")),
        "{performance}"
    );
    assert!(performance.lines().count() <= 6, "top five: {performance}");

    let maintenance = say(&app, ADMIN, "/maintenance").await;
    for label in [
        "Memory cache entries",
        "Idle connections closed",
        "Rate-limit keys",
    ] {
        figure(&maintenance, label);
    }

    let reset = say(&app, ADMIN, "/reset").await;
    assert!(reset.contains("Counters reset"), "{reset}");
    let stats = say(&app, ADMIN, "/stats").await;
    assert!(
        figure(&stats, "Requests") <= 2.0,
        "counted again from zero: {stats}"
    );
    let cache = say(&app, ADMIN, "/cache").await;
    assert_eq!(figure(&cache, "Memory hits"), 0.0, "{cache}");
}

#[tokio::test]
async fn operator_commands_are_refused_to_everyone_else_with_no_effect() {
    let app = bot_app().await;
    for _ in 0..3 {
        app.get("/api/courses", None).await;
    }
    assert_eq!(x_cache(&app, "/api/courses").await, "HIT-MEMORY");

    for command in OPERATOR_COMMANDS {
        let reply = say(&app, USER, command).await;
        assert!(
            reply.contains(&format!("{command} is for operators only")),
            "{command}: {reply}"
        );
        assert!(!reply.contains("MiB") && !reply.contains("Requests"));
    }
    // Neither /clearcache nor /reset did anything.
    assert_eq!(x_cache(&app, "/api/courses").await, "HIT-MEMORY");
    let stats = say(&app, ADMIN, "/stats").await;
    assert!(figure(&stats, "Requests") >= 14.0, "{stats}");

    // A message without a sender (an anonymous group admin, a channel) is nobody's.
    let mut anonymous = update(next_id(), ADMIN, "/reset");
    anonymous["message"]
        .as_object_mut()
        .expect("message")
        .remove("from");
    let (status, _, body) = deliver_json(&app, &anonymous).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["text"]
            .as_str()
            .is_some_and(|t| t.contains("operators only")),
        "{body}"
    );
}

#[tokio::test]
async fn everyone_gets_start_help_and_courses_and_unknown_commands_get_the_help() {
    let app = bot_app().await;
    let start = say(&app, USER, "/start").await;
    assert!(start.contains("Welcome") && start.contains("/courses"));

    let help = say(&app, USER, "/help").await;
    for command in ["/start", "/help", "/courses"] {
        assert!(help.contains(command), "{help}");
    }
    for command in OPERATOR_COMMANDS {
        assert!(!help.contains(command), "{command} shown to a user: {help}");
    }
    let admin_help = say(&app, ADMIN, "/help@ElearningBot").await;
    for command in OPERATOR_COMMANDS {
        assert!(admin_help.contains(command), "{command}: {admin_help}");
    }

    let unknown = say(&app, USER, "/teleport <now>").await;
    assert!(
        unknown.starts_with("🤔 I don't know /teleport."),
        "{unknown}"
    );
    assert!(unknown.contains(&help), "the help text: {unknown}");
    let odd = say(&app, USER, "/<b>").await;
    assert!(odd.contains("/&lt;b&gt;"), "escaped: {odd}");

    assert_eq!(
        say(&app, USER, "/courses").await,
        "📚 No published courses yet."
    );
}

#[tokio::test]
async fn courses_lists_the_five_newest_with_titles_escaped_through_the_cache() {
    let app = bot_app().await;
    let owner = app.user("formateur").await;
    for i in 1..=5 {
        app.published_course(&owner, &format!("Plain course {i}"), false)
            .await;
    }
    app.published_course(&owner, r#"Rust <b>& "friends"</b>"#, false)
        .await;
    app.course(&owner, "A draft nobody sees").await;

    let reply = say(&app, USER, "/courses").await;
    assert!(
        reply.contains(
            "1. <b>Rust &lt;b&gt;&amp; &quot;friends&quot;&lt;/b&gt;</b> — beginner, programming"
        ),
        "{reply}"
    );
    assert!(!reply.contains("<b>&"), "{reply}");
    assert!(!reply.contains("Plain course 1") && reply.contains("Plain course 2"));
    assert!(!reply.contains("draft"), "{reply}");
    assert_eq!(reply.lines().count(), 6, "{reply}");
    // The bot read the catalogue through the cache: the same page is now a memory hit.
    assert_eq!(x_cache(&app, "/api/courses?limit=5").await, "HIT-MEMORY");
}

#[tokio::test]
async fn a_wrong_or_missing_secret_is_401_and_does_nothing() {
    let app = bot_app().await;
    app.get("/api/courses", None).await;
    let body = update(next_id(), ADMIN, "/clearcache").to_string();
    for secret in [
        None,
        Some("wrong"),
        Some(""),
        Some(&SECRET[..SECRET.len() - 1]),
    ] {
        let (status, headers, reply) = deliver(&app, body.clone(), secret).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{secret:?}");
        assert_eq!(reply["code"], "invalid_webhook_secret", "{secret:?}");
        assert_eq!(headers["content-type"], "application/json");
    }
    assert_eq!(update_rows(&app).await, 0);
    assert_eq!(x_cache(&app, "/api/courses").await, "HIT-MEMORY");

    // No secret configured: nothing gets in, whatever is sent.
    let open = TestApp::spawn_with(|c| {
        c.telegram.telegram_admin_ids = TelegramIds(vec![ADMIN]);
    })
    .await;
    for secret in [None, Some(""), Some(SECRET)] {
        let (status, _, _) = deliver(&open, body.clone(), secret).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{secret:?}");
    }
    assert_eq!(update_rows(&open).await, 0);
}

#[tokio::test]
async fn a_redelivered_update_is_acted_on_once_even_concurrently() {
    let app = bot_app().await;
    let id = next_id();
    let first = deliver_json(&app, &update(id, ADMIN, "/help")).await;
    assert_eq!(first.2["method"], "sendMessage");
    let again = deliver_json(&app, &update(id, ADMIN, "/help")).await;
    assert_eq!(again.0, StatusCode::OK);
    assert_eq!(again.2, json!({}));

    // Ten copies of one /clearcache at once, after warming the cache: one reply, one clear.
    app.get("/api/courses", None).await;
    assert_eq!(x_cache(&app, "/api/courses").await, "HIT-MEMORY");
    let body = update(next_id(), ADMIN, "/clearcache");
    let replies = futures::future::join_all((0..10).map(|_| deliver_json(&app, &body))).await;
    let mut acted = 0;
    for (status, _, reply) in &replies {
        assert_eq!(*status, StatusCode::OK, "{reply}");
        if reply["method"] == "sendMessage" {
            acted += 1;
            assert!(
                figure(
                    reply["text"].as_str().unwrap_or_default(),
                    "Memory entries removed"
                ) >= 1.0
            );
        } else {
            assert_eq!(*reply, json!({}));
        }
    }
    assert_eq!(acted, 1, "{replies:?}");
    assert_eq!(update_rows(&app).await, 2);

    // Ids may restart lower after a quiet week: a lower id is still new.
    let low = say(&app, ADMIN, "/start").await;
    assert!(low.contains("Welcome"));
    let (_, _, reply) = deliver_json(&app, &update(3, ADMIN, "/start")).await;
    assert_eq!(reply["method"], "sendMessage", "a lower id is processed");
}

#[tokio::test]
async fn clearcache_empties_the_cache_like_the_operations_endpoint() {
    let app = bot_app().await;
    assert_eq!(x_cache(&app, "/api/courses").await, "MISS");
    assert_eq!(x_cache(&app, "/api/courses").await, "HIT-MEMORY");

    let reply = say(&app, ADMIN, "/clearcache").await;
    assert!(reply.starts_with("🧹 <b>Cache cleared</b>"), "{reply}");
    assert!(figure(&reply, "Memory entries removed") >= 1.0, "{reply}");
    assert!(figure(&reply, "Redis keys removed") >= 1.0, "{reply}");
    assert!(reply.contains("Redis: answered"), "{reply}");

    let (_, stats) = app
        .get("/api/performance/stats", Some(crate::helpers::OPS_TOKEN))
        .await;
    assert_eq!(stats["memoryTier"]["entries"], 0, "{}", stats["memoryTier"]);
    assert_eq!(
        x_cache(&app, "/api/courses").await,
        "MISS",
        "and Redis was emptied too"
    );
}

#[tokio::test]
async fn updates_that_are_not_commands_get_an_empty_200_and_leave_no_row() {
    let app = bot_app().await;
    let mut photo = update(next_id(), USER, "");
    photo["message"]
        .as_object_mut()
        .expect("message")
        .remove("text");
    let cases = [
        ("plain text", update(next_id(), USER, "hello /health")),
        ("no text", photo),
        (
            "callback query",
            json!({"update_id": next_id(), "callback_query": {"id": "1", "from": {"id": ADMIN}, "data": "x"}}),
        ),
        (
            "edited message",
            json!({"update_id": next_id(), "edited_message": update(1, ADMIN, "/reset")["message"]}),
        ),
        (
            "channel post",
            json!({"update_id": next_id(), "channel_post": {"message_id": 1, "date": 1, "chat": {"id": -100, "type": "channel"}, "text": "/stats"}}),
        ),
        (
            "odd message",
            json!({"update_id": next_id(), "message": {"text": "/help"}}),
        ),
    ];
    for (case, body) in cases {
        let (status, headers, reply) = deliver_json(&app, &body).await;
        assert_eq!(status, StatusCode::OK, "{case}");
        assert_eq!(reply, json!({}), "{case}");
        assert_eq!(headers["content-type"], "application/json", "{case}");
    }
    assert_eq!(update_rows(&app).await, 0);
}

#[tokio::test]
async fn bodies_that_are_not_updates_get_400_and_oversized_ones_413() {
    let app = bot_app().await;
    for (case, body, expected) in [
        ("truncated", "{\"update_id\": 1, ", "malformed JSON"),
        ("not JSON", "update please", "malformed JSON"),
        ("empty", "", "malformed JSON"),
        ("array", "[1, 2]", "not a Telegram Update"),
        (
            "no update_id",
            "{\"message\": {}}",
            "not a Telegram Update: missing field `update_id`",
        ),
        (
            "string id",
            "{\"update_id\": \"7\"}",
            "not a Telegram Update",
        ),
    ] {
        let (status, _, reply) = deliver(&app, body, Some(SECRET)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {reply}");
        assert_eq!(reply["code"], "bad_request", "{case}");
        assert!(
            reply["error"]
                .as_str()
                .is_some_and(|e| e.starts_with(expected)),
            "{case}: {reply}"
        );
    }
    let mut big = update(next_id(), ADMIN, "/reset");
    big["message"]["padding"] = json!("x".repeat(2 * 1024 * 1024));
    let (status, _, reply) = deliver_json(&app, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");
    assert_eq!(reply["code"], "payload_too_large");
    assert_eq!(update_rows(&app).await, 0);
}

#[tokio::test]
async fn postgres_down_gives_503_with_retry_after_and_the_retry_is_acted_on() {
    let db = TestDb::create().await;
    let proxy = ChaosProxy::start(crate::helpers::db::server_addr(), true).await;
    let mut url = url::Url::parse(&db.url()).expect("url");
    url.set_port(Some(proxy.port())).expect("port");
    let mut config = test_config(url.as_str());
    with_bot(&mut config);
    let mut app = TestApp::start(config).await;
    app.db = Some(db);
    app.wait_until(|h| h["overall"] == "healthy").await;

    proxy.cut();
    app.wait_until(|h| h["overall"] == "degraded").await;
    let body = update(next_id(), ADMIN, "/reset");
    let started = std::time::Instant::now();
    let (status, headers, reply) = deliver_json(&app, &body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{reply}");
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Non-commands need no database.
    let (status, _, _) = deliver_json(&app, &update(next_id(), USER, "hi")).await;
    assert_eq!(status, StatusCode::OK);

    proxy.restore();
    app.wait_until(|h| h["overall"] == "healthy").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, reply) = deliver_json(&app, &body).await;
        if status == StatusCode::OK {
            assert_eq!(
                reply["method"], "sendMessage",
                "nothing was recorded: {reply}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}: {reply}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(update_rows(&app).await, 1);
}

#[tokio::test]
async fn the_webhook_is_not_rate_limited() {
    let app = TestApp::spawn_with(|c| {
        with_bot(c);
        c.limits.rate_limit_enabled = true;
        c.limits.rate_limit_default = "2/60".parse().expect("spec");
        c.limits.rate_limit_ip_ceiling = "3/60".parse().expect("spec");
    })
    .await;
    for _ in 0..6 {
        let (status, headers, _) = deliver_json(&app, &update(next_id(), USER, "/start")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!headers.contains_key("x-ratelimit-limit"));
    }
}

/// Runs `elearning-api telegram <args>` with `env`; returns success, stdout, stderr.
async fn telegram_cli(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_elearning-api"));
    cmd.arg("telegram").args(args).env("RUST_LOG", "warn");
    for var in [
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_WEBHOOK_SECRET",
        "TELEGRAM_WEBHOOK_URL",
        "TELEGRAM_API_BASE",
        "TELEGRAM_ADMIN_IDS",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().await.expect("run elearning-api");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn telegram_cli_sets_deletes_and_describes_the_webhook() {
    let api = FakeBotApi::start().await;
    let env = [
        ("TELEGRAM_API_BASE", api.base.as_str()),
        ("TELEGRAM_BOT_TOKEN", "123:SECRET-TOKEN"),
        ("TELEGRAM_WEBHOOK_SECRET", SECRET),
        (
            "TELEGRAM_WEBHOOK_URL",
            "https://bot.example.com/api/bot/webhook",
        ),
    ];

    let (ok, out, err) = telegram_cli(&["set-webhook"], &env).await;
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "webhook set: https://bot.example.com/api/bot/webhook (Webhook was set)"
    );
    let (ok, out, err) = telegram_cli(&["delete-webhook"], &env).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "webhook deleted (Webhook was deleted)");
    let (ok, out, err) = telegram_cli(&["webhook-info"], &env).await;
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "url: https://bot.example.com/api/bot/webhook\n\
         has_custom_certificate: false\n\
         pending_update_count: 3\n\
         last_error_date: 1700000000 (2023-11-14T22:13:20.000Z)\n\
         last_error_message: Wrong response from the webhook: 503 Service Unavailable\n\
         max_connections: 40\n\
         allowed_updates: message"
    );

    let calls = api.calls();
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/bot123:SECRET-TOKEN/setWebhook",
            "/bot123:SECRET-TOKEN/deleteWebhook",
            "/bot123:SECRET-TOKEN/getWebhookInfo"
        ]
    );
    assert_eq!(
        calls[0].body,
        json!({
            "url": "https://bot.example.com/api/bot/webhook",
            "secret_token": SECRET,
            "allowed_updates": ["message"],
            "max_connections": 40,
            "drop_pending_updates": false,
        })
    );
    assert_eq!(calls[1].body, json!({"drop_pending_updates": false}));
}

#[tokio::test]
async fn telegram_cli_fails_with_one_clear_line_and_never_shows_the_token() {
    let api = FakeBotApi::start().await;
    let base = api.base.clone();
    let dead = format!("http://127.0.0.1:{}", crate::helpers::dead_port().await);
    let full = |base: &'static str, token: &'static str| {
        vec![
            ("TELEGRAM_API_BASE", base),
            ("TELEGRAM_BOT_TOKEN", token),
            ("TELEGRAM_WEBHOOK_SECRET", SECRET),
            (
                "TELEGRAM_WEBHOOK_URL",
                "https://bot.example.com/api/bot/webhook",
            ),
        ]
    };
    let base: &'static str = base.leak();
    let dead: &'static str = dead.leak();
    let without = |var: &str, env: Vec<(&'static str, &'static str)>| {
        env.into_iter()
            .filter(|(k, _)| *k != var)
            .collect::<Vec<_>>()
    };
    let cases = [
        (
            "set-webhook",
            without("TELEGRAM_BOT_TOKEN", full(base, "")),
            "TELEGRAM_BOT_TOKEN is not set",
        ),
        (
            "webhook-info",
            without("TELEGRAM_BOT_TOKEN", full(base, "")),
            "TELEGRAM_BOT_TOKEN is not set",
        ),
        (
            "set-webhook",
            without("TELEGRAM_WEBHOOK_URL", full(base, "123:SECRET-TOKEN")),
            "TELEGRAM_WEBHOOK_URL is not set",
        ),
        (
            "set-webhook",
            without("TELEGRAM_WEBHOOK_SECRET", full(base, "123:SECRET-TOKEN")),
            "TELEGRAM_WEBHOOK_SECRET is not set",
        ),
        (
            "delete-webhook",
            full(base, "999:WRONG-TOKEN"),
            "deleteWebhook failed: Unauthorized (HTTP 401",
        ),
        (
            "webhook-info",
            full(dead, "999:WRONG-TOKEN"),
            "getWebhookInfo at http://127.0.0.1:",
        ),
    ];
    for (command, env, expected) in cases {
        let (ok, out, err) = telegram_cli(&[command], &env).await;
        assert!(!ok, "{command} {expected}: {out}");
        assert!(
            err.starts_with("error: ") && err.contains(expected),
            "{command}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            !err.contains("WRONG-TOKEN") && !out.contains("WRONG-TOKEN"),
            "{err}"
        );
    }
    let mut bad_secret = full(base, "123:SECRET-TOKEN");
    bad_secret[2].1 = "no spaces allowed";
    let (ok, _, err) = telegram_cli(&["set-webhook"], &bad_secret).await;
    assert!(!ok && err.contains("TELEGRAM_WEBHOOK_SECRET"), "{err}");
}

#[tokio::test]
async fn ultrafast_and_production_answer_with_the_figures_the_seeds_name() {
    let app = bot_app().await;
    for _ in 0..10 {
        assert_eq!(app.get("/api/courses", None).await.0, StatusCode::OK);
    }

    let ultrafast = say(&app, ADMIN, "/ultrafast").await;
    assert!(
        ultrafast.starts_with("⚡ <b>Response times</b>"),
        "{ultrafast}"
    );
    assert!(figure(&ultrafast, "Last minute") >= 10.0, "{ultrafast}");
    for label in ["p50/p95/p99", "Fastest/slowest", "Cached reads"] {
        figure(&ultrafast, label);
    }
    assert!(
        ultrafast.contains("from memory") && ultrafast.contains("from PostgreSQL"),
        "{ultrafast}"
    );
    assert!(
        ultrafast.contains("<b>Slowest routes</b> (since start)")
            && ultrafast.contains("GET /api/courses — p95 ")
            && ultrafast.contains("(10 requests)"),
        "{ultrafast}"
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let production = loop {
        let reply = say(&app, ADMIN, "/production").await;
        // The instance counts itself once its first heartbeat reached Redis.
        if reply.contains("Instances: 1 live") {
            break reply;
        }
        assert!(std::time::Instant::now() < deadline, "{reply}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        production.starts_with("🏭 <b>Production profile</b>"),
        "{production}"
    );
    assert!(
        production.contains("Environment: development · instance "),
        "{production}"
    );
    assert!(figure(&production, "Workers") >= 1.0, "{production}");
    assert!(
        production.contains("Database pool: 1–5 connections"),
        "MIN_CONNECTIONS and MAX_CONNECTIONS of the tests: {production}"
    );
    assert!(
        production.contains("Cache: memory 64.0 MiB"),
        "{production}"
    );
    assert!(
        production.contains("Requests: 1024 at once, 256 queued"),
        "{production}"
    );
    assert!(
        production.contains("Rate limits: off (RATE_LIMIT_ENABLED=false)"),
        "{production}"
    );
    assert!(
        production.contains("quotas &gt; 80 %"),
        "the thresholds, escaped: {production}"
    );
    assert!(
        production.contains("Operators told: nobody"),
        "no bot token in this test: {production}"
    );
}

/// Sends `head` (a request's line and headers, without the blank line) and `body` on a raw
/// connection, and returns the status line of the answer, read within `within`.
async fn raw_request(
    app_addr: &str,
    head: &str,
    body: &[u8],
    within: Duration,
) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app_addr.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    stream
        .write_all(format!("{head}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    // The server may answer and close before taking the body: a failed write is expected.
    let _ = stream.write_all(body).await;
    let mut answer = vec![0; 512];
    let n = tokio::time::timeout(within, stream.read(&mut answer))
        .await
        .map_err(|_| "no answer in time".to_owned())?
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&answer[..n]).into_owned();
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

fn webhook_head(secret: Option<&str>, content_length: u64) -> String {
    let mut head = format!(
        "POST /api/bot/webhook HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {content_length}"
    );
    if let Some(s) = secret {
        head.push_str(&format!("\r\nx-telegram-bot-api-secret-token: {s}"));
    }
    head
}

#[tokio::test]
async fn a_wrong_secret_is_refused_before_the_body_is_read() {
    let app = bot_app().await;
    // Each request declares a body far over the webhook's bound and sends none of it: the
    // answer can only come without reading it.
    for (case, secret, length, expected) in [
        ("no secret, 4 MB declared", None, 4_000_000, "401"),
        (
            "wrong secret, 4 MB declared",
            Some("wrong"),
            4_000_000,
            "401",
        ),
        (
            "almost the secret, 4 MB declared",
            Some(&SECRET[1..]),
            4_000_000,
            "401",
        ),
        // Over every body limit of the service: refused at once too, by the outer limit.
        ("no secret, 1 TB declared", None, 1 << 40, "413"),
        (
            "the right secret, 1 MB declared",
            Some(SECRET),
            1_000_000,
            "413",
        ),
    ] {
        let started = std::time::Instant::now();
        let line = raw_request(
            &app.addr,
            &webhook_head(secret, length),
            b"",
            Duration::from_secs(2),
        )
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(line.contains(expected), "{case}: {line}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{case}: answered at once"
        );
    }
    assert_eq!(update_rows(&app).await, 0);
    // A body just over the bound is refused even with the right secret; one within is read.
    let mut big = update(next_id(), USER, "/start");
    big["message"]["padding"] = json!("x".repeat(elearning_api::api::bot::BODY_LIMIT));
    let (status, _, reply) = deliver_json(&app, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");
    big["message"]["padding"] = json!("x".repeat(200 * 1024));
    let (status, _, reply) = deliver_json(&app, &big).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}

#[tokio::test]
async fn an_unauthenticated_flood_with_large_bodies_leaves_memory_flat() {
    let server =
        crate::helpers::child::ChildServer::start(&[("TELEGRAM_WEBHOOK_SECRET", SECRET)]).await;
    // Warm up: the first requests allocate what every later one reuses.
    for _ in 0..5 {
        let line = raw_request(
            &server.addr,
            &webhook_head(Some("wrong-secret-wrong-secret"), 1024 * 1024),
            &vec![b'x'; 1024 * 1024],
            Duration::from_secs(5),
        )
        .await;
        assert!(line.is_ok_and(|l| l.contains("401")));
    }
    let before = server.rss_mib();
    const CONNECTIONS: usize = 300;
    let flood = (0..CONNECTIONS).map(|i| {
        let addr = server.addr.clone();
        async move {
            let secret = (i % 2 == 0).then_some("not-the-secret-0123456789");
            raw_request(
                &addr,
                &webhook_head(secret, 1024 * 1024),
                &vec![b'x'; 1024 * 1024],
                Duration::from_secs(20),
            )
            .await
        }
    });
    let answers = futures::future::join_all(flood).await;
    let refused = answers
        .iter()
        .filter(|a| a.as_ref().is_ok_and(|l| l.contains("401")))
        .count();
    let peak = server.peak_rss_mib();
    println!("unauthenticated flood: {before} MiB resident before, peak {peak} MiB");
    // Each connection offered 1 MiB; before the secret was checked first, 300 of them took the
    // process from 30 to 346 MB.
    assert!(
        refused >= CONNECTIONS * 9 / 10,
        "{refused} of {CONNECTIONS} refused: {:?}",
        answers
            .iter()
            .filter(|a| a.is_err())
            .take(3)
            .collect::<Vec<_>>()
    );
    assert!(
        peak < before + 32,
        "peak resident set {peak} MiB, {before} MiB before the flood"
    );
}

#[tokio::test]
async fn updates_beyond_the_in_flight_bound_get_503_at_once() {
    let app = bot_app().await;
    use tokio::io::AsyncWriteExt;
    // MAX_IN_FLIGHT authenticated deliveries whose bodies never finish arriving.
    let mut slow = Vec::new();
    for _ in 0..elearning_api::api::bot::MAX_IN_FLIGHT {
        let mut stream = tokio::net::TcpStream::connect(app.socket())
            .await
            .expect("connect");
        let head = webhook_head(Some(SECRET), 1000);
        stream
            .write_all(format!("{head}\r\n\r\n{{\"update_id\"").as_bytes())
            .await
            .expect("write");
        slow.push(stream);
    }
    // Until every one of them holds its permit.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (status, headers, reply) = loop {
        let started = std::time::Instant::now();
        let answer = deliver_json(&app, &update(next_id(), USER, "/start")).await;
        if answer.0 == StatusCode::SERVICE_UNAVAILABLE {
            assert!(started.elapsed() < Duration::from_millis(500), "at once");
            break answer;
        }
        assert!(std::time::Instant::now() < deadline, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(reply["code"], "webhook_busy");
    // A wrong secret is still a 401: the bound counts authenticated updates only.
    let (status, _, _) = deliver(&app, "{}", Some("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The slow senders leave; their permits come back.
    drop(slow);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, reply) = deliver_json(&app, &update(next_id(), USER, "/start")).await;
        if status == StatusCode::OK {
            assert_eq!(reply["method"], "sendMessage");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}: {reply}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_webhook_secret_shorter_than_16_characters_stops_start_up() {
    let mut config = test_config("postgres://nobody@127.0.0.1:1/none");
    for (secret, ok) in [
        ("x", false),
        ("abcdef_ABCDEF-1", false),
        ("abcdef_ABCDEF-12", true),
        ("sixteen chars ok", false),
    ] {
        config.telegram.telegram_webhook_secret =
            Some(secrecy::SecretString::from(secret.to_owned()));
        let result = config.validate(true);
        assert_eq!(result.is_ok(), ok, "{secret:?}: {result:?}");
        if let Err(e) = result {
            assert_eq!(e.var, "TELEGRAM_WEBHOOK_SECRET");
            assert!(e.to_string().contains("16 to 256 characters"), "{e}");
        }
    }
    // The binary says so in one line and does not start.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_elearning-api"))
        .arg("serve")
        .env_clear()
        .env("JWT_SECRET", "test-secret-test-secret-test-secret!")
        .env("TELEGRAM_WEBHOOK_SECRET", "short-secret")
        .env("PORT", "0")
        .output()
        .await
        .expect("run elearning-api");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.trim()
            .starts_with("error: TELEGRAM_WEBHOOK_SECRET: must be 16 to 256 characters"),
        "{err}"
    );
}

#[tokio::test]
async fn replies_never_exceed_telegrams_4096_character_limit() {
    let app = bot_app().await;
    let utf16 = |s: &str| s.encode_utf16().count();
    for (case, command) in [
        ("ascii", format!("/{}", "x".repeat(5000))),
        ("astral", format!("/{}", "😀".repeat(3000))),
        ("escaped", format!("/{}", "<&>".repeat(2000))),
    ] {
        let reply = say(&app, ADMIN, &command).await;
        assert!(reply.starts_with("🤔 I don't know /"), "{case}: {reply}");
        assert!(utf16(&reply) <= 4096, "{case}: {} units", utf16(&reply));
    }
}
