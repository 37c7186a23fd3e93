//! Talking to the bot as Telegram does: updates to the webhook with its secret, and the
//! replies read back.

use std::sync::atomic::{AtomicI64, Ordering};

use elearning_api::config::TelegramIds;
use reqwest::{StatusCode, header::HeaderMap};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::TestApp;

/// The webhook secret of test bots.
pub const SECRET: &str = "test_webhook-secret_0123456789abcdef";
/// An operator (`TELEGRAM_ADMIN_IDS`).
pub const ADMIN: i64 = 4242;
/// The other operator.
pub const OTHER_ADMIN: i64 = 1;
/// Someone who is not an operator.
pub const USER: i64 = 777;

static NEXT_UPDATE: AtomicI64 = AtomicI64::new(1000);

/// A fresh `update_id`.
pub fn next_id() -> i64 {
    NEXT_UPDATE.fetch_add(1, Ordering::Relaxed)
}

/// Turns the bot on: its secret, and [`ADMIN`] and [`OTHER_ADMIN`] as operators.
pub fn with_bot(c: &mut elearning_api::config::Config) {
    c.telegram.telegram_webhook_secret = Some(SecretString::from(SECRET.to_owned()));
    c.telegram.telegram_admin_ids = TelegramIds(vec![ADMIN, OTHER_ADMIN]);
}

/// A message update from `from` in their private chat.
pub fn update(id: i64, from: i64, text: &str) -> Value {
    json!({
        "update_id": id,
        "message": {
            "message_id": 17,
            "date": 1_700_000_000,
            "chat": {"id": from, "type": "private", "first_name": "Tess"},
            "from": {"id": from, "is_bot": false, "first_name": "Tess"},
            "text": text,
        }
    })
}

/// Posts `body` to the webhook with `secret`.
pub async fn deliver(
    app: &TestApp,
    body: impl Into<reqwest::Body>,
    secret: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = app
        .client
        .post(format!("{}/api/bot/webhook", app.addr))
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = secret {
        req = req.header("x-telegram-bot-api-secret-token", s);
    }
    let res = req.send().await.expect("deliver");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// Posts `body` with the right secret.
pub async fn deliver_json(app: &TestApp, body: &Value) -> (StatusCode, HeaderMap, Value) {
    deliver(app, body.to_string(), Some(SECRET)).await
}

/// Sends `text` as `from` and returns the reply text (asserting the sendMessage shape).
pub async fn say(app: &TestApp, from: i64, text: &str) -> String {
    let (status, headers, body) = deliver_json(app, &update(next_id(), from, text)).await;
    assert_eq!(status, StatusCode::OK, "{text}: {body}");
    assert_eq!(headers["content-type"], "application/json", "{text}");
    assert_eq!(body["method"], "sendMessage", "{text}: {body}");
    assert_eq!(body["chat_id"], from, "{text}");
    assert_eq!(body["parse_mode"], "HTML", "{text}");
    body["text"].as_str().expect("text").to_owned()
}

/// The first number after `label: ` in `text`.
pub fn figure(text: &str, label: &str) -> f64 {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{label}: ")))
        .unwrap_or_else(|| panic!("no {label:?} line in {text}"));
    line.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line:?}"))
}
