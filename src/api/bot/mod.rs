//! `POST /api/bot/webhook`: the Telegram bot (API.md §6).
//!
//! Telegram redelivers an update until it gets a 2xx, for up to a day, and holds back the
//! chat's later updates meanwhile (reliability §2). Hence, in this order:
//!
//! 1. the `X-Telegram-Bot-Api-Secret-Token` header is checked before a byte of the body is read;
//!    anything else is a 401 with no side effect, so an unauthenticated flood costs a header
//!    comparison per request and no memory;
//! 2. at most [`MAX_IN_FLIGHT`] authenticated updates are read and answered at once; beyond, a
//!    503 + `Retry-After` at once (Telegram redelivers after it);
//! 3. the body, read up to [`BODY_LIMIT`] (413 beyond, or at once when `Content-Length` says
//!    so), must be an `Update` (400 otherwise: only a broken sender posts anything else);
//! 4. updates that are not commands get an empty 200, without touching the database;
//! 5. a command is acted on only once its `update_id` is recorded in PostgreSQL
//!    (`INSERT … ON CONFLICT DO NOTHING RETURNING`). A redelivery finds the row and gets an
//!    empty 200. When the row cannot be written the answer is 503 + `Retry-After`: Telegram
//!    tries again later, and nothing has happened yet;
//! 6. from then on the answer is always 200, a failure of ours included (with an apology), so
//!    one bad update never blocks a chat's queue; the reply is cut to Telegram's 4,096-character
//!    message limit ([`reply::fit`]).
//!
//! The reply travels in the HTTP response as a `sendMessage` call, so serving needs no bot token
//! and makes no outbound request. The code never answers 410 (23 hours of them close the webhook).

mod commands;
pub mod format;
pub mod reply;
mod reports;

use std::{sync::Arc, time::Duration};

use axum::{
    Extension,
    body::{Body, Bytes},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use commands::Command;
pub use format::escape_html;

use crate::{
    error::{AppError, AppResult, ErrorBody},
    extract::AppJson,
    state::AppState,
};

/// The header Telegram puts `secret_token` in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Largest accepted update, in bytes. Telegram documents no maximum; the big parts of a
/// message update are its text (at most 4,096 UTF-16 units: 24 KiB even if every one were
/// escaped as `\uXXXX` in JSON), its entities, the message it replies to (the same again) and
/// that message's inline keyboard. Real updates are a few KiB; 256 KiB is ten times the worst
/// text, and bounds what [`MAX_IN_FLIGHT`] readers can hold at once to 10 MiB.
pub const BODY_LIMIT: usize = 256 * 1024;
/// Updates read and answered at once: the `max_connections` the `telegram set-webhook`
/// subcommand registers, so Telegram's own deliveries never meet the bound.
pub const MAX_IN_FLIGHT: usize = crate::telegram::MAX_CONNECTIONS as usize;
/// Time allowed to compose a reply: API.md §6 promises an answer within a second.
const REPLY_BUDGET: Duration = Duration::from_millis(900);
/// Rows older than this are deleted as updates come in (Telegram gives up after 24 hours).
const RETENTION: &str = "48 hours";

/// Routes of this module. The bot is authenticated by its secret, so it is exempt from the
/// per-address rate limits ([`crate::ratelimit::Group::of`]); it has its own bound on updates
/// in flight instead (one per router, so one per running service).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handle_update))
        .layer(Extension(InFlight(Arc::new(Semaphore::new(MAX_IN_FLIGHT)))))
}

/// The permits of updates being read or answered ([`MAX_IN_FLIGHT`]).
#[derive(Clone)]
pub struct InFlight(Arc<Semaphore>);

/// A Telegram `Update`: only the fields the bot reads are described.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Update {
    /// Unique id of the update (not necessarily increasing).
    pub update_id: i64,
    /// A new incoming message, when the update is one.
    #[schema(value_type = Option<Object>)]
    pub message: Option<serde_json::Value>,
}

/// What the bot reads of a message.
#[derive(Debug, Deserialize)]
struct Message {
    chat: Chat,
    from: Option<User>,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Chat {
    id: i64,
}

#[derive(Debug, Deserialize)]
struct User {
    id: i64,
}

/// The answer to an update: a Bot API call Telegram makes on our behalf.
#[derive(Debug, Serialize, ToSchema)]
pub struct BotReply {
    /// Always `sendMessage`.
    #[schema(example = "sendMessage")]
    pub method: String,
    /// The chat the command came from.
    pub chat_id: i64,
    /// The message, in Telegram's HTML subset.
    pub text: String,
    /// Always `HTML`.
    #[schema(example = "HTML")]
    pub parse_mode: String,
}

/// A command to answer.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The update's id.
    pub update_id: i64,
    /// Where to answer.
    pub chat_id: i64,
    /// The sender's Telegram user id (absent for anonymous senders).
    pub from: Option<i64>,
    /// The command.
    pub command: Command,
    /// The command word as typed, without `/` and `@botname`.
    pub word: String,
}

/// Receives a Telegram update and answers a command in the response (operator commands only for
/// `TELEGRAM_ADMIN_IDS`).
#[utoipa::path(post, path = "/api/bot/webhook", tag = "bot",
    params(("X-Telegram-Bot-Api-Secret-Token" = String, Header, description = "TELEGRAM_WEBHOOK_SECRET")),
    request_body(content = Update, description = "A Telegram Update"),
    responses(
        (status = 200, description = "A `sendMessage` call for Telegram to make, or `{}` when there is nothing to say (not a command, or a redelivery)", body = BotReply),
        (status = 400, description = "Not JSON, or not an Update", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret, checked before the body is read (nothing was done)", body = ErrorBody),
        (status = 413, description = "The body is over 256 KiB (refused before reading when `Content-Length` says so)", body = ErrorBody),
        (status = 503, description = "The update could not be recorded, or 40 updates are already in flight; Telegram retries after `Retry-After`", body = ErrorBody),
    ))]
pub async fn handle_update(
    state: AppState,
    Extension(in_flight): Extension<InFlight>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Response> {
    authenticate(&state, &headers)?;
    // Held until the answer is made; a client that leaves drops it with the future.
    let Ok(_permit) = in_flight.0.try_acquire() else {
        tracing::warn!("Telegram update refused: {MAX_IN_FLIGHT} updates already in flight");
        return Err(AppError::Unavailable {
            retry_after: 1,
            message: "too many updates in flight, please retry",
            code: "webhook_busy",
        });
    };
    let body = read_body(&headers, body).await?;
    let update = parse(&body)?;
    let Some(incoming) = incoming(&update) else {
        tracing::debug!(
            update_id = update.update_id,
            "Telegram update ignored: not a command"
        );
        return Ok(nothing());
    };
    if !record(&state, update.update_id).await? {
        tracing::debug!(
            update_id = update.update_id,
            "Telegram update already handled"
        );
        return Ok(nothing());
    }
    let text = match tokio::time::timeout(REPLY_BUDGET, commands::answer(&state, &incoming)).await {
        Ok(Ok(text)) => text,
        Ok(Err(err)) => {
            // Recorded, so Telegram must get a 200: a 5xx would be redelivered and ignored.
            tracing::error!(update_id = incoming.update_id, command = %incoming.word, error = ?err, "bot command failed");
            commands::APOLOGY.to_owned()
        }
        Err(_) => {
            tracing::warn!(update_id = incoming.update_id, command = %incoming.word, "bot command took too long");
            commands::TOO_SLOW.to_owned()
        }
    };
    Ok(AppJson(BotReply {
        method: "sendMessage".to_owned(),
        chat_id: incoming.chat_id,
        text: reply::fit(text),
        parse_mode: "HTML".to_owned(),
    })
    .into_response())
}

/// The body, at most [`BODY_LIMIT`] bytes: refused before reading when `Content-Length`
/// declares more, and as soon as more arrives otherwise.
async fn read_body(headers: &HeaderMap, body: Body) -> AppResult<Bytes> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(AppError::PayloadTooLarge);
    }
    let mut stream = body.into_data_stream();
    let mut buf = Vec::with_capacity(declared.map_or(4096, |n| n as usize));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|_| AppError::BadRequest("the update's body could not be read".to_owned()))?;
        if buf.len() + chunk.len() > BODY_LIMIT {
            return Err(AppError::PayloadTooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// 401 unless the secret header matches `TELEGRAM_WEBHOOK_SECRET` (never when none is set).
fn authenticate(state: &AppState, headers: &HeaderMap) -> AppResult<()> {
    let presented = headers.get(SECRET_HEADER);
    let ok = match (&state.config.telegram.telegram_webhook_secret, presented) {
        (Some(secret), Some(presented)) => {
            crate::auth::secret_matches(presented.as_bytes(), secret)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(AppError::Unauthenticated {
            message: "missing or wrong X-Telegram-Bot-Api-Secret-Token",
            code: "invalid_webhook_secret",
        })
    }
}

fn parse(body: &[u8]) -> AppResult<Update> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| AppError::BadRequest(format!("malformed JSON: {e}")))?;
    // serde would also read a struct from an array, field by field.
    if !value.is_object() {
        return Err(AppError::BadRequest(
            "not a Telegram Update: expected a JSON object".to_owned(),
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| AppError::BadRequest(format!("not a Telegram Update: {e}")))
}

/// The command in `update`, if it is a message whose text starts with `/`.
fn incoming(update: &Update) -> Option<Incoming> {
    let message: Message = serde_json::from_value(update.message.clone()?).ok()?;
    let word = commands::command_word(message.text.as_deref()?)?;
    Some(Incoming {
        update_id: update.update_id,
        chat_id: message.chat.id,
        from: message.from.map(|u| u.id),
        command: Command::parse(&word),
        word,
    })
}

/// An empty 200: acknowledged, nothing to send.
fn nothing() -> Response {
    AppJson(serde_json::json!({})).into_response()
}

/// Records `update_id`; `true` when it was new (act on it), `false` for a redelivery. Any failure
/// is a 503: the update was not recorded, so Telegram must retry it.
async fn record(state: &AppState, update_id: i64) -> AppResult<bool> {
    let result = async {
        let db = state.db().await?;
        let stmt = db
            .prepare_cached(
                "insert into telegram_update (update_id) values ($1) \
                 on conflict do nothing returning update_id",
            )
            .await?;
        let fresh = db.query_opt(&stmt, &[&update_id]).await?.is_some();
        if fresh {
            // Opportunistic purge, bounded so that one call stays cheap; an error here costs
            // nothing but a log line.
            let purge = format!(
                "delete from telegram_update where update_id in (select update_id from \
                 telegram_update where received_at < now() - interval '{RETENTION}' limit 100)"
            );
            if let Err(err) = db.execute(purge.as_str(), &[]).await {
                tracing::warn!(error = %err, "could not purge old Telegram updates");
            }
        }
        Ok::<_, AppError>(fresh)
    }
    .await;
    result.map_err(|err| match err {
        AppError::Unavailable { .. } => err,
        other => {
            tracing::error!(error = ?other, update_id, "could not record a Telegram update");
            AppError::Unavailable {
                retry_after: 5,
                message: "the update could not be recorded, please retry",
                code: "update_not_recorded",
            }
        }
    })
}
