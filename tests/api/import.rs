//! `elearning-api import firestore`, run as a process like an operator would, on the fixture
//! export (`tests/fixtures/firestore-export`, modelled on the original's collections with their
//! mess) and a database of the test's own.

use std::{
    path::{Path, PathBuf},
    process::Output,
};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestDb, dead_port};

// Firestore ids of the fixture.
const ADMIN: &str = "C3J27XDCG2LmlZGEONYlgCtjfIZ4";
const FORMATEUR: &str = "SOcMz9CPVNPkNa1Hedcm4pMbXDuC";
const NOUR: &str = "L1mHoOsFaQfDPrAJ71fTquWoGsbe";
const SAMI: &str = "KXgzg2sye9b2Rann76dEyTzAeKOm";
const LINA: &str = "XRrvftva9AW7hipTgadDZFlRJmCG";
const WEB_COURSE: &str = "1Ki3ylOjt6o0NpUmkVO8";
const UX_COURSE: &str = "JmR8y4EMfAdggcG9qpVT";
const HTML_QUIZ: &str = "z2YS5ofA75UyiCDmO46a";

/// Per collection: read, inserted, updated, unchanged, rejected, on a first run.
const FIRST_RUN: [(&str, [u64; 5]); 7] = [
    ("users", [7, 5, 0, 0, 2]),
    ("courses", [7, 4, 0, 0, 3]),
    ("enrollmentRequests", [4, 3, 0, 0, 1]),
    ("progress", [5, 3, 0, 0, 2]),
    ("quizzes", [3, 2, 0, 0, 1]),
    ("quizAttempts", [5, 3, 0, 0, 2]),
    ("notifications", [4, 3, 0, 0, 1]),
];

/// Every document of the fixture that must be rejected, with a part of its reason.
const REJECTED: [(&str, &str, &str); 12] = [
    (
        "users",
        "mUXiAPyhzAnar3ZLt4bnlz2MPKgc",
        "duplicate e-mail: Nour.Mansour@example.com already belongs to Firebase user 'L1mHoOsFaQfDPrAJ71fTquWoGsbe'",
    ),
    (
        "users",
        "jnCqaXNv1syeefnLOpaMxxNDi9LE",
        "missing required field 'email'",
    ),
    (
        "courses",
        "Kifxi5CvQUSHL8iLc7bE",
        "dangling reference: instructorId 'system' is not an imported user",
    ),
    (
        "courses",
        "6wSt9cbMOeEeUtuieeCI",
        "duplicate title: \"introduction to web development\" is already the title of course '1Ki3ylOjt6o0NpUmkVO8'",
    ),
    (
        "courses",
        "xVc57VVTiY96vwfRE5e3",
        "'category' is 'Data Science', not one of",
    ),
    (
        "enrollmentRequests",
        "tjRNmHkW5vQ7CF5puzQq",
        "dangling reference: courseId 'mOBZZW6m4nyoL6uniiFw' is not an imported course",
    ),
    ("progress", "dOhCgOIPOZx9eRmm0Eql", "status 'denied'"),
    (
        "progress",
        "TaWEITclorXwIS8HGNWk",
        "dangling reference: courseId 'Kifxi5CvQUSHL8iLc7bE' is not an imported course",
    ),
    (
        "quizzes",
        "7Thnp5yftIY7uq6T2bwG",
        "'questions[1].points' must be between 1 and 10 (it is 20)",
    ),
    (
        "quizAttempts",
        "Qy9235Nnt2j9IHrKFmAI",
        "dangling reference: quizId '7Thnp5yftIY7uq6T2bwG' is not an imported quiz",
    ),
    // Refused by PostgreSQL (a unique constraint), not by a check before writing.
    (
        "quizAttempts",
        "H4BbyOA0HNkIn3OIOnHn",
        "duplicate attempt number: the student already has an attempt with this number on this quiz",
    ),
    (
        "notifications",
        "RsuUwpNFgFULh2GNqTmS",
        "dangling reference: userId 'mUXiAPyhzAnar3ZLt4bnlz2MPKgc' is not an imported user",
    ),
];

/// Tables the import writes.
const TABLES: [&str; 12] = [
    "app_user",
    "course",
    "course_module",
    "lesson",
    "enrollment_request",
    "enrollment",
    "completed_lesson",
    "quiz",
    "quiz_question",
    "quiz_attempt",
    "quiz_answer",
    "notification",
];

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/firestore-export")
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Where the import writes: a database, and the Redis (and key prefix) of the caches it clears.
struct Target {
    database_url: String,
    redis_url: String,
    prefix: String,
}

impl Target {
    /// `db`, with a Redis key prefix nothing else uses.
    fn of(db: &TestDb) -> Self {
        Self {
            database_url: db.url(),
            redis_url: redis_url(),
            prefix: format!("test:{}:", Uuid::new_v4().simple()),
        }
    }

    /// Runs `elearning-api import firestore <source> <args>` (without blocking the test's
    /// runtime, where a service under test may be running).
    async fn import(&self, source: &Path, args: &[&str]) -> Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_elearning-api"))
            .args(["import", "firestore"])
            .arg(source)
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("REDIS_URL", &self.redis_url)
            .env("REDIS_KEY_PREFIX", &self.prefix)
            .env("RUST_LOG", "warn")
            .env_remove("JWT_SECRET")
            .output()
            .await
            .expect("run elearning-api")
    }

    /// Imports the fixture with `--json` (and `args`); the report.
    async fn import_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend(args);
        let out = self.import(&fixture(), &all).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the report is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    async fn sql(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
            .await
            .expect("connect test db");
        tokio::spawn(conn);
        client
    }

    /// Row count and a digest of every row (with its timestamps) of each imported table.
    async fn snapshot(&self) -> Vec<(String, i64, String)> {
        let db = self.sql().await;
        let mut out = Vec::new();
        for table in TABLES {
            let row = db
                .query_one(
                    &format!(
                        "select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {table} t"
                    ),
                    &[],
                )
                .await
                .expect("snapshot");
            out.push((table.to_owned(), row.get(0), row.get(1)));
        }
        out
    }
}

/// The counts of a report, per collection.
fn counts(report: &Value) -> Vec<(String, [u64; 5])> {
    report["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .map(|c| {
            let n = |k: &str| c[k].as_u64().expect("count");
            (
                c["collection"].as_str().expect("name").to_owned(),
                [
                    n("read"),
                    n("inserted"),
                    n("updated"),
                    n("unchanged"),
                    n("rejected"),
                ],
            )
        })
        .collect()
}

fn expected(counts: [(&str, [u64; 5]); 7]) -> Vec<(String, [u64; 5])> {
    counts.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect()
}

fn at(iso: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(iso)
        .expect("valid time")
        .with_timezone(&Utc)
}

/// The fixture's collections, keyed by name (the single-file form of the export).
fn fixture_collections() -> serde_json::Map<String, Value> {
    let mut all = serde_json::Map::new();
    for entry in std::fs::read_dir(fixture()).expect("fixture") {
        let path = entry.expect("entry").path();
        let stem = path.file_stem().and_then(|s| s.to_str()).expect("stem");
        let body = std::fs::read(&path).expect("read");
        all.insert(
            stem.to_owned(),
            serde_json::from_slice(&body).expect("json"),
        );
    }
    all
}

/// A fresh database holding the fixture, imported once.
async fn imported() -> (TestDb, tokio_postgres::Client) {
    let db = TestDb::create().await;
    let target = Target::of(&db);
    target.import_json(&[]).await;
    let sql = target.sql().await;
    // The expected values below write times in UTC.
    sql.batch_execute("set timezone = 'UTC'")
        .await
        .expect("set timezone");
    (db, sql)
}

/// The first column of every row of `query`, as text.
async fn texts(sql: &tokio_postgres::Client, query: &str) -> Vec<String> {
    sql.query(query, &[])
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn a_dry_run_reports_the_first_run_and_writes_nothing() {
    let db = TestDb::create().await;
    let target = Target::of(&db);
    let file = std::env::temp_dir().join(format!("firestore-{}.json", Uuid::new_v4()));
    std::fs::write(&file, Value::Object(fixture_collections()).to_string()).expect("write");

    let report = target.import_json(&["--dry-run"]).await;
    let single = target.import(&file, &["--dry-run", "--json"]).await;
    std::fs::remove_file(&file).ok();

    assert_eq!(report["dryRun"], true);
    assert_eq!(counts(&report), expected(FIRST_RUN));
    assert_eq!(report["cache"]["status"], "notNeeded");
    for (table, rows, _) in target.snapshot().await {
        assert_eq!(rows, 0, "{table} was written by a dry run");
    }
    assert!(
        single.status.success(),
        "{}",
        String::from_utf8_lossy(&single.stderr)
    );
    let single: Value = serde_json::from_slice(&single.stdout).expect("json report");
    assert_eq!(counts(&single), expected(FIRST_RUN), "the single-file form");
    assert_eq!(single["ignored"], json!(["messages"]));
}

#[tokio::test]
async fn the_first_run_imports_the_fixture_and_rejects_exactly_the_bad_documents() {
    let db = TestDb::create().await;
    let target = Target::of(&db);

    let report = target.import_json(&[]).await;

    assert_eq!(counts(&report), expected(FIRST_RUN));
    assert_eq!(report["changed"], true);
    assert_eq!(report["cache"]["status"], "cleared", "{}", report["cache"]);
    let rejected = report["rejected"].as_array().expect("rejected");
    assert_eq!(rejected.len(), REJECTED.len(), "{rejected:#?}");
    for (collection, id, reason) in REJECTED {
        let found = rejected
            .iter()
            .find(|r| r["collection"] == collection && r["id"] == id)
            .unwrap_or_else(|| panic!("{collection}/{id} was not rejected: {rejected:#?}"));
        let got = found["reason"].as_str().expect("reason");
        assert!(got.contains(reason), "{collection}/{id}: {got}");
    }
    let warnings: Vec<String> = report["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| format!("{}/{}: {}", w["collection"], w["id"], w["message"]).replace('"', ""))
        .collect();
    for part in [
        "users/KXgzg2sye9b2Rann76dEyTzAeKOm: no role: imported as student",
        "courses/Nern66nVberACpdclsxH: imageUrl is a blob: URL",
        "progress/KwtPYKbPizDmbX1rpXjY: completedLessons: 'lesson-1755499999999' is not a lesson of the course",
        "quizzes/yJKP4GY08vDuPngU30ZP: createdBy 'system' is not an imported user",
        "quizAttempts/vRY6iEjH5UH1RSC84FL8: answers: question 'question-1755089999999-9' is not in the quiz",
    ] {
        assert!(
            warnings.iter().any(|w| w.starts_with(part)),
            "{part}: {warnings:#?}"
        );
    }
    assert_eq!(report["ignored"], json!(["messages"]));
}

#[tokio::test]
async fn a_second_run_changes_nothing_and_says_so() {
    let db = TestDb::create().await;
    let target = Target::of(&db);
    target.import_json(&[]).await;
    let before = target.snapshot().await;

    let report = target.import_json(&[]).await;
    let text = target.import(&fixture(), &[]).await;

    let unchanged: Vec<(String, [u64; 5])> = FIRST_RUN
        .iter()
        .map(|(c, [read, inserted, _, _, rejected])| {
            ((*c).to_owned(), [*read, 0, 0, *inserted, *rejected])
        })
        .collect();
    assert_eq!(counts(&report), unchanged);
    assert_eq!(report["changed"], false);
    assert_eq!(report["cache"]["status"], "notNeeded");
    assert_eq!(
        target.snapshot().await,
        before,
        "rows or timestamps changed"
    );
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(
            "Nothing to change: 23 documents are already imported as they are, 12 rejected."
        ),
        "{text}"
    );
}

/// A copy of the fixture with `edit` applied to its collections (keyed by name); removed with
/// the returned guard.
struct EditedExport(PathBuf);

impl EditedExport {
    fn new(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Self {
        let mut all = fixture_collections();
        edit(&mut all);
        let dir = std::env::temp_dir().join(format!("firestore-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (name, docs) in all {
            std::fs::write(dir.join(format!("{name}.json")), docs.to_string()).expect("write");
        }
        Self(dir)
    }
}

impl Drop for EditedExport {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// The document `id` of `collection` in an export being edited.
fn doc<'a>(
    all: &'a mut serde_json::Map<String, Value>,
    collection: &str,
    id: &str,
) -> &'a mut Value {
    all[collection]
        .as_array_mut()
        .expect("collection")
        .iter_mut()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("{collection}/{id} not in the fixture"))
}

#[tokio::test]
async fn a_changed_export_updates_exactly_what_changed() {
    let db = TestDb::create().await;
    let target = Target::of(&db);
    target.import_json(&[]).await;
    let edited = EditedExport::new(|all| {
        doc(all, "users", LINA)["status"] = json!("active");
        let course = doc(all, "courses", WEB_COURSE);
        course["description"] = json!("HTML, CSS and JavaScript from scratch, second edition.");
        let modules = course["modules"].as_array_mut().expect("modules");
        modules.reverse();
        modules[1]["lessons"]
            .as_array_mut()
            .expect("lessons")
            .truncate(1);
        doc(all, "enrollmentRequests", "2A8Yb3FKaNQyyLaMeffO")["status"] = json!("approved");
        doc(all, "progress", "KwtPYKbPizDmbX1rpXjY")["completedLessons"] =
            json!(["lesson-1755500100000", "lesson-1755500200000"]);
        doc(all, "quizzes", HTML_QUIZ)["questions"]
            .as_array_mut()
            .expect("questions")
            .reverse();
        doc(all, "quizAttempts", "fcCvJAXrF6bnZ3eBZclI")["answers"][1] = json!(
            {"questionId": "question-1755090000000-2", "selectedAnswer": 0, "isCorrect": true, "points": 1, "timeSpent": 25}
        );
        doc(all, "notifications", "hGaMybIcH6zIZKhFfSke")["read"] = json!(true);
    });

    let out = target.import(&edited.0, &["--json"]).await;
    let again = target.import(&edited.0, &["--json"]).await;

    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    let updated_one: Vec<(String, [u64; 5])> = FIRST_RUN
        .iter()
        .map(|(c, [read, inserted, _, _, rejected])| {
            ((*c).to_owned(), [*read, 0, 1, *inserted - 1, *rejected])
        })
        .collect();
    assert_eq!(counts(&report), updated_one);
    let again: Value = serde_json::from_slice(&again.stdout).expect("json report");
    assert_eq!(again["changed"], false, "{}", again["collections"]);

    let sql = target.sql().await;
    assert_eq!(
        texts(
            &sql,
            "select status from app_user where firebase_uid = 'XRrvftva9AW7hipTgadDZFlRJmCG'"
        )
        .await,
        ["active"]
    );
    assert_eq!(
        texts(&sql, "select string_agg(m.legacy_id || ':' || l.legacy_id, ',' order by m.position, l.position)
                from lesson l join course_module m on m.id = l.module_id join course c on c.id = m.course_id
               where c.legacy_id = '1Ki3ylOjt6o0NpUmkVO8'").await,
        ["module-2:lesson-2-1,module-1:lesson-1-1"],
        "modules swapped, lesson-1-2 deleted"
    );
    assert_eq!(
        texts(
            &sql,
            "select string_agg(qq.legacy_id, ',' order by qq.position) from quiz_question qq
                join quiz q on q.id = qq.quiz_id where q.legacy_id = 'z2YS5ofA75UyiCDmO46a'"
        )
        .await,
        ["question-1755090000000-3,question-1755090000000-2,question-1755090000000-1"]
    );
    assert_eq!(
        texts(&sql, "select score || '/' || max_score from quiz_attempt where legacy_id = 'fcCvJAXrF6bnZ3eBZclI'").await,
        ["5/5"]
    );
    assert_eq!(
        texts(&sql, "select progress || ' ' || (select count(*) from completed_lesson where enrollment_id = e.id)
                from enrollment e where legacy_id = 'KwtPYKbPizDmbX1rpXjY'").await,
        ["100 2"]
    );
    assert_eq!(
        texts(
            &sql,
            "select status || ' ' || read from enrollment_request r, notification n
               where r.legacy_id = '2A8Yb3FKaNQyyLaMeffO' and n.legacy_id = 'hGaMybIcH6zIZKhFfSke'"
        )
        .await,
        ["approved true"]
    );
}

#[tokio::test]
async fn accounts_are_normalised() {
    let (_db, sql) = imported().await;

    let users = texts(
        &sql,
        "select concat_ws(' | ', u.firebase_uid, u.first_name, u.last_name, u.role, u.status,
                          (u.password_hash is null)::text, c.firebase_uid)
           from app_user u left join app_user c on c.id = u.created_by order by u.email",
    )
    .await;
    let times = sql
        .query(
            "select firebase_uid, created_at, last_login_at from app_user",
            &[],
        )
        .await
        .expect("times");
    let time = |uid: &str| {
        let row = times
            .iter()
            .find(|r| r.get::<_, String>(0) == uid)
            .unwrap_or_else(|| panic!("{uid} not imported"));
        (
            row.get::<_, DateTime<Utc>>(1),
            row.get::<_, Option<DateTime<Utc>>>(2),
        )
    };

    assert_eq!(
        users,
        [
            format!("{ADMIN} | Amina | Haddad | admin | active | true"),
            format!("{LINA} | Lina | Karoui | student | suspended | true"),
            format!("{NOUR} | Nour |  | student | active | true"),
            format!("{SAMI} | sami.trabelsi |  | student | active | true"),
            format!("{FORMATEUR} | Youssef | Ben Salah | formateur | active | true | {ADMIN}"),
        ]
    );
    // {_seconds, _nanoseconds}, an ISO string, epoch milliseconds; none: the time of the import.
    assert_eq!(time(ADMIN).0, at("2025-08-12T10:40:00Z"));
    assert_eq!(time(FORMATEUR).0, at("2025-08-13T08:00:00Z"));
    assert_eq!(time(NOUR).0, at("2025-08-13T09:00:00Z"));
    assert!(Utc::now() - time(SAMI).0 < chrono::Duration::minutes(5));
    assert_eq!(time(NOUR).1, Some(at("2025-08-26T09:20:00.120Z")));
    assert_eq!(time(ADMIN).1, None);
}

#[tokio::test]
async fn courses_keep_their_statuses_modules_and_lessons() {
    let (_db, sql) = imported().await;

    let courses = texts(
        &sql,
        "select concat_ws(' | ', legacy_id, status, category, level, price_cents, duration_minutes, (image_url is null)::text)
           from course order by legacy_id collate \"C\"",
    )
    .await;
    let lessons = texts(
        &sql,
        "select concat_ws(' | ', m.position, m.legacy_id, l.position, l.legacy_id, l.content_type, l.video_source)
           from lesson l join course_module m on m.id = l.module_id join course c on c.id = l.course_id
          order by c.legacy_id collate \"C\", m.position, l.position",
    )
    .await;

    assert_eq!(
        courses,
        [
            format!("{WEB_COURSE} | published | programming | beginner | 4999 | 120 | false"), // 'Published'
            format!("{UX_COURSE} | published | design | intermediate | false"), // 'published'
            "Nern66nVberACpdclsxH | pending_approval | music | beginner | 1950 | 90 | true"
                .to_owned(), // a blob: image
            "zqA05MFsHl7UeioEJP2N | draft | programming | advanced | false".to_owned(), // 'Draft'
        ]
    );
    assert_eq!(
        lessons,
        [
            "0 | module-1 | 0 | lesson-1-1 | text",
            "0 | module-1 | 1 | lesson-1-2 | text",
            "1 | module-2 | 0 | lesson-2-1 | text",
            "0 | module-1755500000000-0 | 0 | lesson-1755500100000 | video | youtube",
            "0 | module-1755500000000-0 | 1 | lesson-1755500200000 | text",
        ]
    );
}

#[tokio::test]
async fn requests_and_progress_become_requests_and_enrollments() {
    let (_db, sql) = imported().await;

    let requests = texts(
        &sql,
        "select concat_ws(' | ', legacy_id, status, response_message, (responded_by is not null)::text, responded_at)
           from enrollment_request order by legacy_id collate \"C\"",
    )
    .await;
    let enrollments = texts(
        &sql,
        "select concat_ws(' | ', e.legacy_id, e.status, e.progress, r.legacy_id,
                          (select string_agg(l.legacy_id, ',' order by l.legacy_id)
                             from completed_lesson cl join lesson l on l.id = cl.lesson_id where cl.enrollment_id = e.id),
                          e.completed_at)
           from enrollment e left join enrollment_request r on r.id = e.enrollment_request_id
          order by e.legacy_id collate \"C\"",
    )
    .await;

    assert_eq!(
        requests,
        [
            "2A8Yb3FKaNQyyLaMeffO | pending | false",
            // `rejected` is `denied`; reviewedBy/reviewedAt are the response.
            "btMfEbo9ShFXNQ6Fq5ax | denied | true | 2025-08-21 16:45:00+00",
            "hq4AUvy7VSLDCD1IfHWG | approved | Welcome aboard! | true | 2025-08-19 10:40:00+00",
        ]
    );
    assert_eq!(
        enrollments,
        [
            // `active`, with its request.
            "152cTe8r0khCEr7n1AyO | active | 67 | hq4AUvy7VSLDCD1IfHWG | lesson-1-1,lesson-1-2",
            // `completed: true` without a status.
            "HFRuT11NCue1cr3McRTr | completed | 100 | lesson-1-1,lesson-1-2,lesson-2-1 | 2025-08-23 11:53:20+00",
            // `enrolled`, no progress: computed from 1 of the course's 2 lessons.
            "KwtPYKbPizDmbX1rpXjY | active | 50 | lesson-1755500100000",
        ]
    );
}

#[tokio::test]
async fn quizzes_keep_their_questions_in_order_and_attempts_their_grades() {
    let (_db, sql) = imported().await;

    let questions = texts(
        &sql,
        "select concat_ws(' | ', q.legacy_id, qq.position, qq.legacy_id, qq.question,
                          array_to_string(qq.options, ','), qq.correct_answer, qq.points, qq.difficulty,
                          m.legacy_id, (q.created_by is null)::text)
           from quiz_question qq join quiz q on q.id = qq.quiz_id left join course_module m on m.id = q.module_id
          order by q.legacy_id collate \"C\", qq.position",
    )
    .await;
    let attempts = texts(
        &sql,
        "select concat_ws(' | ', a.legacy_id, a.attempt_number, a.score, a.max_score, round(a.percentage::numeric, 2),
                          a.passed::text, (select string_agg(x.is_correct::text || ':' || x.points, ',' order by qq.position)
                                       from quiz_answer x join quiz_question qq on qq.id = x.question_id
                                      where x.attempt_id = a.id),
                          (a.completed_at is null)::text)
           from quiz_attempt a order by a.legacy_id collate \"C\"",
    )
    .await;

    assert_eq!(
        questions,
        [
            // The seed's questions: `text`, no difficulty, a creator that is not a user.
            "yJKP4GY08vDuPngU30ZP | 0 | q1 | What is a persona? | A research-based portrait of a user,A marketing slogan,A colour palette | 0 | 1 | medium | true",
            "yJKP4GY08vDuPngU30ZP | 1 | q2 | How many users should a first round of interviews include? | 1,5,500 | 1 | 1 | medium | true",
            "z2YS5ofA75UyiCDmO46a | 0 | question-1755090000000-1 | What does HTML stand for? | Hyper Text Markup Language,High Tech Modern Language,Home Tool Markup Language,Hyperlink and Text Markup Language | 0 | 2 | medium | module-1 | false",
            "z2YS5ofA75UyiCDmO46a | 1 | question-1755090000000-2 | Which element defines a paragraph? | <p>,<para>,<text> | 0 | 1 | medium | module-1 | false",
            "z2YS5ofA75UyiCDmO46a | 2 | question-1755090000000-3 | Which element inserts a line break? | <break>,<lb>,<br>,<linebreak> | 2 | 2 | easy | module-1 | false",
        ]
    );
    assert_eq!(
        attempts,
        [
            // Started, never submitted.
            "SfWoCHJs1UJOkHG16Jqt | 1 | 0 | 2 | 0.00 | false | true",
            // Score in points (the original counted correct answers); the grade shown is kept.
            "fcCvJAXrF6bnZ3eBZclI | 1 | 4 | 5 | 66.67 | false | true:2,false:0,true:2 | false",
            // An answer to a question no longer in the quiz is dropped.
            "vRY6iEjH5UH1RSC84FL8 | 2 | 5 | 5 | 100.00 | true | true:2,true:1,true:2 | false",
        ]
    );
}

#[tokio::test]
async fn notifications_keep_their_type_data_and_time() {
    let (_db, sql) = imported().await;

    let notifications = texts(
        &sql,
        "select concat_ws(' | ', legacy_id, type, read::text, link, data->>'requestId', created_at)
           from notification order by legacy_id collate \"C\"",
    )
    .await;

    assert_eq!(
        notifications,
        [
            // Epoch milliseconds, and `data` kept as it was.
            "6EHugmANb7qiSXbcmjoa | info | false | /formateur | 2A8Yb3FKaNQyyLaMeffO | 2025-08-22 10:53:21+00",
            "7IDA69Z7zrpEFivB5075 | info | true | /admin | 2025-08-13 09:00:05+00",
            "hGaMybIcH6zIZKhFfSke | success | false | /courses/1Ki3ylOjt6o0NpUmkVO8 | 2025-08-19 10:40:00+00",
        ]
    );
}

#[tokio::test]
async fn an_existing_account_with_the_same_email_is_linked_not_duplicated() {
    let app = TestApp::spawn().await;
    let target = Target {
        database_url: app.db.as_ref().expect("db").url(),
        redis_url: redis_url(),
        prefix: app.prefix(),
    };
    let hash = elearning_api::password::hash_blocking("a long passphrase").expect("hash");
    let native: Uuid = app
        .sql()
        .await
        .query_one(
            "insert into app_user (email, password_hash, first_name, last_name, role)
             values ('Sami.Trabelsi@Example.com', $1, 'Sami', 'Trabelsi', 'student') returning id",
            &[&hash],
        )
        .await
        .expect("native account")
        .get(0);

    let report = target.import_json(&[]).await;

    let users = counts(&report)[0].1;
    assert_eq!(
        users,
        [7, 4, 1, 0, 2],
        "Sami's account is updated, not inserted"
    );
    assert!(
        report["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w["id"] == SAMI
                && w["message"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("linked to the existing account")),
        "{}",
        report["warnings"]
    );
    let rows = app
        .sql()
        .await
        .query(
            "select id, firebase_uid, email, password_hash is not null from app_user where lower(email) = 'sami.trabelsi@example.com'",
            &[],
        )
        .await
        .expect("accounts");
    assert_eq!(rows.len(), 1, "one account per e-mail");
    assert_eq!(rows[0].get::<_, Uuid>(0), native);
    assert_eq!(rows[0].get::<_, Option<String>>(1).as_deref(), Some(SAMI));
    assert!(rows[0].get::<_, bool>(3), "the native password is kept");
    let enrolled: i64 = app
        .sql()
        .await
        .query_one(
            "select count(*) from enrollment where user_id = $1",
            &[&native],
        )
        .await
        .expect("enrollments")
        .get(0);
    assert_eq!(
        enrolled, 1,
        "Sami's progress document belongs to the linked account"
    );
    let (status, _) = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "sami.trabelsi@example.com", "password": "a long passphrase"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the linked account still signs in with its password"
    );
}

#[tokio::test]
async fn running_instances_serve_the_imported_courses_at_once() {
    let app = TestApp::spawn().await;
    let target = Target {
        database_url: app.db.as_ref().expect("db").url(),
        redis_url: redis_url(),
        prefix: app.prefix(),
    };
    let catalogue = || async {
        let (status, headers, body) = app.request(Method::GET, "/api/courses", None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            headers["x-cache"].to_str().unwrap_or_default().to_owned(),
            body,
        )
    };
    assert_eq!(catalogue().await.1["courses"], json!([]));
    assert_eq!(
        catalogue().await.0,
        "HIT-MEMORY",
        "the empty catalogue is cached"
    );

    let report = target.import_json(&[]).await;

    assert_eq!(report["cache"]["status"], "cleared", "{}", report["cache"]);
    let (cache, body) = catalogue().await;
    assert_eq!(cache, "MISS");
    let mut titles: Vec<&str> = body["courses"]
        .as_array()
        .expect("courses")
        .iter()
        .filter_map(|c| c["title"].as_str())
        .collect();
    titles.sort_unstable();
    assert_eq!(
        titles,
        ["Introduction to Web Development", "UX Design Foundations"]
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_and_the_import_still_completes() {
    let db = TestDb::create().await;
    let mut target = Target::of(&db);
    target.redis_url = format!("redis://127.0.0.1:{}", dead_port().await);

    let out = target.import(&fixture(), &[]).await;

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Caches: NOT cleared"), "{text}");
    assert!(text.contains("POST /api/performance/clear-cache"), "{text}");
    assert_eq!(target.snapshot().await[0].1, 5, "the users were imported");
}

#[tokio::test]
async fn an_unreadable_export_or_database_fails_with_one_line() {
    let db = TestDb::create().await;
    let target = Target::of(&db);
    let broken = std::env::temp_dir().join(format!("firestore-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&broken).expect("temp dir");
    std::fs::write(broken.join("users.json"), "[{\"id\": \"x\",").expect("write");
    let unreachable = Target {
        database_url: format!("postgres://root@127.0.0.1:{}/none", dead_port().await),
        ..Target::of(&db)
    };

    for (case, out, expected) in [
        (
            "missing export",
            target.import(Path::new("/nonexistent/export"), &[]).await,
            "error: cannot read the export /nonexistent/export",
        ),
        (
            "invalid JSON",
            target.import(&broken, &["--json"]).await,
            "users.json is not valid JSON",
        ),
        (
            "database unreachable",
            unreachable.import(&fixture(), &[]).await,
            "error: connecting to PostgreSQL",
        ),
    ] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{case}: succeeded");
        assert!(out.stdout.is_empty(), "{case}: printed a report");
        assert_eq!(stderr.lines().count(), 1, "{case}: {stderr}");
        assert!(stderr.contains(expected), "{case}: {stderr}");
    }
    std::fs::remove_dir_all(&broken).ok();
    assert_eq!(target.snapshot().await[0].1, 0);
}

/// A request as the original frontend sends it: a Firebase ID token in the `AuthToken` cookie.
async fn as_firebase_user(
    app: &TestApp,
    path: &str,
    uid: &str,
    email: &str,
) -> (StatusCode, Value) {
    use crate::helpers::firebase;
    let token = firebase::sign(&firebase::claims(uid, email, true), firebase::KID_A);
    let res = app
        .client
        .get(format!("{}{path}", app.addr))
        .header("cookie", format!("AuthToken={token}"))
        .send()
        .await
        .expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn imported_users_sign_in_with_firebase_and_firestore_ids_keep_working() {
    use crate::helpers::firebase::{KeyServer, PROJECT};
    let keys = KeyServer::start().await;
    let url = keys.url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.auth.firebase_project_id = Some(PROJECT.to_owned());
        c.auth.firebase_certs_url = url;
        // Nobody is created on the fly: every account here comes from the import.
        c.auth.firebase_auto_provision = false;
    })
    .await;
    app.wait_until(|h| h["systems"]["firebase"]["keys"] == 1)
        .await;
    let target = Target {
        database_url: app.db.as_ref().expect("db").url(),
        redis_url: redis_url(),
        prefix: app.prefix(),
    };
    target.import_json(&[]).await;

    // The student signs in with their Firebase uid; the account is the imported one.
    let (student, student_email) = ("L1mHoOsFaQfDPrAJ71fTquWoGsbe", "nour.mansour@example.com");
    let (status, me) = as_firebase_user(&app, "/api/auth/me", student, student_email).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["uid"], student);
    assert_eq!(me["user"]["role"], "student");
    // A course, and a quiz of it, by the Firestore ids the frontend holds.
    let (status, course) = as_firebase_user(
        &app,
        "/api/courses/1Ki3ylOjt6o0NpUmkVO8",
        student,
        student_email,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{course}");
    assert_eq!(course["title"], "Introduction to Web Development");
    assert_eq!(course["status"], "Published");
    assert!(Uuid::parse_str(course["id"].as_str().unwrap_or_default()).is_ok());
    assert_eq!(course["instructorId"], "SOcMz9CPVNPkNa1Hedcm4pMbXDuC");
    let (status, quiz) = as_firebase_user(
        &app,
        "/api/formateur/quizzes/z2YS5ofA75UyiCDmO46a",
        student,
        student_email,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{quiz}");
    assert!(quiz["questions"][0]["difficulty"].is_string(), "{quiz}");
    assert!(
        quiz["questions"][0].get("correctAnswer").is_none(),
        "answers stay hidden"
    );

    // The formateur's pages, by Firestore ids too.
    let (formateur, formateur_email) = (
        "SOcMz9CPVNPkNa1Hedcm4pMbXDuC",
        "youssef.bensalah@example.com",
    );
    let (status, list) = as_firebase_user(
        &app,
        "/api/formateur/quizzes?courseId=1Ki3ylOjt6o0NpUmkVO8",
        formateur,
        formateur_email,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let quizzes = list["quizzes"].as_array().expect("quizzes");
    assert!(!quizzes.is_empty());
    assert!(quizzes.iter().all(|q| q["questions"].is_array()));
    let (status, courses) =
        as_firebase_user(&app, "/api/formateur/courses", formateur, formateur_email).await;
    assert_eq!(status, StatusCode::OK, "{courses}");
    let statuses: std::collections::BTreeSet<&str> = courses["courses"]
        .as_array()
        .expect("courses")
        .iter()
        .filter_map(|c| c["status"].as_str())
        .collect();
    assert!(
        statuses.contains("Published") && statuses.contains("Draft"),
        "{statuses:?}"
    );
    // An unknown Firebase user is refused: provisioning is off.
    let (status, body) = as_firebase_user(
        &app,
        "/api/auth/me",
        "not-imported-uid-000000000000",
        "x@example.com",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}
