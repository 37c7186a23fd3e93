//! SQL for courses, modules and lessons.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::model::{Course, CourseSummary, CreateCourse, Module};
use crate::{api::users::repo::like_pattern, extract::Page};

/// Columns of [`CourseSummary::from_row`]; the counts are index lookups per row of the page.
pub const SUMMARY_COLUMNS: &str =
    "c.id, c.title, c.description, c.category, c.level, c.status, c.requires_approval,
    c.image_url, c.ai_hint, coalesce(u.firebase_uid, c.instructor_id::text) as instructor_uid, u.first_name || ' ' || u.last_name as instructor_name,
    c.duration_minutes, c.price_cents, c.created_at, c.updated_at,
    (select count(*) from course_module m where m.course_id = c.id) as module_count,
    (select count(*) from lesson l where l.course_id = c.id) as lesson_count,
    (select count(*) from enrollment e where e.course_id = c.id) as student_count";

/// Filters of course lists.
#[derive(Debug, Default, Clone)]
pub struct CourseFilter {
    /// Only this category.
    pub category: Option<String>,
    /// Only this level.
    pub level: Option<String>,
    /// Substring of title or description.
    pub q: Option<String>,
    /// Only this status (admin lists); the catalogue forces `published`.
    pub status: Option<String>,
    /// Only this owner.
    pub instructor_id: Option<Uuid>,
}

/// One page of courses matching `filter`, newest first.
pub async fn list_courses(
    db: &impl GenericClient,
    filter: &CourseFilter,
    page: &Page,
) -> Result<Vec<CourseSummary>, tokio_postgres::Error> {
    let (ts, id) = page.bounds();
    let pattern = filter.q.as_deref().map(like_pattern);
    let sql = format!(
        "select {SUMMARY_COLUMNS}
         from course c join app_user u on u.id = c.instructor_id
         where ($1::text is null or c.status = $1) and ($2::text is null or c.category = $2)
           and ($3::text is null or c.level = $3) and ($4::uuid is null or c.instructor_id = $4)
           and ($5::text is null or c.title ilike $5 or c.description ilike $5)
           and (c.created_at, c.id) < ($6, $7)
         order by c.created_at desc, c.id desc limit $8"
    );
    let stmt = db.prepare_cached(&sql).await?;
    let rows = db
        .query(
            &stmt,
            &[
                &filter.status,
                &filter.category,
                &filter.level,
                &filter.instructor_id,
                &pattern,
                &ts,
                &id,
                &page.fetch(),
            ],
        )
        .await?;
    Ok(rows.iter().map(CourseSummary::from_row).collect())
}

/// Courses matching `filter`, across all pages.
pub async fn count_courses(
    db: &impl GenericClient,
    filter: &CourseFilter,
) -> Result<i64, tokio_postgres::Error> {
    let pattern = filter.q.as_deref().map(like_pattern);
    let stmt = db
        .prepare_cached(
            "select count(*) from course c
             where ($1::text is null or c.status = $1) and ($2::text is null or c.category = $2)
               and ($3::text is null or c.level = $3) and ($4::uuid is null or c.instructor_id = $4)
               and ($5::text is null or c.title ilike $5 or c.description ilike $5)",
        )
        .await?;
    Ok(db
        .query_one(
            &stmt,
            &[
                &filter.status,
                &filter.category,
                &filter.level,
                &filter.instructor_id,
                &pattern,
            ],
        )
        .await?
        .get(0))
}

/// The published catalogue with the student's own enrollment state, in one query (the
/// original made one progress query per course).
pub async fn list_courses_for_student(
    db: &impl GenericClient,
    student: Uuid,
    page: &Page,
) -> Result<Vec<CourseSummary>, tokio_postgres::Error> {
    let (ts, id) = page.bounds();
    let sql = format!(
        "select {SUMMARY_COLUMNS}, e.id is not null as is_enrolled, e.progress as enrollment_progress,
                coalesce(e.status, r.status) as enrollment_status
         from course c join app_user u on u.id = c.instructor_id
         left join enrollment e on e.course_id = c.id and e.user_id = $1
         left join lateral (
             select r.status from enrollment_request r
             where r.course_id = c.id and r.student_id = $1 and r.status <> 'approved'
             order by r.created_at desc limit 1
         ) r on true
         where c.status = 'published' and (c.created_at, c.id) < ($2, $3)
         order by c.created_at desc, c.id desc limit $4"
    );
    let stmt = db.prepare_cached(&sql).await?;
    let rows = db
        .query(&stmt, &[&student, &ts, &id, &page.fetch()])
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let mut c = CourseSummary::from_row(row);
            c.is_enrolled = Some(row.get("is_enrolled"));
            c.enrollment_progress = row.get("enrollment_progress");
            c.enrollment_status = row.get("enrollment_status");
            c
        })
        .collect())
}

/// A course with modules, lessons, and whether `viewer` is enrolled: one round trip.
pub async fn find_course(
    db: &impl GenericClient,
    id: Uuid,
    viewer: Option<Uuid>,
) -> Result<Option<(Course, bool)>, tokio_postgres::Error> {
    let sql = format!(
        "select {SUMMARY_COLUMNS}, c.approved_at, c.approval_reason,
            coalesce((
                select json_agg(json_build_object(
                    'id', m.id, 'title', m.title, 'position', m.position,
                    'lessons', coalesce((
                        select json_agg(json_build_object(
                            'id', l.id, 'title', l.title, 'position', l.position, 'description', l.description,
                            'contentType', l.content_type, 'videoSource', l.video_source,
                            'duration', l.duration_minutes, 'content', l.content, 'url', l.url
                        ) order by l.position)
                        from lesson l where l.module_id = m.id
                    ), '[]'::json)
                ) order by m.position)
                from course_module m where m.course_id = c.id
            ), '[]'::json) as modules,
            exists (select 1 from enrollment e where e.course_id = c.id and e.user_id = $2) as viewer_enrolled
         from course c join app_user u on u.id = c.instructor_id
         where c.id = $1"
    );
    let stmt = db.prepare_cached(&sql).await?;
    let Some(row) = db.query_opt(&stmt, &[&id, &viewer]).await? else {
        return Ok(None);
    };
    let modules: serde_json::Value = row.get("modules");
    let modules: Vec<Module> = serde_json::from_value(modules).unwrap_or_default();
    let course = Course {
        summary: CourseSummary::from_row(&row),
        approved_at: row.get("approved_at"),
        approval_reason: row.get("approval_reason"),
        modules,
    };
    Ok(Some((course, row.get("viewer_enrolled"))))
}

/// A course row, locked for the rest of the transaction: who owns it, and the fields that
/// decide which lists show it.
pub struct LockedCourse {
    pub owner: Uuid,
    pub status: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub level: String,
}

/// Locks course `id` (`select … for update`); `None` if it does not exist.
pub async fn lock_course(
    db: &impl GenericClient,
    id: Uuid,
) -> Result<Option<LockedCourse>, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "select instructor_id, status, title, description, category, level
             from course where id = $1 for update",
        )
        .await?;
    Ok(db.query_opt(&stmt, &[&id]).await?.map(|r| LockedCourse {
        owner: r.get(0),
        status: r.get(1),
        title: r.get(2),
        description: r.get(3),
        category: r.get(4),
        level: r.get(5),
    }))
}

/// The courses `user` is enrolled in or owns.
pub async fn readable_courses(
    db: &impl GenericClient,
    user: Uuid,
) -> Result<Vec<Uuid>, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "select course_id from enrollment where user_id = $1
             union all select id from course where instructor_id = $1",
        )
        .await?;
    Ok(db
        .query(&stmt, &[&user])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Inserts a course (status `pending_approval`) with its modules and lessons. Run it in a
/// transaction: three statements, whatever the number of lessons.
pub async fn insert_course(
    db: &impl GenericClient,
    owner: Uuid,
    input: &CreateCourse,
) -> Result<Uuid, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "insert into course (instructor_id, title, description, category, level, requires_approval, image_url, duration_minutes, price_cents)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id",
        )
        .await?;
    let duration = input.duration.map(|d| d as i32);
    let id: Uuid = db
        .query_one(
            &stmt,
            &[
                &owner,
                &input.title.trim(),
                &input.description.trim(),
                &input.category,
                &input.level,
                &input.requires_approval.unwrap_or(true),
                &input.image_url,
                &duration,
                &input.price_cents(),
            ],
        )
        .await?
        .get(0);
    write_outline(db, id, input, &HashSet::new(), &HashSet::new()).await?;
    Ok(id)
}

/// Module and lesson ids a course has now.
pub async fn outline_ids(
    db: &impl GenericClient,
    course: Uuid,
) -> Result<(HashSet<Uuid>, HashSet<Uuid>), tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "select 'm' as kind, id from course_module where course_id = $1
             union all select 'l', id from lesson where course_id = $1",
        )
        .await?;
    let mut modules = HashSet::new();
    let mut lessons = HashSet::new();
    for row in db.query(&stmt, &[&course]).await? {
        let kind: &str = row.get(0);
        if kind == "m" {
            modules.insert(row.get(1))
        } else {
            lessons.insert(row.get(1))
        };
    }
    Ok((modules, lessons))
}

/// Updates a course's fields and reconciles its outline: modules and lessons given with an
/// existing id are updated in place (keeping progress that refers to them), new ones inserted,
/// missing ones deleted. A rejected course goes back to review.
pub async fn update_course(
    db: &impl GenericClient,
    id: Uuid,
    input: &CreateCourse,
    modules: &HashSet<Uuid>,
    lessons: &HashSet<Uuid>,
) -> Result<(), tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "update course set title = $2, description = $3, category = $4, level = $5,
                 requires_approval = $6, image_url = $7, duration_minutes = $8, price_cents = $9,
                 status = case when status = 'rejected' then 'pending_approval' else status end,
                 updated_at = now()
             where id = $1",
        )
        .await?;
    let duration = input.duration.map(|d| d as i32);
    db.execute(
        &stmt,
        &[
            &id,
            &input.title.trim(),
            &input.description.trim(),
            &input.category,
            &input.level,
            &input.requires_approval.unwrap_or(true),
            &input.image_url,
            &duration,
            &input.price_cents(),
        ],
    )
    .await?;
    write_outline(db, id, input, modules, lessons).await
}

async fn write_outline(
    db: &impl GenericClient,
    course: Uuid,
    input: &CreateCourse,
    existing_modules: &HashSet<Uuid>,
    existing_lessons: &HashSet<Uuid>,
) -> Result<(), tokio_postgres::Error> {
    let mut m_ids = Vec::new();
    let mut m_pos = Vec::new();
    let mut m_titles = Vec::new();
    let mut l = LessonColumns::default();
    for (i, m) in input.modules.iter().enumerate() {
        let mid =
            m.id.filter(|id| existing_modules.contains(id))
                .unwrap_or_else(Uuid::new_v4);
        m_ids.push(mid);
        m_pos.push(i as i32);
        m_titles.push(m.title.trim().to_owned());
        for (j, lesson) in m.lessons.iter().enumerate() {
            l.ids.push(
                lesson
                    .id
                    .filter(|id| existing_lessons.contains(id))
                    .unwrap_or_else(Uuid::new_v4),
            );
            l.modules.push(mid);
            l.positions.push(j as i32);
            l.titles.push(lesson.title.trim().to_owned());
            l.descriptions.push(lesson.description.clone());
            l.types.push(lesson.content_type.clone());
            l.sources.push(lesson.video_source.clone());
            l.contents.push(lesson.content.clone());
            l.urls.push(lesson.url.clone());
            l.durations.push(lesson.duration.map(|d| d as i32));
        }
    }
    if !existing_lessons.is_empty() {
        let delete = db
            .prepare_cached("delete from lesson where course_id = $1 and id <> all($2)")
            .await?;
        db.execute(&delete, &[&course, &l.ids]).await?;
    }
    if !existing_modules.is_empty() {
        let delete = db
            .prepare_cached("delete from course_module where course_id = $1 and id <> all($2)")
            .await?;
        db.execute(&delete, &[&course, &m_ids]).await?;
    }
    // Positions may swap between kept rows: the unique constraints are deferred to commit.
    let modules = db
        .prepare_cached(
            "insert into course_module (id, course_id, position, title)
             select id, $1, position, title from unnest($2::uuid[], $3::int[], $4::text[]) as x(id, position, title)
             on conflict (id) do update set position = excluded.position, title = excluded.title",
        )
        .await?;
    db.execute(&modules, &[&course, &m_ids, &m_pos, &m_titles])
        .await?;
    let lessons = db
        .prepare_cached(
            "insert into lesson (id, module_id, course_id, position, title, description, content_type, video_source, content, url, duration_minutes)
             select id, module_id, $1, position, title, description, content_type, video_source, content, url, duration
             from unnest($2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int[])
                  as x(id, module_id, position, title, description, content_type, video_source, content, url, duration)
             on conflict (id) do update set module_id = excluded.module_id, position = excluded.position,
                 title = excluded.title, description = excluded.description, content_type = excluded.content_type,
                 video_source = excluded.video_source, content = excluded.content, url = excluded.url,
                 duration_minutes = excluded.duration_minutes",
        )
        .await?;
    db.execute(
        &lessons,
        &[
            &course,
            &l.ids,
            &l.modules,
            &l.positions,
            &l.titles,
            &l.descriptions,
            &l.types,
            &l.sources,
            &l.contents,
            &l.urls,
            &l.durations,
        ],
    )
    .await?;
    Ok(())
}

#[derive(Default)]
struct LessonColumns {
    ids: Vec<Uuid>,
    modules: Vec<Uuid>,
    positions: Vec<i32>,
    titles: Vec<String>,
    descriptions: Vec<Option<String>>,
    types: Vec<String>,
    sources: Vec<Option<String>>,
    contents: Vec<Option<String>>,
    urls: Vec<Option<String>>,
    durations: Vec<Option<i32>>,
}

/// Deletes a course (modules, lessons, enrollments, quizzes go with it).
pub async fn delete_course(
    db: &impl GenericClient,
    id: Uuid,
) -> Result<u64, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached("delete from course where id = $1")
        .await?;
    db.execute(&stmt, &[&id]).await
}

/// Approves or rejects a pending course; `None` when it is not pending (or does not exist).
pub async fn review_course(
    db: &impl GenericClient,
    id: Uuid,
    admin: Uuid,
    status: &str,
    reason: Option<&str>,
) -> Result<Option<(Uuid, String)>, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "update course set status = $3, approved_by = $2, approved_at = now(), approval_reason = $4, updated_at = now()
             where id = $1 and status = 'pending_approval' returning instructor_id, title",
        )
        .await?;
    Ok(db
        .query_opt(&stmt, &[&id, &admin, &status, &reason])
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

/// The sort key of a course, for cursors.
pub fn sort_key(c: &CourseSummary) -> (DateTime<Utc>, Uuid) {
    (c.created_at, c.id)
}
