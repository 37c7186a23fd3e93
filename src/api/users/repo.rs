//! SQL for users.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::model::User;
use crate::extract::Page;

/// A user with the password hash, for login only.
pub struct Credentials {
    /// The profile.
    pub user: User,
    /// PHC hash; `None` for an account that signs in with Firebase only.
    pub password_hash: Option<String>,
}

/// Finds a user by e-mail, case-insensitively.
pub async fn find_credentials(
    db: &impl GenericClient,
    email: &str,
) -> Result<Option<Credentials>, tokio_postgres::Error> {
    let sql = format!(
        "select {}, password_hash from app_user where lower(email) = lower($1)",
        User::COLUMNS
    );
    let stmt = db.prepare_cached(&sql).await?;
    Ok(db
        .query_opt(&stmt, &[&email])
        .await?
        .map(|row| Credentials {
            user: User::from_row(&row),
            password_hash: row.get("password_hash"),
        }))
}

/// Finds a user by id.
pub async fn find_user(
    db: &impl GenericClient,
    id: Uuid,
) -> Result<Option<User>, tokio_postgres::Error> {
    let sql = format!("select {} from app_user where id = $1", User::COLUMNS);
    let stmt = db.prepare_cached(&sql).await?;
    Ok(db
        .query_opt(&stmt, &[&id])
        .await?
        .as_ref()
        .map(User::from_row))
}

/// Inserts a user; the unique index on `lower(email)` rejects duplicates.
pub async fn insert_user(
    db: &impl GenericClient,
    email: &str,
    password_hash: &str,
    first_name: &str,
    last_name: &str,
    role: &str,
    created_by: Option<Uuid>,
) -> Result<User, tokio_postgres::Error> {
    let sql = format!(
        "insert into app_user (email, password_hash, first_name, last_name, role, created_by)
         values ($1, $2, $3, $4, $5, $6) returning {}",
        User::COLUMNS
    );
    let stmt = db.prepare_cached(&sql).await?;
    let row = db
        .query_one(
            &stmt,
            &[
                &email,
                &password_hash,
                &first_name,
                &last_name,
                &role,
                &created_by,
            ],
        )
        .await?;
    Ok(User::from_row(&row))
}

/// Records a successful login.
pub async fn touch_login(db: &impl GenericClient, id: Uuid) -> Result<(), tokio_postgres::Error> {
    let stmt = db
        .prepare_cached("update app_user set last_login_at = now() where id = $1")
        .await?;
    db.execute(&stmt, &[&id]).await?;
    Ok(())
}

/// Filters of the admin user list.
#[derive(Debug, Default)]
pub struct UserFilter {
    /// Only this role.
    pub role: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Substring of e-mail or name.
    pub q: Option<String>,
}

/// One page of users, newest first, and the total matching the filter.
pub async fn list_users(
    db: &impl GenericClient,
    filter: &UserFilter,
    page: &Page,
) -> Result<(Vec<User>, i64), tokio_postgres::Error> {
    let (ts, id) = page.bounds();
    let pattern = filter.q.as_deref().map(like_pattern);
    // One statement: the page and the total (a window count over the filtered set would count
    // only the page's rows, so the total is a scalar subquery).
    let sql = format!(
        "with filtered as (
            select * from app_user
            where ($1::text is null or role = $1) and ($2::text is null or status = $2)
              and ($3::text is null or email ilike $3 or (first_name || ' ' || last_name) ilike $3)
         )
         select {}, (select count(*) from filtered) as total
         from filtered where (created_at, id) < ($4, $5)
         order by created_at desc, id desc limit $6",
        User::COLUMNS
    );
    let stmt = db.prepare_cached(&sql).await?;
    let rows = db
        .query(
            &stmt,
            &[
                &filter.role,
                &filter.status,
                &pattern,
                &ts,
                &id,
                &page.fetch(),
            ],
        )
        .await?;
    let total = match rows.first() {
        Some(r) => r.get("total"),
        None => count_users(db, filter).await?,
    };
    Ok((rows.iter().map(User::from_row).collect(), total))
}

async fn count_users(
    db: &impl GenericClient,
    filter: &UserFilter,
) -> Result<i64, tokio_postgres::Error> {
    let pattern = filter.q.as_deref().map(like_pattern);
    let stmt = db
        .prepare_cached(
            "select count(*) from app_user
             where ($1::text is null or role = $1) and ($2::text is null or status = $2)
               and ($3::text is null or email ilike $3 or (first_name || ' ' || last_name) ilike $3)",
        )
        .await?;
    Ok(db
        .query_one(&stmt, &[&filter.role, &filter.status, &pattern])
        .await?
        .get(0))
}

/// Applies a partial update; `None` fields keep their value.
pub async fn update_user(
    db: &impl GenericClient,
    id: Uuid,
    role: Option<&str>,
    status: Option<&str>,
    first_name: Option<&str>,
    last_name: Option<&str>,
) -> Result<Option<User>, tokio_postgres::Error> {
    let sql = format!(
        "update app_user set role = coalesce($2, role), status = coalesce($3, status),
             first_name = coalesce($4, first_name), last_name = coalesce($5, last_name), updated_at = now()
         where id = $1 returning {}",
        User::COLUMNS
    );
    let stmt = db.prepare_cached(&sql).await?;
    Ok(db
        .query_opt(&stmt, &[&id, &role, &status, &first_name, &last_name])
        .await?
        .as_ref()
        .map(User::from_row))
}

/// A `LIKE` pattern matching `q` anywhere, with `%`, `_` and `\` taken literally.
pub fn like_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The sort key of a user, for cursors.
pub fn sort_key(u: &User) -> (DateTime<Utc>, Uuid) {
    (u.created_at, u.id)
}
