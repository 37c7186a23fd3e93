//! The Bot API client ([`BotApi`]), used to send operators their messages
//! ([`crate::ops::deliver`]), by `elearning-api check`, and by `elearning-api telegram …`, which
//! registers, removes or inspects the bot's webhook (`setWebhook`, `deleteWebhook`,
//! `getWebhookInfo`).
//!
//! The bot token is part of every Bot API URL (`{TELEGRAM_API_BASE}/bot{TOKEN}/{method}`), so
//! no URL is ever printed or logged: reqwest's errors are stripped of theirs.

use std::{error::Error as _, time::Duration};

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::config::{TelegramConfig, valid_webhook_secret};

/// A Bot API client for one bot.
#[derive(Clone)]
pub struct BotApi {
    client: reqwest::Client,
    base: String,
    token: SecretString,
}

/// Why a Bot API call failed. The messages never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum BotApiError {
    /// No answer: connection refused, timeout, TLS…
    #[error("{method} at {base}: {detail}")]
    Transport {
        /// The Bot API method.
        method: String,
        /// `TELEGRAM_API_BASE`.
        base: String,
        /// What failed.
        detail: String,
    },
    /// An answer that is not the Bot API's JSON (a proxy's error page, say).
    #[error("{method}: the Bot API answered HTTP {status} without a JSON body ({detail})")]
    NotJson {
        /// The Bot API method.
        method: String,
        /// HTTP status.
        status: u16,
        /// The decoding error.
        detail: String,
    },
    /// The Bot API said `"ok": false`.
    #[error("{method} failed: {description} (HTTP {status})")]
    Refused {
        /// The Bot API method.
        method: String,
        /// HTTP status (`error_code`).
        status: u16,
        /// The Bot API's `description`.
        description: String,
        /// `parameters.retry_after` of a 429 (flood control), in seconds.
        retry_after: Option<u64>,
    },
}

impl BotApiError {
    /// How long the Bot API asked us to wait (429 with `retry_after`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Refused {
                retry_after: Some(secs),
                ..
            } => Some(Duration::from_secs(*secs)),
            _ => None,
        }
    }

    /// Whether trying again cannot help: the Bot API refused the request itself (bad token,
    /// chat not found, bot blocked by the user…), as opposed to a transport failure, a 5xx or
    /// flood control.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Transport { .. } => false,
            Self::NotJson { status, .. } | Self::Refused { status, .. } => {
                *status != 429 && (400..500).contains(status)
            }
        }
    }
}

impl BotApi {
    /// A client for the bot `token` at `TELEGRAM_API_BASE`, each call bounded by `timeout`.
    pub fn new(
        cfg: &TelegramConfig,
        token: SecretString,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            client,
            base: cfg.telegram_api_base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The client of the configured bot, if `TELEGRAM_BOT_TOKEN` is set.
    pub fn from_config(cfg: &TelegramConfig, timeout: Duration) -> anyhow::Result<Option<Self>> {
        match cfg
            .telegram_bot_token
            .as_ref()
            .filter(|t| !t.expose_secret().trim().is_empty())
        {
            Some(token) => Self::new(cfg, token.clone(), timeout).map(Some),
            None => Ok(None),
        }
    }

    /// Calls `method` and returns the Bot API's answer when it says `"ok": true`.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, BotApiError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose_secret());
        let response =
            self.client
                .post(url)
                .json(body)
                .send()
                .await
                .map_err(|e| BotApiError::Transport {
                    method: method.to_owned(),
                    base: self.base.clone(),
                    detail: describe(e),
                })?;
        let status = response.status();
        let reply: Value = response.json().await.map_err(|e| BotApiError::NotJson {
            method: method.to_owned(),
            status: status.as_u16(),
            detail: describe(e),
        })?;
        if reply["ok"] != true {
            return Err(BotApiError::Refused {
                method: method.to_owned(),
                status: reply["error_code"]
                    .as_u64()
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(status.as_u16()),
                description: reply["description"]
                    .as_str()
                    .unwrap_or("no description")
                    .to_owned(),
                retry_after: reply["parameters"]["retry_after"].as_u64(),
            });
        }
        Ok(reply)
    }

    /// `sendMessage` to `chat_id`, in Telegram's HTML subset, without link previews.
    pub async fn send_message(&self, chat_id: i64, html: &str) -> Result<Value, BotApiError> {
        let body = json!({
            "chat_id": chat_id,
            "text": html,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
        });
        self.call("sendMessage", &body).await
    }

    /// `getWebhookInfo`'s result.
    pub async fn webhook_info(&self) -> Result<Value, BotApiError> {
        Ok(self.call("getWebhookInfo", &json!({})).await?["result"].take())
    }
}

/// Deadline of one Bot API call.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Deadline of opening the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Telegram's default and the most concurrent deliveries we want (reliability §2).
pub const MAX_CONNECTIONS: u32 = 40;

/// The `telegram` subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum TelegramCommand {
    /// Register `TELEGRAM_WEBHOOK_URL` with `TELEGRAM_WEBHOOK_SECRET`, for message updates only.
    SetWebhook,
    /// Remove the webhook (Telegram keeps pending updates).
    DeleteWebhook,
    /// Print what Telegram knows of the webhook: URL, pending updates, last error.
    WebhookInfo,
}

/// Runs `command` and returns what to print. Every error names the variable at fault or the
/// Bot API's description.
pub async fn run(cfg: &TelegramConfig, command: TelegramCommand) -> anyhow::Result<String> {
    let token = cfg
        .telegram_bot_token
        .as_ref()
        .filter(|t| !t.expose_secret().trim().is_empty())
        .context("TELEGRAM_BOT_TOKEN is not set (the token @BotFather gave the bot)")?;
    let api = BotApi::new(cfg, token.clone(), TIMEOUT)?;
    match command {
        TelegramCommand::SetWebhook => {
            let url = cfg
                .telegram_webhook_url
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .context("TELEGRAM_WEBHOOK_URL is not set (e.g. https://<service>.onrender.com/api/bot/webhook)")?;
            url::Url::parse(url)
                .map_err(|e| anyhow!("TELEGRAM_WEBHOOK_URL is not a valid URL ({e})"))?;
            let secret = cfg.telegram_webhook_secret.as_ref().context(
                "TELEGRAM_WEBHOOK_SECRET is not set (generate one with `openssl rand -hex 32`)",
            )?;
            if !valid_webhook_secret(secret.expose_secret()) {
                bail!(
                    "TELEGRAM_WEBHOOK_SECRET {}",
                    crate::config::WEBHOOK_SECRET_RULE
                );
            }
            let body = json!({
                "url": url,
                "secret_token": secret.expose_secret(),
                "allowed_updates": ["message"],
                "max_connections": MAX_CONNECTIONS,
                "drop_pending_updates": false,
            });
            let reply = api.call("setWebhook", &body).await?;
            Ok(format!("webhook set: {url} ({})", description(&reply)))
        }
        TelegramCommand::DeleteWebhook => {
            let body = json!({ "drop_pending_updates": false });
            let reply = api.call("deleteWebhook", &body).await?;
            Ok(format!("webhook deleted ({})", description(&reply)))
        }
        TelegramCommand::WebhookInfo => Ok(webhook_info(&api.webhook_info().await?)),
    }
}

/// A reqwest error and its causes on one line, without the URL (it holds the token).
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn description(reply: &Value) -> &str {
    reply["description"].as_str().unwrap_or("ok")
}

/// `getWebhookInfo`'s result, one `field: value` line each, in the Bot API's order; dates also
/// as ISO-8601.
pub fn webhook_info(result: &Value) -> String {
    const ORDER: [&str; 9] = [
        "url",
        "has_custom_certificate",
        "pending_update_count",
        "ip_address",
        "last_error_date",
        "last_error_message",
        "last_synchronization_error_date",
        "max_connections",
        "allowed_updates",
    ];
    let Some(fields) = result.as_object() else {
        return format!("result: {result}");
    };
    let known = ORDER.iter().filter_map(|k| fields.get_key_value(*k));
    let others = fields.iter().filter(|(k, _)| !ORDER.contains(&k.as_str()));
    known
        .chain(others)
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) if s.is_empty() => "(none)".to_owned(),
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(", "),
                Value::Number(n) if key.ends_with("_date") => {
                    let iso = n
                        .as_i64()
                        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                        .map(crate::jsontime::iso)
                        .unwrap_or_default();
                    format!("{n} ({iso})")
                }
                other => other.to_string(),
            };
            format!("{key}: {text}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::webhook_info;
    use crate::config::{parse_telegram_ids, valid_webhook_secret};

    #[test]
    fn webhook_info_prints_one_line_per_field_in_the_bot_api_order() {
        let info = webhook_info(&json!({
            "max_connections": 40,
            "url": "https://example.com/api/bot/webhook",
            "pending_update_count": 2,
            "last_error_date": 1_700_000_000,
            "allowed_updates": ["message"],
            "has_custom_certificate": false,
        }));
        assert_eq!(
            info,
            "url: https://example.com/api/bot/webhook\nhas_custom_certificate: false\n\
             pending_update_count: 2\nlast_error_date: 1700000000 (2023-11-14T22:13:20.000Z)\n\
             max_connections: 40\nallowed_updates: message"
        );
    }

    #[test]
    fn admin_ids_and_secrets_are_checked() {
        assert_eq!(
            parse_telegram_ids(" 12, -34 ,,56").map(|ids| ids.0),
            Ok(vec![12, -34, 56])
        );
        assert_eq!(parse_telegram_ids("").map(|ids| ids.0), Ok(vec![]));
        assert!(
            parse_telegram_ids("12,abc")
                .is_err_and(|e| e.contains("\"abc\" is not a Telegram user id"))
        );
        assert!(valid_webhook_secret("abc_DEF-123_4567"));
        assert!(valid_webhook_secret(&"a".repeat(256)));
        // Telegram would take the short ones; this service asks for 16 characters at least.
        for bad in [
            "",
            "x",
            "abc_DEF-123_456",
            "has space 0123456789",
            "semi;colon0123456789",
            "é0123456789abcdef",
            &"a".repeat(257),
        ] {
            assert!(!valid_webhook_secret(bad), "{bad:?}");
        }
    }
}
