//! SQL for quizzes, questions and their statistics.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{CreateQuiz, Question, Quiz};
use crate::extract::Page;

const QUIZ_COLUMNS: &str = "q.id, q.course_id, q.title, q.description, q.passing_score, q.max_attempts,
    q.time_limit_minutes, q.is_active, q.created_by, q.created_at, q.updated_at,
    (select count(*) from quiz_question qq where qq.quiz_id = q.id) as question_count,
    (select coalesce(sum(points), 0)::bigint from quiz_question qq where qq.quiz_id = q.id) as total_points";

/// The questions of quiz `q` in order, as a JSON array (answers included: strip them for
/// students).
const QUESTIONS_JSON: &str = "coalesce((select json_agg(json_build_object(
        'id', qq.id, 'position', qq.position, 'question', qq.question, 'options', qq.options,
        'points', qq.points, 'difficulty', qq.difficulty, 'correctAnswer', qq.correct_answer,
        'explanation', qq.explanation
    ) order by qq.position) from quiz_question qq where qq.quiz_id = q.id), '[]'::json) as questions";

fn questions_from_row(row: &Row) -> Vec<Question> {
    let questions: serde_json::Value = row.get("questions");
    serde_json::from_value::<Vec<Question>>(questions).unwrap_or_default()
}

fn quiz_from_row(row: &Row) -> Quiz {
    Quiz {
        id: row.get("id"),
        course_id: row.get("course_id"),
        title: row.get("title"),
        description: row.get("description"),
        passing_score: row.get("passing_score"),
        max_attempts: row.get("max_attempts"),
        time_limit: row.get("time_limit_minutes"),
        is_active: row.get("is_active"),
        created_by: row.get("created_by"),
        question_count: row.get("question_count"),
        total_points: row.get("total_points"),
        questions: None,
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// A quiz with its questions and what the viewer is to it, in one query.
pub struct QuizView {
    /// The quiz, questions included (with answers: strip them for students).
    pub quiz: Quiz,
    /// The course owner.
    pub owner: Uuid,
    /// Whether the course is published.
    pub published: bool,
    /// Whether the viewer is enrolled in the course.
    pub enrolled: bool,
}

/// Loads a quiz for `viewer`.
pub async fn find_quiz(
    db: &impl GenericClient,
    id: Uuid,
    viewer: Uuid,
) -> Result<Option<QuizView>, tokio_postgres::Error> {
    let sql = format!(
        "select {QUIZ_COLUMNS}, c.instructor_id, c.status = 'published' as published,
            exists (select 1 from enrollment e where e.course_id = q.course_id and e.user_id = $2) as enrolled,
            {QUESTIONS_JSON}
         from quiz q join course c on c.id = q.course_id where q.id = $1"
    );
    let stmt = db.prepare_cached(&sql).await?;
    let Some(row) = db.query_opt(&stmt, &[&id, &viewer]).await? else {
        return Ok(None);
    };
    let mut quiz = quiz_from_row(&row);
    quiz.questions = Some(questions_from_row(&row));
    Ok(Some(QuizView {
        quiz,
        owner: row.get("instructor_id"),
        published: row.get("published"),
        enrolled: row.get("enrolled"),
    }))
}

/// One page of quizzes with their questions, newest first; by course and/or by course owner
/// (whose callers may see the answers).
pub async fn list_quizzes(
    db: &impl GenericClient,
    course: Option<Uuid>,
    owner: Option<Uuid>,
    page: &Page,
) -> Result<Vec<Quiz>, tokio_postgres::Error> {
    let (ts, id) = page.bounds();
    let sql = format!(
        "select {QUIZ_COLUMNS}, {QUESTIONS_JSON} from quiz q join course c on c.id = q.course_id
         where ($1::uuid is null or q.course_id = $1) and ($2::uuid is null or c.instructor_id = $2)
           and (q.created_at, q.id) < ($3, $4)
         order by q.created_at desc, q.id desc limit $5"
    );
    let stmt = db.prepare_cached(&sql).await?;
    let rows = db
        .query(&stmt, &[&course, &owner, &ts, &id, &page.fetch()])
        .await?;
    Ok(rows
        .iter()
        .map(|row| Quiz {
            questions: Some(questions_from_row(row)),
            ..quiz_from_row(row)
        })
        .collect())
}

/// Inserts a quiz and its questions (two statements; run in a transaction).
pub async fn insert_quiz(
    db: &impl GenericClient,
    course: Uuid,
    author: Uuid,
    input: &CreateQuiz,
) -> Result<Uuid, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "insert into quiz (course_id, title, description, passing_score, max_attempts, time_limit_minutes, created_by)
             values ($1, $2, $3, $4, $5, $6, $7) returning id",
        )
        .await?;
    let (passing, max, limit) = (
        input.passing_score as i32,
        input.max_attempts as i32,
        input.time_limit.map(|t| t as i32),
    );
    let id: Uuid = db
        .query_one(
            &stmt,
            &[
                &course,
                &input.title.trim(),
                &input.description.trim(),
                &passing,
                &max,
                &limit,
                &author,
            ],
        )
        .await?
        .get(0);
    // text[][] cannot hold rows of different lengths: options travel as JSON arrays.
    let positions: Vec<i32> = (0..input.questions.len() as i32).collect();
    let texts: Vec<&str> = input.questions.iter().map(|q| q.question.trim()).collect();
    let options: Vec<serde_json::Value> = input
        .questions
        .iter()
        .map(|q| serde_json::json!(q.options))
        .collect();
    let answers: Vec<i32> = input
        .questions
        .iter()
        .map(|q| q.correct_answer as i32)
        .collect();
    let points: Vec<i32> = input.questions.iter().map(|q| q.points as i32).collect();
    let explanations: Vec<Option<&str>> = input
        .questions
        .iter()
        .map(|q| q.explanation.as_deref())
        .collect();
    let stmt = db
        .prepare_cached(
            "insert into quiz_question (quiz_id, position, question, options, correct_answer, points, explanation)
             select $1, position, question, array(select jsonb_array_elements_text(options)), correct_answer, points, explanation
             from unnest($2::int[], $3::text[], $4::jsonb[], $5::int[], $6::int[], $7::text[])
                  as x(position, question, options, correct_answer, points, explanation)",
        )
        .await?;
    db.execute(
        &stmt,
        &[
            &id,
            &positions,
            &texts,
            &options,
            &answers,
            &points,
            &explanations,
        ],
    )
    .await?;
    Ok(id)
}

/// Per-question figures.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuestionStats {
    /// Question id.
    pub question_id: Uuid,
    /// Position, from 0.
    pub question_index: i32,
    /// Share of correct answers, in %.
    pub correct_rate: f64,
    /// Mean seconds spent.
    pub average_time_spent: f64,
    /// Answers given.
    pub total_answers: i64,
    /// Correct answers.
    pub correct_answers: i64,
}

/// Figures of one quiz over its completed attempts.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuizStats {
    /// Quiz id.
    pub quiz_id: Uuid,
    /// Completed attempts.
    pub total_attempts: i64,
    /// Mean percentage, 2 decimals.
    pub average_score: f64,
    /// Share of passed attempts, in %, 2 decimals.
    pub pass_rate: f64,
    /// Mean seconds per attempt, rounded.
    pub average_time_spent: f64,
    /// Per question, in order.
    pub question_stats: Vec<QuestionStats>,
}

/// Statistics of several quizzes in one query. The pass rate compares percentages with the
/// passing score (the original compared a count of correct answers with a percentage).
pub async fn quiz_stats(
    db: &impl GenericClient,
    ids: &[Uuid],
) -> Result<Vec<QuizStats>, tokio_postgres::Error> {
    let stmt = db
        .prepare_cached(
            "select q.id,
                (select count(*) from quiz_attempt a where a.quiz_id = q.id and a.completed_at is not null) as total,
                (select coalesce(round(avg(a.percentage)::numeric, 2), 0)::float8 from quiz_attempt a where a.quiz_id = q.id and a.completed_at is not null) as avg_score,
                (select coalesce(round(100.0 * avg(case when a.passed then 1 else 0 end), 2), 0)::float8 from quiz_attempt a where a.quiz_id = q.id and a.completed_at is not null) as pass_rate,
                (select coalesce(round(avg(a.time_spent_seconds)), 0)::float8 from quiz_attempt a where a.quiz_id = q.id and a.completed_at is not null) as avg_time,
                coalesce((select json_agg(json_build_object(
                    'questionId', qq.id, 'questionIndex', qq.position,
                    'totalAnswers', s.total, 'correctAnswers', s.correct,
                    'correctRate', case when s.total = 0 then 0 else round(100.0 * s.correct / s.total, 2) end,
                    'averageTimeSpent', coalesce(round(s.avg_time, 2), 0)
                ) order by qq.position)
                from quiz_question qq
                cross join lateral (
                    select count(*) as total, count(*) filter (where ans.is_correct) as correct, avg(ans.time_spent_seconds) as avg_time
                    from quiz_answer ans where ans.question_id = qq.id
                ) s
                where qq.quiz_id = q.id), '[]'::json) as questions
             from quiz q where q.id = any($1)",
        )
        .await?;
    let rows = db.query(&stmt, &[&ids]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let questions: serde_json::Value = r.get("questions");
            QuizStats {
                quiz_id: r.get("id"),
                total_attempts: r.get("total"),
                average_score: r.get("avg_score"),
                pass_rate: r.get("pass_rate"),
                average_time_spent: r.get("avg_time"),
                question_stats: serde_json::from_value(questions).unwrap_or_default(),
            }
        })
        .collect())
}

/// Owners of quizzes: `(quiz id, course owner)`.
pub async fn quiz_owners(
    db: &impl GenericClient,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>, tokio_postgres::Error> {
    let stmt = db.prepare_cached("select q.id, c.instructor_id from quiz q join course c on c.id = q.course_id where q.id = any($1)").await?;
    Ok(db
        .query(&stmt, &[&ids])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The sort key of a quiz, for cursors.
pub fn sort_key(q: &Quiz) -> (DateTime<Utc>, Uuid) {
    (q.created_at, q.id)
}
