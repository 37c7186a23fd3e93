//! Quizzes: answers never reach students, attempts are limited, stats are the owner's.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};

fn quiz_body(course: &Value) -> Value {
    json!({
        "title": "Final quiz",
        "description": "Check your understanding",
        "courseId": course["id"],
        "passingScore": 50,
        "maxAttempts": 2,
        "timeLimit": 30,
        "questions": [
            {"question": "What is 1+1?", "options": ["1", "2", "3"], "correctAnswer": 1, "points": 2, "explanation": "Arithmetic"},
            {"question": "Rust is a...", "options": ["language", "fruit"], "correctAnswer": 0, "points": 1}
        ]
    })
}

struct Setup {
    app: TestApp,
    owner: TestUser,
    student: TestUser,
    quiz: Value,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let owner = app.user("formateur").await;
    let student = app.user("student").await;
    let course = app
        .published_course(&owner, "Course with a quiz", false)
        .await;
    app.enroll(&student, course["id"].as_str().expect("id"))
        .await;
    let (status, quiz) = app
        .post("/api/formateur/quizzes", owner.t(), quiz_body(&course))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{quiz}");
    Setup {
        app,
        owner,
        student,
        quiz,
    }
}

#[tokio::test]
async fn only_course_owners_and_admins_create_quizzes_with_validation() {
    let Setup {
        app,
        owner,
        student,
        quiz,
    } = setup().await;
    assert_eq!(quiz["questionCount"], 2);
    assert_eq!(
        quiz["questions"][0]["correctAnswer"], 1,
        "the owner sees answers"
    );
    let other = app.user("formateur").await;
    let course = json!({"id": quiz["courseId"]});
    assert_eq!(
        app.post("/api/formateur/quizzes", other.t(), quiz_body(&course))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("/api/formateur/quizzes", student.t(), quiz_body(&course))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let mut bad = quiz_body(&course);
    bad["passingScore"] = json!(0);
    bad["maxAttempts"] = json!(11);
    bad["questions"][0]["correctAnswer"] = json!(3);
    bad["questions"][1]["options"] = json!(["only one"]);
    bad["questions"][1]["points"] = json!(11);
    let (status, body) = app.post("/api/formateur/quizzes", owner.t(), bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for f in [
        "passingScore",
        "maxAttempts",
        "questions[0].correctAnswer",
        "questions[1].options",
        "questions[1].points",
    ] {
        assert!(body["details"][f].is_string(), "{f}: {body}");
    }
    let mut missing = quiz_body(&json!({"id": uuid::Uuid::new_v4()}));
    missing["title"] = json!("Quiz on a missing course");
    assert_eq!(
        app.post("/api/formateur/quizzes", owner.t(), missing)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = app.get("/api/formateur/quizzes", owner.t()).await;
    assert_eq!(list["quizzes"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        app.get("/api/formateur/quizzes", other.t()).await.1["quizzes"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        app.get("/api/formateur/quizzes", student.t()).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn students_never_see_answers_and_outsiders_cannot_read_the_quiz() {
    let Setup {
        app,
        owner,
        student,
        quiz,
    } = setup().await;
    let path = format!(
        "/api/formateur/quizzes/{}",
        quiz["id"].as_str().expect("id")
    );
    let (status, seen) = app.get(&path, student.t()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["questions"].as_array().map(Vec::len), Some(2));
    assert!(
        !seen.to_string().contains("correctAnswer") && !seen.to_string().contains("explanation"),
        "{seen}"
    );
    assert_eq!(
        app.get(&path, owner.t()).await.1["questions"][0]["explanation"],
        "Arithmetic"
    );
    let outsider = app.user("student").await;
    assert_eq!(app.get(&path, outsider.t()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&path, None).await.0, StatusCode::UNAUTHORIZED);
    let admin = app.user("admin").await;
    assert_eq!(
        app.get(&path, admin.t()).await.1["questions"][0]["correctAnswer"],
        1
    );
}

#[tokio::test]
async fn attempts_are_limited_graded_once_and_private() {
    let Setup {
        app,
        owner,
        student,
        quiz,
    } = setup().await;
    let qid = quiz["id"].as_str().expect("id").to_owned();
    let questions = quiz["questions"].as_array().expect("questions").clone();
    let attempts = format!("/api/formateur/quizzes/{qid}/attempts");
    assert_eq!(
        app.post(&attempts, owner.t(), json!({})).await.0,
        StatusCode::FORBIDDEN,
        "only students take quizzes"
    );
    let (status, a1) = app.post(&attempts, student.t(), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{a1}");
    assert_eq!(a1["attemptNumber"], 1);
    let submit = format!("{attempts}/{}/submit", a1["id"].as_str().expect("id"));
    let answers = json!({"answers": [
        {"questionId": questions[0]["id"], "selectedAnswer": 1, "timeSpent": 5},
        {"questionId": questions[1]["id"], "selectedAnswer": 1}
    ], "totalTimeSpent": 42});
    let other = app.user("student").await;
    assert_eq!(
        app.post(&submit, other.t(), answers.clone()).await.0,
        StatusCode::NOT_FOUND,
        "not their attempt"
    );
    let bad = json!({"answers": [{"questionId": questions[0]["id"], "selectedAnswer": 7}]});
    assert_eq!(
        app.post(&submit, student.t(), bad).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, graded) = app.post(&submit, student.t(), answers.clone()).await;
    assert_eq!(status, StatusCode::OK, "{graded}");
    assert_eq!(graded["score"], 2);
    assert_eq!(graded["maxScore"], 3);
    assert_eq!(graded["percentage"], 66.67);
    assert_eq!(graded["passed"], true);
    assert_eq!(graded["correctAnswers"], 1);
    // The time spent is the server's (start to submission), not the 42 s the client claims.
    assert!(
        graded["timeSpent"]
            .as_i64()
            .is_some_and(|t| (0..42).contains(&t)),
        "{graded}"
    );
    assert_eq!(
        app.post(&submit, student.t(), answers).await.0,
        StatusCode::CONFLICT,
        "submitted once"
    );

    assert_eq!(
        app.post(&attempts, student.t(), json!({})).await.0,
        StatusCode::CREATED
    );
    let (status, body) = app.post(&attempts, student.t(), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "maxAttempts = 2");
    assert_eq!(body["code"], "max_attempts_reached");

    let (_, mine) = app.get(&attempts, student.t()).await;
    assert_eq!(mine["attempts"].as_array().map(Vec::len), Some(2));
    let (_, theirs) = app
        .get(&format!("{attempts}?userId={}", other.id), student.t())
        .await;
    assert!(
        theirs["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .all(|a| a["userId"] == json!(student.id)),
        "userId ignored for students"
    );
    assert_eq!(
        app.get(&attempts, owner.t()).await.1["attempts"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        app.get(&attempts, other.t()).await.0,
        StatusCode::FORBIDDEN,
        "not enrolled"
    );
}

#[tokio::test]
async fn stats_are_for_the_owner_and_admins_and_batches_are_capped() {
    let Setup {
        app,
        owner,
        student,
        quiz,
    } = setup().await;
    let qid = quiz["id"].as_str().expect("id").to_owned();
    let questions = quiz["questions"].as_array().expect("questions").clone();
    let (_, a) = app
        .post(
            &format!("/api/formateur/quizzes/{qid}/attempts"),
            student.t(),
            json!({}),
        )
        .await;
    let submit = format!(
        "/api/formateur/quizzes/{qid}/attempts/{}/submit",
        a["id"].as_str().expect("id")
    );
    app.post(
        &submit,
        student.t(),
        json!({"answers": [{"questionId": questions[0]["id"], "selectedAnswer": 0}]}),
    )
    .await;
    let path = format!("/api/formateur/quizzes/{qid}/stats");
    let (status, stats) = app.get(&path, owner.t()).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["totalAttempts"], 1);
    assert_eq!(stats["passRate"], 0.0);
    assert_eq!(stats["questionStats"][0]["totalAnswers"], 1);
    assert_eq!(stats["questionStats"][0]["correctAnswers"], 0);
    assert_eq!(app.get(&path, student.t()).await.0, StatusCode::FORBIDDEN);
    let other = app.user("formateur").await;
    assert_eq!(app.get(&path, other.t()).await.0, StatusCode::FORBIDDEN);

    let (status, batch) = app
        .post(
            "/api/formateur/quizzes/stats-batch",
            owner.t(),
            json!({"quizIds": [qid]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(batch["success"], true);
    assert_eq!(batch["quizStats"][0]["quizId"], json!(qid));
    assert_eq!(
        app.post(
            "/api/formateur/quizzes/stats-batch",
            other.t(),
            json!({"quizIds": [qid]})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let many: Vec<String> = (0..31).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let (status, body) = app
        .post(
            "/api/formateur/quizzes/stats-batch",
            owner.t(),
            json!({"quizIds": many}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["details"]["quizIds"].is_string());
    assert_eq!(
        app.post(
            "/api/formateur/quizzes/stats-batch",
            student.t(),
            json!({"quizIds": [qid]})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_time_limit_is_the_servers_and_a_late_submission_scores_nothing() {
    let Setup {
        app, student, quiz, ..
    } = setup().await;
    let qid = quiz["id"].as_str().expect("id").to_owned();
    app.sql()
        .await
        .execute(
            "update quiz set time_limit_minutes = 1 where id = $1::text::uuid",
            &[&qid],
        )
        .await
        .expect("limit");
    let (status, started) = app
        .post(
            &format!("/api/formateur/quizzes/{qid}/attempts"),
            student.t(),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let attempt = started["id"].as_str().expect("id").to_owned();
    // Started two minutes ago, as far as the server's clock is concerned.
    app.sql()
        .await
        .execute(
            "update quiz_attempt set started_at = now() - interval '2 minutes' where id = $1::text::uuid",
            &[&attempt],
        )
        .await
        .expect("backdate");
    let answers: Vec<Value> = quiz["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .map(|q| json!({"questionId": q["id"], "selectedAnswer": 0}))
        .collect();
    let (status, body) = app
        .post(
            &format!("/api/formateur/quizzes/{qid}/attempts/{attempt}/submit"),
            student.t(),
            json!({"answers": answers, "totalTimeSpent": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "time_limit_exceeded");
    let row = app
        .sql()
        .await
        .query_one(
            "select score, passed, completed_at is not null, time_spent_seconds from quiz_attempt where id = $1::text::uuid",
            &[&attempt],
        )
        .await
        .expect("attempt");
    assert_eq!(row.get::<_, i32>(0), 0, "no score");
    assert!(!row.get::<_, bool>(1));
    assert!(row.get::<_, bool>(2), "the attempt is closed");
    assert!(
        row.get::<_, i32>(3) >= 120,
        "the server's time, not the client's 5 s"
    );
}
