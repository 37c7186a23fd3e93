//! Telegram, when `TELEGRAM_BOT_TOKEN` is set: the Bot API accepts the token (`getWebhookInfo`),
//! the webhook is registered at `TELEGRAM_WEBHOOK_URL`, and someone is there to be told.

use std::time::Duration;

use serde_json::Value;

use super::{Findings, Status};
use crate::{config::Config, telegram::BotApi};

/// Deadline of the Bot API call.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A delivery error younger than this is reported.
const RECENT_ERROR_SECS: i64 = 3600;

/// Checks the bot.
pub async fn check(config: &Config, out: &mut Findings) {
    let t = &config.telegram;
    let api = match BotApi::from_config(t, TIMEOUT) {
        Ok(Some(api)) => api,
        Ok(None) => {
            if !t.telegram_admin_ids.0.is_empty() || t.telegram_webhook_url.is_some() {
                out.add(
                    "telegram",
                    Status::Warn,
                    "TELEGRAM_BOT_TOKEN unset: operators get no alerts or daily summary, and \
                     the webhook's registration is not checked",
                );
            }
            return;
        }
        Err(err) => {
            out.add("telegram", Status::Fail, format!("{err:#}"));
            return;
        }
    };
    let info = match api.webhook_info().await {
        Ok(info) => info,
        Err(err) => {
            out.add(
                "telegram",
                Status::Fail,
                format!("TELEGRAM_BOT_TOKEN: {err}"),
            );
            return;
        }
    };
    webhook(config, &info, out);
    if t.telegram_admin_ids.0.is_empty() {
        out.add(
            "telegram",
            Status::Warn,
            "TELEGRAM_ADMIN_IDS unset: nobody gets alerts or the daily summary",
        );
    }
}

fn webhook(config: &Config, info: &Value, out: &mut Findings) {
    let t = &config.telegram;
    let registered = info["url"].as_str().unwrap_or_default();
    let expected = t
        .telegram_webhook_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    match expected {
        Some(url) if registered == url => {
            let pending = info["pending_update_count"].as_u64().unwrap_or(0);
            out.add(
                "telegram",
                Status::Ok,
                format!("the bot token works; webhook registered at {url} ({pending} update(s) pending)"),
            );
            if t.telegram_webhook_secret.is_none() {
                out.add(
                    "telegram",
                    Status::Fail,
                    "TELEGRAM_WEBHOOK_SECRET unset: the webhook refuses every update",
                );
            }
            recent_error(info, out);
        }
        Some(url) if registered.is_empty() => out.add(
            "telegram",
            Status::Fail,
            format!(
                "no webhook registered (TELEGRAM_WEBHOOK_URL is {url}): run \
                 `elearning-api telegram set-webhook`"
            ),
        ),
        Some(url) => out.add(
            "telegram",
            Status::Fail,
            format!(
                "the webhook is registered at {registered}, not at TELEGRAM_WEBHOOK_URL ({url}): \
                 run `elearning-api telegram set-webhook`"
            ),
        ),
        None => out.add(
            "telegram",
            Status::Warn,
            format!(
                "the bot token works; TELEGRAM_WEBHOOK_URL unset, so the webhook ({}) is not checked",
                if registered.is_empty() {
                    "none registered"
                } else {
                    registered
                }
            ),
        ),
    }
}

fn recent_error(info: &Value, out: &mut Findings) {
    let Some(at) = info["last_error_date"].as_i64() else {
        return;
    };
    let age = chrono::Utc::now().timestamp() - at;
    if age < RECENT_ERROR_SECS {
        out.add(
            "telegram",
            Status::Warn,
            format!(
                "Telegram's last delivery to the webhook failed {} min ago: {}",
                age.max(0) / 60,
                info["last_error_message"].as_str().unwrap_or("no message")
            ),
        );
    }
}
