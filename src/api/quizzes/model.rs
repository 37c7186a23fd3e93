//! Quiz shapes and validation (the original's `createQuizAction`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{error::AppError, jsontime, validate::Validator};

/// A quiz. `questions[].correctAnswer` and `explanation` are only present for the course owner
/// and admins.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quiz {
    /// Quiz id.
    pub id: Uuid,
    /// Course.
    pub course_id: Uuid,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Percentage needed to pass.
    pub passing_score: i32,
    /// Attempts allowed per student.
    pub max_attempts: i32,
    /// Minutes allowed, if limited.
    pub time_limit: Option<i32>,
    /// Whether students can take it.
    pub is_active: bool,
    /// Author.
    pub created_by: Option<Uuid>,
    /// Number of questions.
    pub question_count: i64,
    /// Sum of the questions' points.
    pub total_points: i64,
    /// Questions in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub questions: Option<Vec<Question>>,
    /// Creation time.
    #[serde(serialize_with = "jsontime::ser")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "jsontime::ser")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

/// A question.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Question {
    /// Question id.
    pub id: Uuid,
    /// Order, from 0.
    pub position: i32,
    /// The question.
    pub question: String,
    /// The choices.
    pub options: Vec<String>,
    /// Points for a correct answer.
    pub points: i32,
    /// `easy`, `medium` or `hard`.
    #[serde(default = "medium")]
    pub difficulty: String,
    /// Index of the right option (owner and admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct_answer: Option<i32>,
    /// Why (owner and admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// Body of quiz creation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateQuiz {
    /// 5–200 characters.
    pub title: String,
    /// 10–2000 characters.
    pub description: String,
    /// A course the caller owns (admins: any).
    pub course_id: String,
    /// 1–100 (%).
    pub passing_score: i64,
    /// 1–10.
    pub max_attempts: i64,
    /// 1–300 minutes.
    pub time_limit: Option<i64>,
    /// 1–100 questions.
    pub questions: Vec<QuestionInput>,
}

/// A question in quiz input.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuestionInput {
    /// 3–2000 characters.
    pub question: String,
    /// 2–10 non-empty options.
    pub options: Vec<String>,
    /// Index of the right option.
    pub correct_answer: i64,
    /// 1–10.
    pub points: i64,
    /// Optional explanation.
    pub explanation: Option<String>,
}

impl CreateQuiz {
    /// Validates every field, naming each failing one.
    pub fn validate(&self) -> Result<(), AppError> {
        let mut v = Validator::new();
        v.length("title", &self.title, 5, 200);
        v.length("description", &self.description, 10, 2000);
        v.range("passingScore", self.passing_score, 1, 100);
        v.range("maxAttempts", self.max_attempts, 1, 10);
        if let Some(t) = self.time_limit {
            v.range("timeLimit", t, 1, 300);
        }
        if self.questions.is_empty() || self.questions.len() > 100 {
            v.fail("questions", "must hold between 1 and 100 questions");
        }
        for (i, q) in self.questions.iter().enumerate() {
            let f = |name: &str| format!("questions[{i}].{name}");
            v.length(&f("question"), &q.question, 3, 2000);
            if q.options.len() < 2 || q.options.len() > 10 {
                v.fail(f("options"), "must hold between 2 and 10 options");
            }
            for (j, o) in q.options.iter().enumerate() {
                v.length(&format!("questions[{i}].options[{j}]"), o, 1, 500);
            }
            if q.correct_answer < 0 || q.correct_answer >= q.options.len() as i64 {
                v.fail(
                    f("correctAnswer"),
                    "must be the index of one of the options",
                );
            }
            v.range(&f("points"), q.points, 1, 10);
            v.opt_length(&f("explanation"), q.explanation.as_deref(), 2000);
        }
        v.finish()
    }
}

fn medium() -> String {
    "medium".to_owned()
}
