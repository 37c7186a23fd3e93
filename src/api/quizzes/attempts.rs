//! Quiz attempts: enrolled students start and submit them; `maxAttempts` is enforced here.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::handlers::visible_quiz;
use crate::{
    cache::Tag,
    error::{AppError, AppResult, ErrorBody, ResultExt},
    extract::{AppJson, AppQuery, AuthUser, IdPath, IdPath2, Page, Role},
    jsontime, legacy,
    state::AppState,
    validate::Validator,
};

/// An attempt.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// Attempt id.
    pub id: Uuid,
    /// The same id, as the original named it on creation.
    pub attempt_id: Uuid,
    /// Quiz.
    pub quiz_id: Uuid,
    /// Student.
    pub user_id: Uuid,
    /// 1 for the first attempt.
    pub attempt_number: i32,
    /// Points earned.
    pub score: i32,
    /// Points available.
    pub max_score: i32,
    /// Points earned in % of the available points.
    pub percentage: f64,
    /// Whether `percentage` reached the passing score.
    pub passed: bool,
    /// Seconds spent.
    pub time_spent: i32,
    /// Start time.
    #[serde(serialize_with = "jsontime::ser")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: DateTime<Utc>,
    /// Submission time (null while in progress).
    #[serde(serialize_with = "jsontime::ser_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<DateTime<Utc>>,
}

const ATTEMPT_COLUMNS: &str = "id, quiz_id, user_id, attempt_number, score, max_score, percentage, passed, time_spent_seconds, started_at, completed_at";

impl Attempt {
    fn from_row(row: &Row) -> Self {
        let id = row.get("id");
        Self {
            id,
            attempt_id: id,
            quiz_id: row.get("quiz_id"),
            user_id: row.get("user_id"),
            attempt_number: row.get("attempt_number"),
            score: row.get("score"),
            max_score: row.get("max_score"),
            percentage: row.get("percentage"),
            passed: row.get("passed"),
            time_spent: row.get("time_spent_seconds"),
            started_at: row.get("started_at"),
            completed_at: row.get("completed_at"),
        }
    }
}

/// Query of the attempt list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AttemptListQuery {
    /// Owner and admins: only this student's attempts.
    pub user_id: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// A page of attempts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptList {
    /// Attempts, newest first.
    pub attempts: Vec<Attempt>,
    /// Cursor of the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// Attempts at a quiz: a student sees their own; the owner and admins see everyone's.
#[utoipa::path(get, path = "/api/formateur/quizzes/{id}/attempts", tag = "quizzes", params(("id" = Uuid, Path, description = "Quiz id"), AttemptListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = AttemptList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_quiz_attempts(
    state: AppState,
    caller: AuthUser,
    IdPath(id, ..): IdPath<legacy::Quiz>,
    AppQuery(q): AppQuery<AttemptListQuery>,
) -> AppResult<AppJson<AttemptList>> {
    let page = Page::parse(q.limit.as_deref(), q.cursor.as_deref())?;
    let db = state.db().await?;
    let (_, privileged) = visible_quiz(&db, id, caller).await?;
    // A student's `userId` is ignored: they only ever see their own.
    let user = if privileged {
        state
            .query_id(legacy::Kind::User, "userId", q.user_id.as_deref())
            .await?
    } else {
        Some(caller.id)
    };
    let (ts, cursor_id) = page.bounds();
    let sql = format!(
        "select {ATTEMPT_COLUMNS} from quiz_attempt where quiz_id = $1 and ($2::uuid is null or user_id = $2)
         and (started_at, id) < ($3, $4) order by started_at desc, id desc limit $5"
    );
    let stmt = db.prepare_cached(&sql).await?;
    let rows = db
        .query(&stmt, &[&id, &user, &ts, &cursor_id, &page.fetch()])
        .await?;
    let (attempts, next_cursor) = page.finish(rows.iter().map(Attempt::from_row).collect(), |a| {
        (a.started_at, a.id)
    });
    Ok(AppJson(AttemptList {
        attempts,
        next_cursor,
    }))
}

/// Start an attempt (enrolled students); beyond `maxAttempts` it is a 409.
#[utoipa::path(post, path = "/api/formateur/quizzes/{id}/attempts", tag = "quizzes", params(("id" = Uuid, Path, description = "Quiz id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = Attempt), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn start_quiz_attempt(
    state: AppState,
    caller: AuthUser,
    IdPath(id, ..): IdPath<legacy::Quiz>,
) -> AppResult<(StatusCode, AppJson<Attempt>)> {
    caller.require(&[Role::Student])?;
    let db = state.db().await?;
    let (view, _) = visible_quiz(&db, id, caller).await?;
    // The number is computed in the insert; two concurrent starts collide on the unique
    // (quiz, user, number) key and the loser gets the 409 too.
    let sql = format!(
        "insert into quiz_attempt (quiz_id, user_id, attempt_number, max_score)
         select $1, $2, n.next, $4 from (select coalesce(max(attempt_number), 0) + 1 as next from quiz_attempt where quiz_id = $1 and user_id = $2) n
         where n.next <= $3
         returning {ATTEMPT_COLUMNS}"
    );
    let stmt = db.prepare_cached(&sql).await?;
    let max_score = view.quiz.total_points as i32;
    let max_reached = || {
        AppError::conflict(
            "max_attempts_reached",
            format!(
                "you have used all {} attempts at this quiz",
                view.quiz.max_attempts
            ),
        )
    };
    let row = db
        .query_opt(
            &stmt,
            &[&id, &caller.id, &view.quiz.max_attempts, &max_score],
        )
        .await
        .on_constraint("quiz_attempt_number_key", max_reached)?
        .ok_or_else(max_reached)?;
    Ok((StatusCode::CREATED, AppJson(Attempt::from_row(&row))))
}

/// One answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnswerInput {
    /// A question of this quiz.
    pub question_id: String,
    /// Index of the chosen option.
    pub selected_answer: i64,
    /// Seconds spent on the question.
    pub time_spent: Option<i64>,
}

/// Body of a submission.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubmitAttempt {
    /// At most one answer per question; unanswered questions score 0.
    pub answers: Vec<AnswerInput>,
    /// Seconds the client says it spent; ignored: the time spent is the server's, from the
    /// attempt's start to this submission.
    pub total_time_spent: Option<i64>,
}

/// A graded attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GradedAttempt {
    /// The attempt, graded.
    #[serde(flatten)]
    pub attempt: Attempt,
    /// Questions answered correctly.
    pub correct_answers: i64,
    /// Questions in the quiz.
    pub total_questions: i64,
}

/// Submit and grade an attempt (the attempt's student, once). The time spent is the server's,
/// from the attempt's start; a submission later than the quiz's time limit plus 30 s closes the
/// attempt with no score and answers 409 `time_limit_exceeded`.
#[utoipa::path(post, path = "/api/formateur/quizzes/{id}/attempts/{attemptId}/submit", tag = "quizzes", request_body = SubmitAttempt,
    params(("id" = Uuid, Path, description = "Quiz id"), ("attemptId" = Uuid, Path, description = "Attempt id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = GradedAttempt), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn submit_quiz_attempt(
    state: AppState,
    caller: AuthUser,
    IdPath2(quiz, attempt, ..): IdPath2<legacy::Quiz, legacy::QuizAttempt>,
    AppJson(body): AppJson<SubmitAttempt>,
) -> AppResult<AppJson<GradedAttempt>> {
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    let stmt = tx
        .prepare_cached(
            "select a.completed_at is not null as done, extract(epoch from now() - a.started_at)::int as elapsed, q.passing_score,
                    q.time_limit_minutes
             from quiz_attempt a join quiz q on q.id = a.quiz_id
             where a.id = $1 and a.quiz_id = $2 and a.user_id = $3 for update of a",
        )
        .await?;
    // Someone else's attempt is indistinguishable from a missing one.
    let row = tx
        .query_opt(&stmt, &[&attempt, &quiz, &caller.id])
        .await?
        .ok_or(AppError::NotFound("attempt"))?;
    if row.get::<_, bool>("done") {
        return Err(AppError::conflict(
            "already_submitted",
            "this attempt was already submitted",
        ));
    }
    let elapsed: i32 = row.get::<_, i32>("elapsed").max(0);
    let passing: i32 = row.get("passing_score");
    let limit: Option<i32> = row.get("time_limit_minutes");
    // Past the time limit (and a grace for the network), the attempt closes with what it had
    // when time ran out: nothing, as no answer reached the server in time.
    if let Some(minutes) = limit
        && elapsed > minutes * 60 + TIME_LIMIT_GRACE_SECS
    {
        grade(&tx, attempt, &[], elapsed, passing).await?;
        tx.commit().await?;
        state.cache.invalidate(&[Tag::Quiz(quiz)]).await;
        return Err(AppError::conflict(
            "time_limit_exceeded",
            "the quiz's time limit ran out before this submission; the attempt is closed with no score",
        ));
    }
    let answers = validate_answers(&tx, quiz, &body).await?;
    let graded = grade(&tx, attempt, &answers, elapsed, passing).await?;
    tx.commit().await?;
    state.cache.invalidate(&[Tag::Quiz(quiz)]).await;
    Ok(AppJson(graded))
}

/// Seconds a submission may arrive after the time limit (the network, a slow click).
pub const TIME_LIMIT_GRACE_SECS: i32 = 30;

struct Answer {
    question: Uuid,
    selected: i32,
    time_spent: Option<i32>,
}

async fn validate_answers(
    db: &impl GenericClient,
    quiz: Uuid,
    body: &SubmitAttempt,
) -> AppResult<Vec<Answer>> {
    let stmt = db
        .prepare_cached(
            "select id, cardinality(options), legacy_id from quiz_question where quiz_id = $1",
        )
        .await?;
    // A question is named by its id, or by its Firestore id when the quiz was imported.
    let questions: Vec<(Uuid, i32, Option<String>)> = db
        .query(&stmt, &[&quiz])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let mut v = Validator::new();
    let mut out: Vec<Answer> = Vec::with_capacity(body.answers.len());
    if body.answers.len() > questions.len() {
        v.fail("answers", "more answers than questions");
    }
    for (i, a) in body.answers.iter().enumerate() {
        let f = |n: &str| format!("answers[{i}].{n}");
        let named = a.question_id.trim();
        let by_id = Uuid::parse_str(named).ok();
        let Some((qid, options)) = questions
            .iter()
            .find(|(q, _, legacy)| Some(*q) == by_id || legacy.as_deref() == Some(named))
            .map(|(q, options, _)| (*q, *options))
        else {
            v.fail(f("questionId"), "is not a question of this quiz");
            continue;
        };
        if out.iter().any(|o| o.question == qid) {
            v.fail(f("questionId"), "is answered twice");
        }
        if a.selected_answer < 0 || a.selected_answer >= i64::from(options) {
            v.fail(
                f("selectedAnswer"),
                format!("must be between 0 and {}", options - 1),
            );
        }
        if let Some(t) = a.time_spent {
            v.range(&f("timeSpent"), t, 0, 86_400);
        }
        out.push(Answer {
            question: qid,
            selected: a.selected_answer as i32,
            time_spent: a.time_spent.map(|t| t as i32),
        });
    }
    v.finish()?;
    Ok(out)
}

/// Stores the answers with their grading and the attempt's score, in two statements.
async fn grade(
    db: &impl GenericClient,
    attempt: Uuid,
    answers: &[Answer],
    time_spent: i32,
    passing: i32,
) -> AppResult<GradedAttempt> {
    let questions: Vec<Uuid> = answers.iter().map(|a| a.question).collect();
    let selected: Vec<i32> = answers.iter().map(|a| a.selected).collect();
    let times: Vec<Option<i32>> = answers.iter().map(|a| a.time_spent).collect();
    let stmt = db
        .prepare_cached(
            "insert into quiz_answer (attempt_id, question_id, selected_answer, is_correct, points, time_spent_seconds)
             select $1, x.question_id, x.selected, x.selected = q.correct_answer, case when x.selected = q.correct_answer then q.points else 0 end, x.time_spent
             from unnest($2::uuid[], $3::int[], $4::int[]) as x(question_id, selected, time_spent)
             join quiz_question q on q.id = x.question_id",
        )
        .await?;
    db.execute(&stmt, &[&attempt, &questions, &selected, &times])
        .await?;
    let sql = format!(
        "with totals as (
            select coalesce(sum(points), 0)::int as score, count(*) filter (where is_correct) as correct
            from quiz_answer where attempt_id = $1
         ), quiz_totals as (
            select coalesce(sum(qq.points), 0)::int as max_score, count(*) as questions
            from quiz_question qq join quiz_attempt a on a.quiz_id = qq.quiz_id where a.id = $1
         )
         update quiz_attempt a set score = totals.score, max_score = quiz_totals.max_score,
             percentage = case when quiz_totals.max_score = 0 then 0 else round(100.0 * totals.score / quiz_totals.max_score, 2) end,
             passed = quiz_totals.max_score > 0 and (100.0 * totals.score / quiz_totals.max_score)::float8 >= $3::float8,
             time_spent_seconds = $2, completed_at = now()
         from totals, quiz_totals where a.id = $1
         returning {}, totals.correct, quiz_totals.questions",
        ATTEMPT_COLUMNS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ")
    );
    let stmt = db.prepare_cached(&sql).await?;
    let row = db
        .query_one(&stmt, &[&attempt, &time_spent, &f64::from(passing)])
        .await?;
    Ok(GradedAttempt {
        attempt: Attempt::from_row(&row),
        correct_answers: row.get("correct"),
        total_questions: row.get("questions"),
    })
}
