//! SQL for quizzes (with their questions) and quiz attempts (with their answers).

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{
    Outcome, Table, Written, dangling, find_legacy, optional_user, required_course, required_user,
};
use crate::import::normalise::{AttemptRecord, QuestionRecord, QuizRecord};

/// A quiz and its questions.
pub(super) async fn quiz(
    db: &impl GenericClient,
    q: &QuizRecord,
    warnings: &mut Vec<String>,
) -> Written {
    let course = required_course(db, "courseId", &q.course).await?;
    let module = match &q.module {
        None => None,
        Some(legacy) => {
            let stmt = db
                .prepare_cached(
                    "select id from course_module where course_id = $1 and legacy_id = $2",
                )
                .await?;
            let found: Option<Uuid> = db
                .query_opt(&stmt, &[&course, legacy])
                .await?
                .map(|r| r.get(0));
            if found.is_none() {
                warnings.push(format!(
                    "moduleId '{legacy}' is not a module of the course: left empty"
                ));
            }
            found
        }
    };
    let created_by = optional_user(db, "createdBy", q.created_by.as_deref(), warnings).await?;
    let (created, updated) = (q.times.created, q.times.updated);
    let (id, outcome) = match find_legacy(db, Table::Quiz, &q.legacy_id).await? {
        None => {
            let stmt = db
                .prepare_cached(
                    "insert into quiz (legacy_id, course_id, module_id, title, description, passing_score, max_attempts,
                                       time_limit_minutes, is_active, created_by, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, now()), coalesce($12, $11, now()))
                     returning id",
                )
                .await?;
            let row = db
                .query_one(
                    &stmt,
                    &[
                        &q.legacy_id,
                        &course,
                        &module,
                        &q.title,
                        &q.description,
                        &q.passing_score,
                        &q.max_attempts,
                        &q.time_limit_minutes,
                        &q.is_active,
                        &created_by,
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
                    "update quiz
                        set course_id = $2, module_id = $3, title = $4, description = $5, passing_score = $6, max_attempts = $7,
                            time_limit_minutes = $8, is_active = $9, created_by = $10,
                            created_at = coalesce($11, created_at), updated_at = coalesce($12, now())
                      where id = $1
                        and (course_id, module_id, title, description, passing_score, max_attempts, time_limit_minutes,
                             is_active, created_by, created_at, updated_at)
                            is distinct from
                            ($2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, created_at), coalesce($12, updated_at))",
                )
                .await?;
            let rows = db
                .execute(
                    &stmt,
                    &[
                        &id,
                        &course,
                        &module,
                        &q.title,
                        &q.description,
                        &q.passing_score,
                        &q.max_attempts,
                        &q.time_limit_minutes,
                        &q.is_active,
                        &created_by,
                        &created,
                        &updated,
                    ],
                )
                .await?;
            (id, Outcome::updated_if(rows))
        }
    };
    let children_changed = sync_questions(db, id, &q.questions).await?;
    Ok(outcome.with_children(children_changed))
}

/// Makes the quiz's imported questions those of the document, in its order; returns whether
/// any row changed.
async fn sync_questions(
    db: &impl GenericClient,
    quiz: Uuid,
    questions: &[QuestionRecord],
) -> Result<bool, tokio_postgres::Error> {
    let ids: Vec<&str> = questions.iter().map(|q| q.legacy_id.as_str()).collect();
    let stmt = db
        .prepare_cached("delete from quiz_question where quiz_id = $1 and legacy_id <> all($2)")
        .await?;
    let mut changed = db.execute(&stmt, &[&quiz, &ids]).await? > 0;
    // -- (quiz_id, position) is checked row by row, not at commit: when the order changed,
    // -- move every question past the end first, so that no update collides on the way.
    let stmt = db
        .prepare_cached("select legacy_id, position from quiz_question where quiz_id = $1 and legacy_id is not null")
        .await?;
    let target: HashMap<&str, i32> = (0_i32..).zip(&ids).map(|(p, id)| (*id, p)).collect();
    let reordered = db
        .query(&stmt, &[&quiz])
        .await?
        .iter()
        .any(|row| target.get(row.get::<_, &str>(0)) != Some(&row.get::<_, i32>(1)));
    if reordered {
        let stmt = db
            .prepare_cached(
                "update quiz_question set position = position + (select max(position) + 1 from quiz_question where quiz_id = $1)
                  where quiz_id = $1",
            )
            .await?;
        db.execute(&stmt, &[&quiz]).await?;
        changed = true;
    }
    let stmt = db
        .prepare_cached(
            "insert into quiz_question (quiz_id, legacy_id, position, question, options, correct_answer, points, explanation, difficulty)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             on conflict (quiz_id, legacy_id) do update
                set position = excluded.position, question = excluded.question, options = excluded.options,
                    correct_answer = excluded.correct_answer, points = excluded.points,
                    explanation = excluded.explanation, difficulty = excluded.difficulty
              where (quiz_question.position, quiz_question.question, quiz_question.options, quiz_question.correct_answer,
                     quiz_question.points, quiz_question.explanation, quiz_question.difficulty)
                    is distinct from
                    (excluded.position, excluded.question, excluded.options, excluded.correct_answer,
                     excluded.points, excluded.explanation, excluded.difficulty)",
        )
        .await?;
    for (position, q) in (0_i32..).zip(questions) {
        let rows = db
            .execute(
                &stmt,
                &[
                    &quiz,
                    &q.legacy_id,
                    &position,
                    &q.question,
                    &q.options,
                    &q.correct_answer,
                    &q.points,
                    &q.explanation,
                    &q.difficulty,
                ],
            )
            .await?;
        changed |= rows > 0;
    }
    Ok(changed)
}

/// An attempt and its answers. `score` and `max_score` are in points, as this service grades
/// (the original's `score` counted correct answers); `percentage` and `passed` stay what the
/// student was shown.
pub(super) async fn attempt(
    db: &impl GenericClient,
    a: &AttemptRecord,
    warnings: &mut Vec<String>,
) -> Written {
    let stmt = db
        .prepare_cached("select id, passing_score from quiz where legacy_id = $1")
        .await?;
    let (quiz, passing_score): (Uuid, i32) = match db.query_opt(&stmt, &[&a.quiz]).await? {
        Some(row) => (row.get(0), row.get(1)),
        None => return Err(dangling("quizId", &a.quiz, "quiz")),
    };
    let user = required_user(db, "userId", &a.user).await?;
    let stmt = db
        .prepare_cached(
            "select legacy_id, id, correct_answer, points from quiz_question where quiz_id = $1",
        )
        .await?;
    let rows = db.query(&stmt, &[&quiz]).await?;
    let max_score: i32 = rows.iter().map(|r| r.get::<_, i32>("points")).sum();
    let questions: HashMap<String, (Uuid, i32, i32)> = rows
        .iter()
        .filter_map(|r| {
            Some((
                r.get::<_, Option<String>>(0)?,
                (r.get(1), r.get(2), r.get(3)),
            ))
        })
        .collect();
    let mut answers = Vec::with_capacity(a.answers.len());
    for answer in &a.answers {
        let Some(&(question, correct_answer, points)) = questions.get(&answer.question) else {
            warnings.push(format!(
                "answers: question '{}' is not in the quiz: answer skipped",
                answer.question
            ));
            continue;
        };
        let is_correct = answer
            .is_correct
            .unwrap_or(answer.selected_answer == correct_answer);
        let earned = answer.points.unwrap_or(if is_correct { points } else { 0 });
        answers.push((question, answer, is_correct, earned));
    }
    let score: i32 = answers.iter().map(|(_, _, _, earned)| earned).sum();
    let percentage = a.percentage.unwrap_or(if max_score == 0 {
        0.0
    } else {
        (10_000.0 * f64::from(score) / f64::from(max_score)).round() / 100.0
    });
    let passed = a.passed.unwrap_or(percentage >= f64::from(passing_score));
    let (id, outcome) = match find_legacy(db, Table::QuizAttempt, &a.legacy_id).await? {
        None => {
            let stmt = db
                .prepare_cached(
                    "insert into quiz_attempt (legacy_id, quiz_id, user_id, attempt_number, score, max_score, percentage, passed,
                                               time_spent_seconds, started_at, completed_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10, now()), $11)
                     returning id",
                )
                .await?;
            let row = db
                .query_one(
                    &stmt,
                    &[
                        &a.legacy_id,
                        &quiz,
                        &user,
                        &a.attempt_number,
                        &score,
                        &max_score,
                        &percentage,
                        &passed,
                        &a.time_spent_seconds,
                        &a.started_at,
                        &a.completed_at,
                    ],
                )
                .await?;
            (row.get(0), Outcome::Inserted)
        }
        Some(id) => {
            let stmt = db
                .prepare_cached(
                    "update quiz_attempt
                        set quiz_id = $2, user_id = $3, attempt_number = $4, score = $5, max_score = $6, percentage = $7,
                            passed = $8, time_spent_seconds = $9, started_at = coalesce($10, started_at), completed_at = $11
                      where id = $1
                        and (quiz_id, user_id, attempt_number, score, max_score, percentage, passed, time_spent_seconds,
                             started_at, completed_at)
                            is distinct from
                            ($2, $3, $4, $5, $6, $7, $8, $9, coalesce($10, started_at), $11)",
                )
                .await?;
            let rows = db
                .execute(
                    &stmt,
                    &[
                        &id,
                        &quiz,
                        &user,
                        &a.attempt_number,
                        &score,
                        &max_score,
                        &percentage,
                        &passed,
                        &a.time_spent_seconds,
                        &a.started_at,
                        &a.completed_at,
                    ],
                )
                .await?;
            (id, Outcome::updated_if(rows))
        }
    };
    let stmt = db
        .prepare_cached(
            "insert into quiz_answer (attempt_id, question_id, selected_answer, is_correct, points, time_spent_seconds)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (attempt_id, question_id) do update
                set selected_answer = excluded.selected_answer, is_correct = excluded.is_correct,
                    points = excluded.points, time_spent_seconds = excluded.time_spent_seconds
              where (quiz_answer.selected_answer, quiz_answer.is_correct, quiz_answer.points, quiz_answer.time_spent_seconds)
                    is distinct from
                    (excluded.selected_answer, excluded.is_correct, excluded.points, excluded.time_spent_seconds)",
        )
        .await?;
    let mut changed = false;
    for (question, answer, is_correct, earned) in &answers {
        let rows = db
            .execute(
                &stmt,
                &[
                    &id,
                    question,
                    &answer.selected_answer,
                    is_correct,
                    earned,
                    &answer.time_spent_seconds,
                ],
            )
            .await?;
        changed |= rows > 0;
    }
    let kept: Vec<Uuid> = answers.iter().map(|(question, ..)| *question).collect();
    let stmt = db
        .prepare_cached("delete from quiz_answer where attempt_id = $1 and question_id <> all($2)")
        .await?;
    changed |= db.execute(&stmt, &[&id, &kept]).await? > 0;
    Ok(outcome.with_children(changed))
}
