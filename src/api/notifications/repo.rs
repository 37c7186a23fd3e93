//! SQL for notifications; also used by the other resources to notify users.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{extract::Page, jsontime};

/// A notification.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Id.
    pub id: Uuid,
    /// Recipient.
    pub user_id: Uuid,
    /// Title.
    pub title: String,
    /// Text.
    pub message: String,
    /// `info`, `success`, `warning` or `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where the frontend should link to.
    pub link: Option<String>,
    /// Whether the user has read it.
    pub read: bool,
    /// Extra data (ids of the related objects).
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// Creation time.
    #[serde(serialize_with = "jsontime::ser")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

impl Notification {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            user_id: row.get("user_id"),
            title: row.get("title"),
            message: row.get("message"),
            kind: row.get("type"),
            link: row.get("link"),
            read: row.get("read"),
            data: row.get("data"),
            created_at: row.get("created_at"),
        }
    }
}

/// What to tell whom.
pub struct NewNotification<'a> {
    /// Title.
    pub title: &'a str,
    /// Text.
    pub message: &'a str,
    /// `info`, `success`, `warning` or `error`.
    pub kind: &'a str,
    /// Frontend link.
    pub link: Option<&'a str>,
    /// Related ids.
    pub data: Option<serde_json::Value>,
}

/// Longest stored title and message (the columns' CHECKs).
const TITLE_MAX: usize = 200;
const MESSAGE_MAX: usize = 2000;

/// `text` cut to `max` characters, with an ellipsis when cut: notifications are composed from
/// caller input (a course title, a reason), so their length is only known here.
fn fit(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.chars().count() <= max {
        std::borrow::Cow::Borrowed(text)
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        std::borrow::Cow::Owned(cut)
    }
}

/// Notifies one user.
pub async fn notify(
    db: &impl GenericClient,
    user: Uuid,
    n: &NewNotification<'_>,
) -> Result<(), tokio_postgres::Error> {
    let stmt = db
        .prepare_cached("insert into notification (user_id, title, message, type, link, data) values ($1, $2, $3, $4, $5, $6)")
        .await?;
    let (title, message) = (fit(n.title, TITLE_MAX), fit(n.message, MESSAGE_MAX));
    db.execute(&stmt, &[&user, &title, &message, &n.kind, &n.link, &n.data])
        .await?;
    Ok(())
}

/// Notifies every active admin; returns who was notified.
pub async fn notify_admins(
    db: &impl GenericClient,
    n: &NewNotification<'_>,
) -> Result<Vec<Uuid>, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "insert into notification (user_id, title, message, type, link, data)
             select id, $1, $2, $3, $4, $5 from app_user where role = 'admin' and status = 'active'
             returning user_id",
        )
        .await?;
    let (title, message) = (fit(n.title, TITLE_MAX), fit(n.message, MESSAGE_MAX));
    let rows = db
        .query(&stmt, &[&title, &message, &n.kind, &n.link, &n.data])
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// One page of a user's notifications, newest first, with their unread count.
pub async fn list(
    db: &impl GenericClient,
    user: Uuid,
    page: &Page,
) -> Result<(Vec<Notification>, i64), tokio_postgres::Error> {
    let (ts, id) = page.bounds();
    let stmt = db
        .prepare_cached(
            "select id, user_id, title, message, type, link, read, data, created_at
             from notification where user_id = $1 and (created_at, id) < ($2, $3)
             order by created_at desc, id desc limit $4",
        )
        .await?;
    let count = db
        .prepare_cached("select count(*) from notification where user_id = $1 and not read")
        .await?;
    // Both statements go out together on the one connection (pipelined): one round trip.
    let fetch = page.fetch();
    let (list_params, count_params): (
        [&(dyn tokio_postgres::types::ToSql + Sync); 4],
        [&(dyn tokio_postgres::types::ToSql + Sync); 1],
    ) = ([&user, &ts, &id, &fetch], [&user]);
    let (rows, unread) = tokio::try_join!(
        db.query(&stmt, &list_params),
        db.query_one(&count, &count_params)
    )?;
    Ok((
        rows.iter().map(Notification::from_row).collect(),
        unread.get(0),
    ))
}

/// A user's unread count.
pub async fn unread_count(
    db: &impl GenericClient,
    user: Uuid,
) -> Result<i64, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached("select count(*) from notification where user_id = $1 and not read")
        .await?;
    Ok(db.query_one(&stmt, &[&user]).await?.get(0))
}

/// Marks one of the user's notifications read; false when it is not theirs or does not exist.
pub async fn mark_read(
    db: &impl GenericClient,
    user: Uuid,
    id: Uuid,
) -> Result<bool, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached("update notification set read = true where id = $1 and user_id = $2")
        .await?;
    Ok(db.execute(&stmt, &[&id, &user]).await? == 1)
}

/// Deletes one of the user's notifications; false when it is not theirs or does not exist.
pub async fn delete(
    db: &impl GenericClient,
    user: Uuid,
    id: Uuid,
) -> Result<bool, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached("delete from notification where id = $1 and user_id = $2")
        .await?;
    Ok(db.execute(&stmt, &[&id, &user]).await? == 1)
}

/// Marks all of the user's notifications read; returns how many changed.
pub async fn mark_all_read(
    db: &impl GenericClient,
    user: Uuid,
) -> Result<u64, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached("update notification set read = true where user_id = $1 and not read")
        .await?;
    db.execute(&stmt, &[&user]).await
}

/// The sort key of a notification, for cursors.
pub fn sort_key(n: &Notification) -> (DateTime<Utc>, Uuid) {
    (n.created_at, n.id)
}
