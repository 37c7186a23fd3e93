//! SQL for users and courses (with their modules and lessons).

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{
    Failure, Outcome, Table, Written, find_legacy, find_user, optional_user, required_user,
};
use crate::import::normalise::{CourseRecord, LessonRecord, ModuleRecord, UserRecord};

/// An account: matched by its Firebase uid, else linked to the native account with the same
/// e-mail (case-insensitively) that no Firebase user has yet. Passwords are never written.
pub(super) async fn user(
    db: &impl GenericClient,
    u: &UserRecord,
    warnings: &mut Vec<String>,
) -> Written {
    let created_by = optional_user(db, "createdBy", u.created_by.as_deref(), warnings).await?;
    let target = match find_user(db, &u.uid).await? {
        Some(id) => Some(id),
        None => {
            let stmt = db
                .prepare_cached(
                    "select id, firebase_uid from app_user where lower(email) = lower($1)",
                )
                .await?;
            match db.query_opt(&stmt, &[&u.email]).await? {
                None => None,
                Some(row) => match row.get::<_, Option<String>>("firebase_uid") {
                    None => {
                        warnings.push(format!(
                            "linked to the existing account with the e-mail {}",
                            u.email
                        ));
                        Some(row.get("id"))
                    }
                    Some(other) => {
                        return Err(Failure::Rejected(format!(
                            "duplicate e-mail: {} already belongs to Firebase user '{other}'",
                            u.email
                        )));
                    }
                },
            }
        }
    };
    let (created, updated) = (u.times.created, u.times.updated);
    let Some(id) = target else {
        let stmt = db
            .prepare_cached(
                "insert into app_user (firebase_uid, email, first_name, last_name, role, status, created_by,
                                       created_at, updated_at, last_login_at)
                 values ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()), coalesce($9, $8, now()), $10)",
            )
            .await?;
        db.execute(
            &stmt,
            &[
                &u.uid,
                &u.email,
                &u.first_name,
                &u.last_name,
                &u.role,
                &u.status,
                &created_by,
                &created,
                &updated,
                &u.last_login_at,
            ],
        )
        .await?;
        return Ok(Outcome::Inserted);
    };
    // -- the service records logins itself: an export without lastLoginAt leaves it alone.
    let stmt = db
        .prepare_cached(
            "update app_user
                set firebase_uid = $2, email = $3, first_name = $4, last_name = $5, role = $6, status = $7,
                    created_by = $8, created_at = coalesce($9, created_at), updated_at = coalesce($10, now()),
                    last_login_at = coalesce($11, last_login_at)
              where id = $1
                and (firebase_uid, email, first_name, last_name, role, status, created_by, created_at, updated_at, last_login_at)
                    is distinct from
                    ($2, $3, $4, $5, $6, $7, $8, coalesce($9, created_at), coalesce($10, updated_at), coalesce($11, last_login_at))",
        )
        .await?;
    let rows = db
        .execute(
            &stmt,
            &[
                &id,
                &u.uid,
                &u.email,
                &u.first_name,
                &u.last_name,
                &u.role,
                &u.status,
                &created_by,
                &created,
                &updated,
                &u.last_login_at,
            ],
        )
        .await?;
    Ok(Outcome::updated_if(rows))
}

/// A course, then its modules and lessons.
pub(super) async fn course(
    db: &impl GenericClient,
    c: &CourseRecord,
    warnings: &mut Vec<String>,
) -> Written {
    let instructor = required_user(db, "instructorId", &c.instructor).await?;
    let approved_by = optional_user(db, "approvedBy", c.approved_by.as_deref(), warnings).await?;
    let stmt = db
        .prepare_cached(
            "select coalesce(legacy_id, id::text) from course where lower(title) = lower($1) and legacy_id is distinct from $2",
        )
        .await?;
    if let Some(row) = db.query_opt(&stmt, &[&c.title, &c.legacy_id]).await? {
        return Err(Failure::Rejected(format!(
            "duplicate title: \"{}\" is already the title of course '{}'",
            c.title,
            row.get::<_, String>(0)
        )));
    }
    let (created, updated) = (c.times.created, c.times.updated);
    let (id, outcome) = match find_legacy(db, Table::Course, &c.legacy_id).await? {
        None => {
            let stmt = db
                .prepare_cached(
                    "insert into course (legacy_id, instructor_id, title, description, category, level, status, requires_approval,
                                         image_url, ai_hint, duration_minutes, price_cents, approved_by, approved_at, approval_reason,
                                         created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                             coalesce($16, now()), coalesce($17, $16, now()))
                     returning id",
                )
                .await?;
            let row = db
                .query_one(
                    &stmt,
                    &[
                        &c.legacy_id,
                        &instructor,
                        &c.title,
                        &c.description,
                        &c.category,
                        &c.level,
                        &c.status,
                        &c.requires_approval,
                        &c.image_url,
                        &c.ai_hint,
                        &c.duration_minutes,
                        &c.price_cents,
                        &approved_by,
                        &c.approved_at,
                        &c.approval_reason,
                        &created,
                        &updated,
                    ],
                )
                .await?;
            (row.get(0), Outcome::Inserted)
        }
        Some(id) => {
            let stmt = db
                .prepare_cached(
                    "update course
                        set instructor_id = $2, title = $3, description = $4, category = $5, level = $6, status = $7,
                            requires_approval = $8, image_url = $9, ai_hint = $10, duration_minutes = $11, price_cents = $12,
                            approved_by = $13, approved_at = $14, approval_reason = $15,
                            created_at = coalesce($16, created_at), updated_at = coalesce($17, now())
                      where id = $1
                        and (instructor_id, title, description, category, level, status, requires_approval, image_url, ai_hint,
                             duration_minutes, price_cents, approved_by, approved_at, approval_reason, created_at, updated_at)
                            is distinct from
                            ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                             coalesce($16, created_at), coalesce($17, updated_at))",
                )
                .await?;
            let rows = db
                .execute(
                    &stmt,
                    &[
                        &id,
                        &instructor,
                        &c.title,
                        &c.description,
                        &c.category,
                        &c.level,
                        &c.status,
                        &c.requires_approval,
                        &c.image_url,
                        &c.ai_hint,
                        &c.duration_minutes,
                        &c.price_cents,
                        &approved_by,
                        &c.approved_at,
                        &c.approval_reason,
                        &created,
                        &updated,
                    ],
                )
                .await?;
            (id, Outcome::updated_if(rows))
        }
    };
    let children_changed = sync_modules(db, id, &c.modules).await?;
    Ok(outcome.with_children(children_changed))
}

/// Makes the course's imported modules and lessons those of the document, in its order.
/// Returns whether any row changed. Lessons may move between modules, so stale lessons go
/// before stale modules (whose deletion cascades to what they still hold).
async fn sync_modules(
    db: &impl GenericClient,
    course: Uuid,
    modules: &[ModuleRecord],
) -> Result<bool, tokio_postgres::Error> {
    let mut changed = false;
    for (position, m) in (0_i32..).zip(modules) {
        let (module, module_changed) = upsert_module(db, course, position, m).await?;
        changed |= module_changed;
        for (position, l) in (0_i32..).zip(&m.lessons) {
            changed |= upsert_lesson(db, course, module, position, l).await?;
        }
    }
    let lessons: Vec<&str> = modules
        .iter()
        .flat_map(|m| &m.lessons)
        .map(|l| l.legacy_id.as_str())
        .collect();
    let modules: Vec<&str> = modules.iter().map(|m| m.legacy_id.as_str()).collect();
    for (sql, ids) in [
        (
            "delete from lesson where course_id = $1 and legacy_id <> all($2)",
            &lessons,
        ),
        (
            "delete from course_module where course_id = $1 and legacy_id <> all($2)",
            &modules,
        ),
    ] {
        let stmt = db.prepare_cached(sql).await?;
        changed |= db.execute(&stmt, &[&course, ids]).await? > 0;
    }
    Ok(changed)
}

/// One module; returns its id and whether it changed. Positions are unique per course only
/// at commit (a deferred constraint), so modules can swap places.
async fn upsert_module(
    db: &impl GenericClient,
    course: Uuid,
    position: i32,
    m: &ModuleRecord,
) -> Result<(Uuid, bool), tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "insert into course_module (course_id, legacy_id, position, title) values ($1, $2, $3, $4)
             on conflict (course_id, legacy_id) do update set position = excluded.position, title = excluded.title
              where (course_module.position, course_module.title) is distinct from (excluded.position, excluded.title)
             returning id",
        )
        .await?;
    if let Some(row) = db
        .query_opt(&stmt, &[&course, &m.legacy_id, &position, &m.title])
        .await?
    {
        return Ok((row.get(0), true));
    }
    let stmt = db
        .prepare_cached("select id from course_module where course_id = $1 and legacy_id = $2")
        .await?;
    let row = db.query_one(&stmt, &[&course, &m.legacy_id]).await?;
    Ok((row.get(0), false))
}

/// One lesson, matched within its course (it may have moved to another module); returns
/// whether it changed.
async fn upsert_lesson(
    db: &impl GenericClient,
    course: Uuid,
    module: Uuid,
    position: i32,
    l: &LessonRecord,
) -> Result<bool, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "insert into lesson (course_id, legacy_id, module_id, position, title, description, content_type, video_source,
                                 content, url, duration_minutes)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             on conflict (course_id, legacy_id) do update
                set module_id = excluded.module_id, position = excluded.position, title = excluded.title,
                    description = excluded.description, content_type = excluded.content_type,
                    video_source = excluded.video_source, content = excluded.content, url = excluded.url,
                    duration_minutes = excluded.duration_minutes
              where (lesson.module_id, lesson.position, lesson.title, lesson.description, lesson.content_type,
                     lesson.video_source, lesson.content, lesson.url, lesson.duration_minutes)
                    is distinct from
                    (excluded.module_id, excluded.position, excluded.title, excluded.description, excluded.content_type,
                     excluded.video_source, excluded.content, excluded.url, excluded.duration_minutes)",
        )
        .await?;
    let rows = db
        .execute(
            &stmt,
            &[
                &course,
                &l.legacy_id,
                &module,
                &position,
                &l.title,
                &l.description,
                &l.content_type,
                &l.video_source,
                &l.content,
                &l.url,
                &l.duration_minutes,
            ],
        )
        .await?;
    Ok(rows > 0)
}
