//! A stand-in for the Telegram Bot API on a free port. It answers like the real one for the
//! bot `123:SECRET-TOKEN` (401 for any other), records every call with the time it arrived, and
//! can be told to answer a chat's next messages with a 429 and `retry_after`, as Telegram's
//! flood control does.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Json, Router, extract::Path, http::StatusCode, routing::post};
use serde_json::{Value, json};

/// The token the stand-in accepts.
pub const BOT_TOKEN: &str = "123:SECRET-TOKEN";

/// One call the stand-in received.
#[derive(Debug, Clone)]
pub struct Call {
    /// `/bot<token>/<method>`.
    pub path: String,
    /// The Bot API method.
    pub method: String,
    /// The JSON body.
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
    /// The HTTP status answered.
    pub status: u16,
}

#[derive(Default)]
struct Behaviour {
    /// Chat → (text the refused messages contain, 429s still to answer, retry_after).
    flood: HashMap<i64, (String, u32, u64)>,
    /// What `getWebhookInfo` reports as the registered URL.
    webhook_url: Option<String>,
}

/// A running stand-in.
pub struct FakeBotApi {
    /// `http://127.0.0.1:<port>`, for `TELEGRAM_API_BASE`.
    pub base: String,
    calls: Arc<Mutex<Vec<Call>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl FakeBotApi {
    /// Starts the stand-in.
    pub async fn start() -> Self {
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let behaviour: Arc<Mutex<Behaviour>> = Arc::default();
        let (recorded, told) = (calls.clone(), behaviour.clone());
        let app = Router::new().route(
            "/{bot}/{method}",
            post(
                move |Path((bot, method)): Path<(String, String)>, Json(body): Json<Value>| {
                    let (recorded, told) = (recorded.clone(), told.clone());
                    async move {
                        let (status, reply) = answer(&bot, &method, &body, &told);
                        recorded.lock().expect("calls").push(Call {
                            path: format!("/{bot}/{method}"),
                            method,
                            body,
                            at: Instant::now(),
                            status: status.as_u16(),
                        });
                        (status, Json(reply))
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base,
            calls,
            behaviour,
        }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls").clone()
    }

    /// The texts delivered to `chat` (answered 200), in order.
    pub fn delivered(&self, chat: i64) -> Vec<String> {
        self.sends(chat)
            .into_iter()
            .filter(|c| c.status == 200)
            .map(|c| c.body["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Every `sendMessage` attempt to `chat`, delivered or not.
    pub fn sends(&self, chat: i64) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "sendMessage" && c.body["chat_id"] == chat)
            .collect()
    }

    /// Answers the next `times` messages to `chat` that contain `text` with 429 and
    /// `retry_after` seconds.
    pub fn flood(&self, chat: i64, text: &str, times: u32, retry_after: u64) {
        self.behaviour
            .lock()
            .expect("behaviour")
            .flood
            .insert(chat, (text.to_owned(), times, retry_after));
    }

    /// What `getWebhookInfo` reports as registered (the default is
    /// `https://bot.example.com/api/bot/webhook`).
    pub fn register_webhook(&self, url: &str) {
        self.behaviour.lock().expect("behaviour").webhook_url = Some(url.to_owned());
    }

    /// Polls until `pred` holds of the calls (panics after 20 s).
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !pred(self) {
            assert!(
                Instant::now() < deadline,
                "the Bot API never saw {what}: {:#?}",
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn answer(bot: &str, method: &str, body: &Value, told: &Mutex<Behaviour>) -> (StatusCode, Value) {
    if bot != format!("bot{BOT_TOKEN}") {
        return (
            StatusCode::UNAUTHORIZED,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
        );
    }
    let mut told = told.lock().expect("behaviour");
    match method {
        "sendMessage" => {
            let chat = body["chat_id"].as_i64().unwrap_or_default();
            let text = body["text"].as_str().unwrap_or_default();
            if let Some((needle, left, retry_after)) = told.flood.get_mut(&chat)
                && *left > 0
                && text.contains(needle.as_str())
            {
                *left -= 1;
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"ok": false, "error_code": 429,
                           "description": format!("Too Many Requests: retry after {retry_after}"),
                           "parameters": {"retry_after": retry_after}}),
                );
            }
            (
                StatusCode::OK,
                json!({"ok": true, "result": {"message_id": 1, "chat": {"id": chat}, "date": 1_700_000_000, "text": body["text"]}}),
            )
        }
        "setWebhook" => {
            told.webhook_url = body["url"].as_str().map(str::to_owned);
            (
                StatusCode::OK,
                json!({"ok": true, "result": true, "description": "Webhook was set"}),
            )
        }
        "deleteWebhook" => (
            StatusCode::OK,
            json!({"ok": true, "result": true, "description": "Webhook was deleted"}),
        ),
        "getWebhookInfo" => (
            StatusCode::OK,
            json!({"ok": true, "result": {
                "url": told.webhook_url.clone().unwrap_or_else(|| "https://bot.example.com/api/bot/webhook".to_owned()),
                "has_custom_certificate": false,
                "pending_update_count": 3,
                "last_error_date": 1_700_000_000,
                "last_error_message": "Wrong response from the webhook: 503 Service Unavailable",
                "max_connections": 40,
                "allowed_updates": ["message"],
            }}),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        ),
    }
}
