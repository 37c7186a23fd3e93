//! SQL for notifications.

use deadpool_postgres::GenericClient;

use super::{Outcome, Table, Written, find_legacy, required_user};
use crate::import::normalise::NotificationRecord;

/// A notification.
pub(super) async fn notification(db: &impl GenericClient, n: &NotificationRecord) -> Written {
    let user = required_user(db, "userId", &n.user).await?;
    let Some(id) = find_legacy(db, Table::Notification, &n.legacy_id).await? else {
        let stmt = db
            .prepare_cached(
                "insert into notification (legacy_id, user_id, title, message, type, link, read, data, created_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()))",
            )
            .await?;
        db.execute(
            &stmt,
            &[
                &n.legacy_id,
                &user,
                &n.title,
                &n.message,
                &n.kind,
                &n.link,
                &n.read,
                &n.data,
                &n.created_at,
            ],
        )
        .await?;
        return Ok(Outcome::Inserted);
    };
    let stmt = db
        .prepare_cached(
            "update notification
                set user_id = $2, title = $3, message = $4, type = $5, link = $6, read = $7, data = $8,
                    created_at = coalesce($9, created_at)
              where id = $1
                and (user_id, title, message, type, link, read, data, created_at)
                    is distinct from ($2, $3, $4, $5, $6, $7, $8, coalesce($9, created_at))",
        )
        .await?;
    let rows = db
        .execute(
            &stmt,
            &[
                &id,
                &user,
                &n.title,
                &n.message,
                &n.kind,
                &n.link,
                &n.read,
                &n.data,
                &n.created_at,
            ],
        )
        .await?;
    Ok(Outcome::updated_if(rows))
}
