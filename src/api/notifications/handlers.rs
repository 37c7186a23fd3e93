//! `GET` and `POST /api/notifications`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::repo::{self, Notification};
use crate::{
    cache::{CacheKind, Cached, Loaded, Tag},
    error::{AppError, AppResult, ErrorBody},
    extract::pagination::encode_cursor,
    extract::{AppJson, AppQuery, AuthUser, Page, pagination::bad_query},
    legacy,
    state::AppState,
};

/// Query of `GET /api/notifications`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// `list` (default) or `unread-count`.
    pub action: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// The caller's notifications or their unread count.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationList {
    /// Newest first (absent for `unread-count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Vec<Notification>>,
    /// Unread notifications of the caller.
    pub unread_count: i64,
    /// Cursor of the next page (absent for `unread-count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<Option<String>>,
}

/// The caller's notifications (`action=list`) or unread count (`action=unread-count`).
#[utoipa::path(get, path = "/api/notifications", tag = "notifications", params(NotificationQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = NotificationList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_notifications(
    state: AppState,
    user: AuthUser,
    AppQuery(q): AppQuery<NotificationQuery>,
) -> AppResult<Cached> {
    let action = q.action.as_deref().unwrap_or("list");
    if !matches!(action, "list" | "unread-count") {
        return Err(bad_query("action", "must be `list` or `unread-count`"));
    }
    let page = Page::parse(q.limit.as_deref(), q.cursor.as_deref())?;
    let kind = CacheKind::Notifications;
    let key = format!(
        "{}:{action}|{}|{}",
        user.id,
        page.limit,
        page.after
            .map(|(t, i)| encode_cursor(t, i))
            .unwrap_or_default()
    );
    let tags = kind.tags(Some(user.id), None);
    state
        .cache
        .get_or_load(kind, Some(user.role), &key, tags, || async {
            let db = state.db().await?;
            let answer = if action == "list" {
                let (rows, unread_count) = repo::list(&db, user.id, &page).await?;
                let (rows, next) = page.finish(rows, repo::sort_key);
                NotificationList {
                    notifications: Some(rows),
                    unread_count,
                    next_cursor: Some(next),
                }
            } else {
                NotificationList {
                    notifications: None,
                    unread_count: repo::unread_count(&db, user.id).await?,
                    next_cursor: None,
                }
            };
            Loaded::json(&answer, vec![])
        })
        .await
}

/// Body of `POST /api/notifications`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationAction {
    /// `mark-read`, `delete` or `mark-all-read`.
    pub action: String,
    /// The notification, for `mark-read` and `delete`.
    pub notification_id: Option<String>,
}

/// Result of a notification action.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionResult {
    /// Always true.
    pub success: bool,
    /// Notifications changed.
    pub updated: u64,
}

/// Mark one or all of the caller's notifications read, or delete one.
#[utoipa::path(post, path = "/api/notifications", tag = "notifications", request_body = NotificationAction,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ActionResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_notifications(
    state: AppState,
    user: AuthUser,
    AppJson(body): AppJson<NotificationAction>,
) -> AppResult<AppJson<ActionResult>> {
    let target = || async {
        let raw = body
            .notification_id
            .as_deref()
            .ok_or_else(|| AppError::invalid("notificationId", "is required for this action"))?;
        // Someone else's id and a malformed one look the same: not found.
        state.object_id(legacy::Kind::Notification, raw).await
    };
    let updated = match body.action.as_str() {
        "mark-read" => {
            let id = target().await?;
            let db = state.db().await?;
            if !repo::mark_read(&db, user.id, id).await? {
                return Err(AppError::NotFound("notification"));
            }
            1
        }
        "delete" => {
            let id = target().await?;
            let db = state.db().await?;
            if !repo::delete(&db, user.id, id).await? {
                return Err(AppError::NotFound("notification"));
            }
            1
        }
        "mark-all-read" => {
            let db = state.db().await?;
            repo::mark_all_read(&db, user.id).await?
        }
        _ => {
            return Err(AppError::invalid(
                "action",
                "must be one of: mark-read, delete, mark-all-read",
            ));
        }
    };
    state.cache.invalidate(&[Tag::Notifications(user.id)]).await;
    Ok(AppJson(ActionResult {
        success: true,
        updated,
    }))
}
