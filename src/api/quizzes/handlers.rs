//! Quiz handlers: list, create, read, statistics.

use axum::{Extension, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    model::{CreateQuiz, Quiz},
    repo::{self, QuizStats, QuizView},
};
use crate::{
    api::courses::repo as courses,
    cache::{CacheKind, Cached, Loaded, Tag},
    error::{AppError, AppResult, ErrorBody},
    extract::{Allowed, AppJson, AppQuery, AuthUser, IdPath, Page, Role, Staff},
    legacy,
    middleware::rate_limit::rate_limited,
    ratelimit::RateRequest,
    state::AppState,
};

/// Query of the quiz list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct QuizListQuery {
    /// Only this course: its id, or the Firestore id of an imported course.
    pub course_id: Option<String>,
    /// Page size, 1–500 (default 500: the frontend reads the list whole).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// A page of quizzes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuizList {
    /// Quizzes, newest first.
    pub quizzes: Vec<Quiz>,
    /// Cursor of the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// Quizzes of the formateur's courses (admins: all), optionally of one course, each with its
/// questions (answers included: the caller owns them). Up to 500 a page, by default all.
#[utoipa::path(get, path = "/api/formateur/quizzes", tag = "quizzes", params(QuizListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = QuizList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_quizzes(
    state: AppState,
    caller: AuthUser,
    AppQuery(q): AppQuery<QuizListQuery>,
) -> AppResult<AppJson<QuizList>> {
    caller.require(&[Role::Formateur, Role::Admin])?;
    let page = Page::parse_own(q.limit.as_deref(), q.cursor.as_deref())?;
    let course = state
        .query_id(legacy::Kind::Course, "courseId", q.course_id.as_deref())
        .await?;
    let owner = (!caller.is_admin()).then_some(caller.id);
    let db = state.db().await?;
    let rows = repo::list_quizzes(&db, course, owner, &page).await?;
    let (quizzes, next_cursor) = page.finish(rows, repo::sort_key);
    Ok(AppJson(QuizList {
        quizzes,
        next_cursor,
    }))
}

/// Create a quiz for a course the caller owns (admins: any course).
#[utoipa::path(post, path = "/api/formateur/quizzes", tag = "quizzes", request_body = CreateQuiz,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = Quiz), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_quiz(
    state: AppState,
    Allowed(caller, ..): Allowed<Staff>,
    AppJson(body): AppJson<CreateQuiz>,
) -> AppResult<(StatusCode, AppJson<Quiz>)> {
    body.validate()?;
    let course = state
        .resolve_id(legacy::Kind::Course, &body.course_id)
        .await?
        .ok_or_else(|| AppError::invalid("courseId", "must be a course id"))?;
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    let owner = courses::lock_course(&tx, course)
        .await?
        .ok_or(AppError::NotFound("course"))?
        .owner;
    if owner != caller.id && !caller.is_admin() {
        return Err(AppError::Forbidden(
            "you can only add quizzes to your own courses",
        ));
    }
    let id = repo::insert_quiz(&tx, course, caller.id, &body).await?;
    tx.commit().await?;
    let view = repo::find_quiz(&db, id, caller.id)
        .await?
        .ok_or(AppError::NotFound("quiz"))?;
    Ok((StatusCode::CREATED, AppJson(view.quiz)))
}

/// Loads a quiz and checks that `caller` may see it: the owner, an admin, or a student enrolled
/// in the (published) course.
pub async fn visible_quiz(
    db: &deadpool_postgres::Client,
    id: Uuid,
    caller: AuthUser,
) -> AppResult<(QuizView, bool)> {
    let view = repo::find_quiz(db, id, caller.id)
        .await?
        .ok_or(AppError::NotFound("quiz"))?;
    let privileged = caller.is_admin() || caller.id == view.owner;
    if privileged {
        return Ok((view, true));
    }
    if !view.published || !view.quiz.is_active {
        return Err(AppError::NotFound("quiz"));
    }
    if caller.role != Role::Student || !view.enrolled {
        return Err(AppError::Forbidden(
            "only students enrolled in the course may take this quiz",
        ));
    }
    Ok((view, false))
}

/// A quiz with its questions: answers and explanations only for the owner and admins.
#[utoipa::path(get, path = "/api/formateur/quizzes/{id}", tag = "quizzes", params(("id" = Uuid, Path, description = "Quiz id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Quiz), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_quiz(
    state: AppState,
    caller: AuthUser,
    IdPath(id, ..): IdPath<legacy::Quiz>,
) -> AppResult<Cached> {
    let kind = CacheKind::QuizDetails;
    let key = format!("{}:{id}", caller.id);
    let tags = kind.tags(Some(caller.id), Some(id));
    state
        .cache
        .get_or_load(kind, Some(caller.role), &key, tags, || async {
            let db = state.db().await?;
            let (view, privileged) = visible_quiz(&db, id, caller).await?;
            let mut quiz = view.quiz;
            if !privileged {
                for q in quiz.questions.iter_mut().flatten() {
                    q.correct_answer = None;
                    q.explanation = None;
                }
            }
            Loaded::json(&quiz, vec![Tag::Course(quiz.course_id)])
        })
        .await
}

/// Statistics of a quiz (owner, admin).
#[utoipa::path(get, path = "/api/formateur/quizzes/{id}/stats", tag = "quizzes", params(("id" = Uuid, Path, description = "Quiz id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = QuizStats), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_quiz_stats(
    state: AppState,
    caller: AuthUser,
    IdPath(id, ..): IdPath<legacy::Quiz>,
) -> AppResult<Cached> {
    let kind = CacheKind::QuizStats;
    let key = format!("{}:{id}", caller.id);
    let tags = kind.tags(Some(caller.id), Some(id));
    state
        .cache
        .get_or_load(kind, Some(caller.role), &key, tags, || async {
            let db = state.db().await?;
            let owners = repo::quiz_owners(&db, &[id]).await?;
            let (_, owner) = owners.first().copied().ok_or(AppError::NotFound("quiz"))?;
            if owner != caller.id && !caller.is_admin() {
                return Err(AppError::Forbidden(
                    "only the course's owner or an admin may see quiz statistics",
                ));
            }
            let stats = repo::quiz_stats(&db, &[id])
                .await?
                .into_iter()
                .next()
                .ok_or(AppError::NotFound("quiz"))?;
            Loaded::json(&stats, vec![])
        })
        .await
}

/// Body of the batch statistics request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsBatch {
    /// At most 30 quiz ids.
    pub quiz_ids: Vec<String>,
}

/// Statistics of several quizzes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsBatchResult {
    /// Always true.
    pub success: bool,
    /// One entry per quiz the caller may see, in the order asked.
    pub quiz_stats: Vec<QuizStats>,
}

/// The batch limit of `stats-batch`.
pub const MAX_BATCH: usize = 30;

/// Statistics of up to 30 quizzes at once (owner, admin); a quiz the caller does not own is a 404.
#[utoipa::path(post, path = "/api/formateur/quizzes/stats-batch", tag = "quizzes", request_body = StatsBatch,
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = StatsBatchResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn batch_quiz_stats(
    state: AppState,
    Allowed(caller, ..): Allowed<Staff>,
    rate: Option<Extension<RateRequest>>,
    AppJson(body): AppJson<StatsBatch>,
) -> AppResult<AppJson<StatsBatchResult>> {
    if body.quiz_ids.is_empty() || body.quiz_ids.len() > MAX_BATCH {
        return Err(AppError::invalid(
            "quizIds",
            format!("must hold between 1 and {MAX_BATCH} ids"),
        ));
    }
    // A bulk request costs one unit per item: the request itself paid one.
    if let Some(Extension(rate)) = rate
        && body.quiz_ids.len() > 1
    {
        let extra = RateRequest {
            cost: body.quiz_ids.len() as u32 - 1,
            ..rate
        };
        let decision = state.limits.check_request(&extra).await;
        if !decision.allowed {
            return Err(rate_limited(&decision));
        }
    }
    let mut ids = Vec::with_capacity(body.quiz_ids.len());
    for (i, raw) in body.quiz_ids.iter().enumerate() {
        let id = state
            .resolve_id(legacy::Kind::Quiz, raw)
            .await?
            .ok_or_else(|| AppError::invalid(&format!("quizIds[{i}]"), "must be a quiz id"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let db = state.db().await?;
    let owners = repo::quiz_owners(&db, &ids).await?;
    for id in &ids {
        match owners.iter().find(|(q, _)| q == id) {
            Some((_, owner)) if *owner == caller.id || caller.is_admin() => {}
            _ => return Err(AppError::NotFound("quiz")),
        }
    }
    let mut stats = repo::quiz_stats(&db, &ids).await?;
    stats.sort_by_key(|s| ids.iter().position(|id| *id == s.quiz_id));
    Ok(AppJson(StatsBatchResult {
        success: true,
        quiz_stats: stats,
    }))
}
