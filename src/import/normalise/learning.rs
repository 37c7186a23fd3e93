//! Enrollment requests, progress (enrollments), quizzes (with questions), quiz attempts (with
//! answers) and notifications.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Times, first_duplicate, one_of, request_status};
use crate::import::{
    export::Document,
    fields::{Fields, Reason},
};

/// A request from `enrollmentRequests/{id}`.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// The document id.
    pub legacy_id: String,
    /// `courseId`.
    pub course: String,
    /// `studentId` (a Firebase uid).
    pub student: String,
    /// `pending`, `approved` or `denied`.
    pub status: &'static str,
    /// Up to 2000 characters.
    pub request_message: Option<String>,
    /// Up to 2000 characters.
    pub response_message: Option<String>,
    /// `respondedBy` (or `reviewedBy`), a Firebase uid.
    pub responded_by: Option<String>,
    /// `respondedAt` (or `reviewedAt`).
    pub responded_at: Option<DateTime<Utc>>,
    /// `createdAt`, `updatedAt`.
    pub times: Times,
}

/// An enrollment from `progress/{id}`.
#[derive(Debug, Clone)]
pub struct EnrollmentRecord {
    /// The document id.
    pub legacy_id: String,
    /// `userId` (a Firebase uid).
    pub user: String,
    /// `courseId`.
    pub course: String,
    /// `active` or `completed`.
    pub status: &'static str,
    /// `progress` (0–100); computed from the completed lessons when missing.
    pub progress: Option<i32>,
    /// `completedLessons`: lesson ids of the course, without repeats.
    pub completed_lessons: Vec<String>,
    /// `enrollmentRequestId`.
    pub request: Option<String>,
    /// `completedAt`.
    pub completed_at: Option<DateTime<Utc>>,
    /// `startedAt` as `created`, `updatedAt` (or `reviewedAt`) as `updated`.
    pub times: Times,
}

/// A quiz from `quizzes/{id}`.
#[derive(Debug, Clone)]
pub struct QuizRecord {
    /// The document id.
    pub legacy_id: String,
    /// `courseId`.
    pub course: String,
    /// `moduleId`, the id of a module of that course.
    pub module: Option<String>,
    /// 5–200 characters.
    pub title: String,
    /// 10–2000 characters.
    pub description: String,
    /// 1–100 (%); 70 when missing, as the original graded.
    pub passing_score: i32,
    /// 1–10.
    pub max_attempts: i32,
    /// `timeLimit`, 1–300 minutes.
    pub time_limit_minutes: Option<i32>,
    /// `isActive`, true when missing.
    pub is_active: bool,
    /// `createdBy`, a Firebase uid.
    pub created_by: Option<String>,
    /// `createdAt`, `updatedAt`.
    pub times: Times,
    /// Questions in order.
    pub questions: Vec<QuestionRecord>,
}

/// A question embedded in a quiz.
#[derive(Debug, Clone)]
pub struct QuestionRecord {
    /// Its `id`, unique within the quiz.
    pub legacy_id: String,
    /// `question` (the seed wrote `text`), 1–2000 characters.
    pub question: String,
    /// 2–10 options.
    pub options: Vec<String>,
    /// Index into `options`.
    pub correct_answer: i32,
    /// 1–10; 1 when missing.
    pub points: i32,
    /// Up to 2000 characters.
    pub explanation: Option<String>,
    /// `easy`, `medium` or `hard`; `medium` when missing.
    pub difficulty: &'static str,
}

/// An attempt from `quizAttempts/{id}`.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// The document id.
    pub legacy_id: String,
    /// `quizId`.
    pub quiz: String,
    /// `userId`, a Firebase uid.
    pub user: String,
    /// `attemptNumber`, from 1.
    pub attempt_number: i32,
    /// `percentage` as the student was shown it.
    pub percentage: Option<f64>,
    /// `passed` as the student was shown it.
    pub passed: Option<bool>,
    /// `timeSpent`, seconds.
    pub time_spent_seconds: i32,
    /// `startedAt`.
    pub started_at: Option<DateTime<Utc>>,
    /// `completedAt`; missing for an attempt never submitted.
    pub completed_at: Option<DateTime<Utc>>,
    /// Answers, at most one per question.
    pub answers: Vec<AnswerRecord>,
}

/// An answer embedded in an attempt.
#[derive(Debug, Clone)]
pub struct AnswerRecord {
    /// `questionId`, the id of a question of the quiz.
    pub question: String,
    /// `selectedAnswer`, an option index.
    pub selected_answer: i32,
    /// `isCorrect` as graded then.
    pub is_correct: Option<bool>,
    /// `points` as graded then.
    pub points: Option<i32>,
    /// `timeSpent`, seconds.
    pub time_spent_seconds: Option<i32>,
}

/// A notification from `notifications/{id}`.
#[derive(Debug, Clone)]
pub struct NotificationRecord {
    /// The document id.
    pub legacy_id: String,
    /// `userId`, a Firebase uid.
    pub user: String,
    /// 1–200 characters.
    pub title: String,
    /// 1–2000 characters.
    pub message: String,
    /// `info`, `success`, `warning` or `error`; `info` when missing.
    pub kind: &'static str,
    /// Up to 2048 characters.
    pub link: Option<String>,
    /// `read`, false when missing.
    pub read: bool,
    /// `data`, as it is.
    pub data: Option<Value>,
    /// `createdAt`.
    pub created_at: Option<DateTime<Utc>>,
}

/// Normalises an `enrollmentRequests` document.
pub(super) fn request(doc: &Document, warnings: &mut Vec<String>) -> Result<RequestRecord, Reason> {
    let f = Fields::new(&doc.fields);
    let status = match f.text("status")? {
        None => {
            warnings.push("no status: imported as pending".to_owned());
            "pending"
        }
        Some(raw) => request_status(&raw).ok_or_else(|| {
            format!("'status' is '{raw}', not one of: pending, approved, denied (or rejected)")
        })?,
    };
    let responded_at = match f.timestamp("respondedAt")? {
        Some(t) => Some(t),
        None => f.timestamp("reviewedAt")?,
    };
    Ok(RequestRecord {
        legacy_id: doc.id.clone(),
        course: f.required_text("courseId")?,
        student: f.required_text("studentId")?,
        status,
        request_message: f.text_within("requestMessage", 1, 2000)?,
        response_message: f.text_within("responseMessage", 1, 2000)?,
        responded_by: f.text_of(&["respondedBy", "reviewedBy"])?,
        responded_at,
        times: Times {
            created: f.timestamp("createdAt")?,
            updated: f.timestamp("updatedAt")?,
        },
    })
}

/// Normalises a `progress` document: `active`/`enrolled` (or no status) is an active
/// enrollment, `completed: true` a completed one; `denied` is not an enrollment.
pub(super) fn enrollment(doc: &Document) -> Result<EnrollmentRecord, Reason> {
    let f = Fields::new(&doc.fields);
    let mut completed = f.boolean("completed")?.unwrap_or(false);
    match f.text("status")?.map(|s| s.to_ascii_lowercase()).as_deref() {
        None | Some("active" | "enrolled") => {}
        Some("completed") => completed = true,
        Some("denied") => {
            return Err(
                "status 'denied': the enrollment was refused, so there is no enrollment to import"
                    .to_owned(),
            );
        }
        Some(other) => {
            return Err(format!(
                "'status' is '{other}', not one of: active, enrolled, completed, denied"
            ));
        }
    }
    let progress = match f.number("progress")? {
        None => None,
        Some(p) if (0.0..=100.0).contains(&p) => Some(p.round() as i32),
        Some(p) => return Err(format!("'progress' must be between 0 and 100 (it is {p})")),
    };
    let mut completed_lessons = f.texts("completedLessons")?;
    let mut seen = std::collections::HashSet::new();
    completed_lessons.retain(|id| seen.insert(id.clone()));
    let updated = match f.timestamp("updatedAt")? {
        Some(t) => Some(t),
        None => f.timestamp("reviewedAt")?,
    };
    Ok(EnrollmentRecord {
        legacy_id: doc.id.clone(),
        user: f.required_text("userId")?,
        course: f.required_text("courseId")?,
        status: if completed { "completed" } else { "active" },
        progress,
        completed_lessons,
        request: f.text("enrollmentRequestId")?,
        completed_at: f.timestamp("completedAt")?,
        times: Times {
            created: f.timestamp("startedAt")?,
            updated,
        },
    })
}

/// Normalises a `quizzes` document.
pub(super) fn quiz(doc: &Document) -> Result<QuizRecord, Reason> {
    let f = Fields::new(&doc.fields);
    let questions = f
        .objects("questions")?
        .iter()
        .map(question)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(id) = first_duplicate(questions.iter().map(|q| q.legacy_id.as_str())) {
        return Err(format!("two questions have the id '{id}'"));
    }
    Ok(QuizRecord {
        legacy_id: doc.id.clone(),
        course: f.required_text("courseId")?,
        module: f.text("moduleId")?,
        title: f.required_within("title", 5, 200)?,
        description: f.required_within("description", 10, 2000)?,
        passing_score: f.int_within("passingScore", 1, 100)?.unwrap_or(70),
        max_attempts: f
            .int_within("maxAttempts", 1, 10)?
            .ok_or_else(|| f.missing("maxAttempts"))?,
        time_limit_minutes: f.int_within("timeLimit", 1, 300)?,
        is_active: f.boolean("isActive")?.unwrap_or(true),
        created_by: f.text("createdBy")?,
        times: Times {
            created: f.timestamp("createdAt")?,
            updated: f.timestamp("updatedAt")?,
        },
        questions,
    })
}

fn question(q: &Fields<'_>) -> Result<QuestionRecord, Reason> {
    let text = q
        .text_of(&["question", "text"])?
        .ok_or_else(|| q.missing("question"))?;
    if text.chars().count() > 2000 {
        return Err(format!(
            "'{}' is longer than 2000 characters",
            q.name("question")
        ));
    }
    let options = q.texts("options")?;
    if !(2..=10).contains(&options.len()) {
        return Err(format!(
            "'{}' must hold 2 to 10 options (it holds {})",
            q.name("options"),
            options.len()
        ));
    }
    let last = options.len() as i64 - 1;
    let correct_answer = q
        .int_within("correctAnswer", 0, last)?
        .ok_or_else(|| q.missing("correctAnswer"))?;
    let difficulty = match q.text("difficulty")? {
        Some(raw) => one_of(&q.name("difficulty"), &raw, &["easy", "medium", "hard"])?,
        None => "medium",
    };
    Ok(QuestionRecord {
        legacy_id: q.required_text("id")?,
        question: text,
        options,
        correct_answer,
        points: q.int_within("points", 1, 10)?.unwrap_or(1),
        explanation: q.text_within("explanation", 1, 2000)?,
        difficulty,
    })
}

/// Normalises a `quizAttempts` document.
pub(super) fn attempt(doc: &Document) -> Result<AttemptRecord, Reason> {
    let f = Fields::new(&doc.fields);
    let answers = f
        .objects("answers")?
        .iter()
        .map(|a| {
            Ok(AnswerRecord {
                question: a.required_text("questionId")?,
                selected_answer: a
                    .int_within("selectedAnswer", -1, 1000)?
                    .ok_or_else(|| a.missing("selectedAnswer"))?,
                is_correct: a.boolean("isCorrect")?,
                points: a.int_within("points", 0, 1000)?,
                time_spent_seconds: a.int_within("timeSpent", 0, i64::from(i32::MAX))?,
            })
        })
        .collect::<Result<Vec<_>, Reason>>()?;
    if let Some(id) = first_duplicate(answers.iter().map(|a| a.question.as_str())) {
        return Err(format!("question '{id}' is answered twice"));
    }
    Ok(AttemptRecord {
        legacy_id: doc.id.clone(),
        quiz: f.required_text("quizId")?,
        user: f.required_text("userId")?,
        attempt_number: f
            .int_within("attemptNumber", 1, 1000)?
            .ok_or_else(|| f.missing("attemptNumber"))?,
        percentage: f.number("percentage")?,
        passed: f.boolean("passed")?,
        time_spent_seconds: f
            .int_within("timeSpent", 0, i64::from(i32::MAX))?
            .unwrap_or(0),
        started_at: f.timestamp("startedAt")?,
        completed_at: f.timestamp("completedAt")?,
        answers,
    })
}

/// Normalises a `notifications` document.
pub(super) fn notification(doc: &Document) -> Result<NotificationRecord, Reason> {
    let f = Fields::new(&doc.fields);
    let kind = match f.text("type")? {
        Some(raw) => one_of("type", &raw, &["info", "success", "warning", "error"])?,
        None => "info",
    };
    Ok(NotificationRecord {
        legacy_id: doc.id.clone(),
        user: f.required_text("userId")?,
        title: f.required_within("title", 1, 200)?,
        message: f.required_within("message", 1, 2000)?,
        kind,
        link: f.text_within("link", 1, 2048)?,
        read: f.boolean("read")?.unwrap_or(false),
        data: f.value("data").cloned(),
        created_at: f.timestamp("createdAt")?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(fields: Value) -> Document {
        let Value::Object(fields) = fields else {
            panic!("object")
        };
        Document {
            id: "d1".to_owned(),
            fields,
        }
    }

    #[test]
    fn progress_statuses_map_onto_enrollments() {
        for (fields, expected) in [
            (json!({"status": "active"}), Ok("active")),
            (json!({"status": "enrolled"}), Ok("active")),
            (json!({}), Ok("active")),
            (json!({"completed": true}), Ok("completed")),
            (
                json!({"status": "enrolled", "completed": true}),
                Ok("completed"),
            ),
            (json!({"status": "denied"}), Err("denied")),
            (json!({"status": "paused"}), Err("'paused'")),
        ] {
            let mut fields = fields;
            fields["userId"] = json!("u1");
            fields["courseId"] = json!("c1");
            let got = enrollment(&doc(fields.clone())).map(|e| e.status);
            match (got, expected) {
                (Ok(s), Ok(e)) => assert_eq!(s, e, "{fields}"),
                (Err(reason), Err(part)) => assert!(reason.contains(part), "{fields}: {reason}"),
                (got, _) => panic!("{fields}: {got:?}"),
            }
        }
    }

    #[test]
    fn seed_questions_written_as_text_are_read_and_points_are_checked() {
        let ok = quiz(&doc(json!({
            "courseId": "c1", "title": "HTML Fundamentals Quiz", "description": "Test your knowledge of HTML basics",
            "maxAttempts": 3,
            "questions": [{"id": "q1", "text": "What does HTML stand for?", "options": ["A", "B"], "correctAnswer": 0, "points": 1}]
        })))
        .expect("valid");
        assert_eq!(ok.questions[0].question, "What does HTML stand for?");
        assert_eq!(
            (ok.passing_score, ok.questions[0].difficulty),
            (70, "medium")
        );
        let reason = quiz(&doc(json!({
            "courseId": "c1", "title": "JavaScript Fundamentals Quiz", "description": "Test your understanding of JavaScript",
            "maxAttempts": 2,
            "questions": [{"id": "js-q3", "question": "typeof null?", "options": ["null", "object"], "correctAnswer": 1, "points": 20}]
        })))
        .expect_err("points out of range");
        assert_eq!(
            reason,
            "'questions[0].points' must be between 1 and 10 (it is 20)"
        );
    }
}
