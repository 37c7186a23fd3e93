//! SQL for enrollment requests and enrollments (the original's `progress` documents), with
//! their completed lessons.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{
    Failure, Outcome, Table, Written, find_legacy, optional_user, required_course, required_user,
};
use crate::import::normalise::{EnrollmentRecord, RequestRecord};

/// An enrollment request.
pub(super) async fn request(
    db: &impl GenericClient,
    r: &RequestRecord,
    warnings: &mut Vec<String>,
) -> Written {
    let course = required_course(db, "courseId", &r.course).await?;
    let student = required_user(db, "studentId", &r.student).await?;
    let responded_by =
        optional_user(db, "respondedBy", r.responded_by.as_deref(), warnings).await?;
    let (created, updated) = (r.times.created, r.times.updated);
    let Some(id) = find_legacy(db, Table::EnrollmentRequest, &r.legacy_id).await? else {
        let stmt = db
            .prepare_cached(
                "insert into enrollment_request (legacy_id, course_id, student_id, status, request_message, response_message,
                                                 responded_by, responded_at, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()), coalesce($10, $9, now()))",
            )
            .await?;
        db.execute(
            &stmt,
            &[
                &r.legacy_id,
                &course,
                &student,
                &r.status,
                &r.request_message,
                &r.response_message,
                &responded_by,
                &r.responded_at,
                &created,
                &updated,
            ],
        )
        .await?;
        return Ok(Outcome::Inserted);
    };
    let stmt = db
        .prepare_cached(
            "update enrollment_request
                set course_id = $2, student_id = $3, status = $4, request_message = $5, response_message = $6,
                    responded_by = $7, responded_at = $8, created_at = coalesce($9, created_at), updated_at = coalesce($10, now())
              where id = $1
                and (course_id, student_id, status, request_message, response_message, responded_by, responded_at, created_at, updated_at)
                    is distinct from
                    ($2, $3, $4, $5, $6, $7, $8, coalesce($9, created_at), coalesce($10, updated_at))",
        )
        .await?;
    let rows = db
        .execute(
            &stmt,
            &[
                &id,
                &course,
                &student,
                &r.status,
                &r.request_message,
                &r.response_message,
                &responded_by,
                &r.responded_at,
                &created,
                &updated,
            ],
        )
        .await?;
    Ok(Outcome::updated_if(rows))
}

/// An enrollment and its completed lessons. A progress document without a `progress` gets the
/// share of the course's lessons it completed.
pub(super) async fn enrollment(
    db: &impl GenericClient,
    e: &EnrollmentRecord,
    warnings: &mut Vec<String>,
) -> Written {
    let user = required_user(db, "userId", &e.user).await?;
    let course = required_course(db, "courseId", &e.course).await?;
    let request = match &e.request {
        None => None,
        Some(legacy) => {
            let found = find_legacy(db, Table::EnrollmentRequest, legacy).await?;
            if found.is_none() {
                warnings.push(format!(
                    "enrollmentRequestId '{legacy}' is not an imported enrollment request: left empty"
                ));
            }
            found
        }
    };
    let stmt = db
        .prepare_cached(
            "select legacy_id from enrollment where user_id = $1 and course_id = $2 and legacy_id is distinct from $3",
        )
        .await?;
    if let Some(row) = db.query_opt(&stmt, &[&user, &course, &e.legacy_id]).await? {
        let other = match row.get::<_, Option<String>>(0) {
            Some(legacy) => format!("progress document '{legacy}'"),
            None => "an enrollment made in this service".to_owned(),
        };
        return Err(Failure::Rejected(format!(
            "duplicate enrollment: the student is already enrolled in this course ({other})"
        )));
    }
    let stmt = db
        .prepare_cached("select legacy_id, id from lesson where course_id = $1")
        .await?;
    let rows = db.query(&stmt, &[&course]).await?;
    let total = rows.len() as i64;
    let course_lessons: HashMap<String, Uuid> = rows
        .iter()
        .filter_map(|row| Some((row.get::<_, Option<String>>(0)?, row.get(1))))
        .collect();
    let mut done = Vec::with_capacity(e.completed_lessons.len());
    for legacy in &e.completed_lessons {
        match course_lessons.get(legacy) {
            Some(id) => done.push(*id),
            None => warnings.push(format!(
                "completedLessons: '{legacy}' is not a lesson of the course: skipped"
            )),
        }
    }
    let progress = e.progress.unwrap_or(if total == 0 {
        0
    } else {
        ((100 * done.len() as i64 + total / 2) / total).min(100) as i32
    });
    let (started, updated) = (e.times.created, e.times.updated);
    let (id, outcome) = match find_legacy(db, Table::Enrollment, &e.legacy_id).await? {
        None => {
            let stmt = db
                .prepare_cached(
                    "insert into enrollment (legacy_id, user_id, course_id, status, progress, enrollment_request_id,
                                             started_at, completed_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, coalesce($7, now()), $8, coalesce($9, $8, $7, now()))
                     returning id",
                )
                .await?;
            let row = db
                .query_one(
                    &stmt,
                    &[
                        &e.legacy_id,
                        &user,
                        &course,
                        &e.status,
                        &progress,
                        &request,
                        &started,
                        &e.completed_at,
                        &updated,
                    ],
                )
                .await?;
            (row.get(0), Outcome::Inserted)
        }
        Some(id) => {
            let stmt = db
                .prepare_cached(
                    "update enrollment
                        set user_id = $2, course_id = $3, status = $4, progress = $5, enrollment_request_id = $6,
                            started_at = coalesce($7, started_at), completed_at = $8, updated_at = coalesce($9, now())
                      where id = $1
                        and (user_id, course_id, status, progress, enrollment_request_id, started_at, completed_at, updated_at)
                            is distinct from
                            ($2, $3, $4, $5, $6, coalesce($7, started_at), $8, coalesce($9, updated_at))",
                )
                .await?;
            let rows = db
                .execute(
                    &stmt,
                    &[
                        &id,
                        &user,
                        &course,
                        &e.status,
                        &progress,
                        &request,
                        &started,
                        &e.completed_at,
                        &updated,
                    ],
                )
                .await?;
            (id, Outcome::updated_if(rows))
        }
    };
    // The original kept no time per lesson: the enrollment's latest known time stands in.
    let completed_at = e.completed_at.or(updated).or(started);
    let stmt = db
        .prepare_cached(
            "insert into completed_lesson (enrollment_id, lesson_id, completed_at)
             select $1, lesson, coalesce($3, now()) from unnest($2::uuid[]) as lesson
             on conflict do nothing",
        )
        .await?;
    let added = db.execute(&stmt, &[&id, &done, &completed_at]).await?;
    let stmt = db
        .prepare_cached(
            "delete from completed_lesson where enrollment_id = $1 and lesson_id <> all($2)",
        )
        .await?;
    let removed = db.execute(&stmt, &[&id, &done]).await?;
    Ok(outcome.with_children(added + removed > 0))
}
