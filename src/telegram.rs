//! `elearning-api telegram …`: registers, removes or inspects the bot's webhook through the Bot
//! API (`setWebhook`, `deleteWebhook`, `getWebhookInfo`).
//!
//! The bot token is part of every Bot API URL (`{TELEGRAM_API_BASE}/bot{TOKEN}/{method}`), so
//! no URL is ever printed or logged: reqwest's errors are stripped of theirs.

use std::{error::Error as _, time::Duration};

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::config::{TelegramConfig, valid_webhook_secret};

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
            let reply = call(cfg, token, "setWebhook", &body).await?;
            Ok(format!("webhook set: {url} ({})", description(&reply)))
        }
        TelegramCommand::DeleteWebhook => {
            let body = json!({ "drop_pending_updates": false });
            let reply = call(cfg, token, "deleteWebhook", &body).await?;
            Ok(format!("webhook deleted ({})", description(&reply)))
        }
        TelegramCommand::WebhookInfo => {
            let reply = call(cfg, token, "getWebhookInfo", &json!({})).await?;
            Ok(webhook_info(&reply["result"]))
        }
    }
}

/// Calls `method` and returns the Bot API's answer when it says `"ok": true`.
async fn call(
    cfg: &TelegramConfig,
    token: &SecretString,
    method: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let base = cfg.telegram_api_base.trim_end_matches('/');
    let url = format!("{base}/bot{}/{method}", token.expose_secret());
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| anyhow!("{method} at {base}: {}", describe(e)))?;
    let status = response.status();
    let reply: Value = response.json().await.map_err(|e| {
        anyhow!(
            "{method}: the Bot API answered HTTP {status} without a JSON body ({})",
            describe(e)
        )
    })?;
    if reply["ok"] != true {
        bail!(
            "{method} failed: {} (HTTP {status})",
            reply["description"].as_str().unwrap_or("no description")
        );
    }
    Ok(reply)
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
fn webhook_info(result: &Value) -> String {
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
