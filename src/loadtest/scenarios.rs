//! The simulated frontend: who calls what, in which proportions, with which pauses.
//!
//! Five kinds of caller, each a goose scenario: anonymous visitors browsing the catalogue and
//! course pages; students opening their dashboard, reading lessons, recording progress, taking
//! quizzes and asking to join courses; formateurs editing their courses (which invalidates
//! cached pages under load) and answering requests; admins approving; and a health checker.
//! Every simulated user has its own account (where the dataset has enough), its own client
//! address (`X-Forwarded-For`, honoured when the target trusts the load generator as a proxy)
//! and its own HTTP client, as a browser would.

use std::{
    collections::HashMap,
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use goose::prelude::*;
use rand::{Rng, seq::SliceRandom};
use serde_json::{Value, json};
use uuid::Uuid;

use super::recorder::{self, CacheVerdict, Outcome};
use crate::{
    api::courses::model::{CATEGORIES, LEVELS},
    auth::JwtKeys,
};

/// A seeded account.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub role: String,
}

/// What every simulated user may read: the dataset, found once before the load starts.
pub struct Shared {
    /// Published course ids (the catalogue).
    pub published: Vec<Uuid>,
    /// Quiz ids per course.
    pub quizzes: HashMap<Uuid, Vec<Uuid>>,
    pub students: Vec<Account>,
    pub formateurs: Vec<Account>,
    pub admins: Vec<Account>,
    /// The target's signing keys, when known: returning users then carry a session token
    /// instead of signing in again.
    pub keys: Option<JwtKeys>,
    /// The seeded accounts' password.
    pub password: String,
    /// Share of signed-in users who sign in for real when they arrive (0–1); the others come
    /// back with a valid session. Without `keys`, everyone signs in.
    pub login_share: f64,
}

static SHARED: OnceLock<Shared> = OnceLock::new();
static NEXT_USER: AtomicUsize = AtomicUsize::new(0);

/// Makes the dataset available to the scenarios (once per process).
pub fn install(shared: Shared) -> anyhow::Result<()> {
    SHARED
        .set(shared)
        .map_err(|_| anyhow::anyhow!("the dataset is already installed"))
}

/// How many simulated users have started so far (over every phase of this process).
pub fn started() -> usize {
    NEXT_USER.load(Ordering::Relaxed)
}

/// The installed dataset.
pub fn shared() -> Option<&'static Shared> {
    SHARED.get()
}

/// The traffic mix: relative numbers of simulated users per kind.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Mix {
    pub visitor: usize,
    pub student: usize,
    pub formateur: usize,
    pub admin: usize,
    pub health: usize,
}

impl Default for Mix {
    /// A plausible day: mostly anonymous and student reads.
    fn default() -> Self {
        Self {
            visitor: 55,
            student: 38,
            formateur: 4,
            admin: 1,
            health: 2,
        }
    }
}

impl std::str::FromStr for Mix {
    type Err = String;

    /// `visitor=55,student=38,formateur=4,admin=1,health=2` (kinds not named keep their default).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut mix = Self::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kind, n) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected kind=number"))?;
            let n: usize = n
                .trim()
                .parse()
                .map_err(|_| format!("`{part}`: the weight must be a whole number"))?;
            match kind.trim() {
                "visitor" => mix.visitor = n,
                "student" => mix.student = n,
                "formateur" => mix.formateur = n,
                "admin" => mix.admin = n,
                "health" => mix.health = n,
                other => {
                    return Err(format!(
                        "unknown kind `{other}` (visitor, student, formateur, admin, health)"
                    ));
                }
            }
        }
        if mix.visitor + mix.student + mix.formateur + mix.admin + mix.health == 0 {
            return Err("at least one kind needs a weight above 0".into());
        }
        Ok(mix)
    }
}

/// Pauses between a user's actions, scaled from the defaults (1 = human pace).
#[derive(Debug, Clone, Copy)]
pub struct Think(pub f64);

impl Think {
    fn between(self, min_ms: u64, max_ms: u64) -> (Duration, Duration) {
        let scale = |ms: u64| Duration::from_micros((ms as f64 * 1000.0 * self.0.max(0.0)) as u64);
        (scale(min_ms), scale(max_ms))
    }
}

/// The scenarios for a mix; kinds with weight 0 are left out.
pub fn scenarios(mix: Mix, think: Think) -> Result<Vec<Scenario>, GooseError> {
    let mut out = Vec::new();
    let (lo, hi) = think.between(1000, 4000);
    if mix.visitor > 0 {
        out.push(
            scenario!("visitor")
                .set_weight(mix.visitor)?
                .set_wait_time(lo, hi)?
                .register_transaction(transaction!(visitor_start).set_on_start())
                .register_transaction(transaction!(catalogue).set_weight(5)?)
                .register_transaction(transaction!(course_page).set_weight(5)?),
        );
    }
    if mix.student > 0 {
        out.push(
            scenario!("student")
                .set_weight(mix.student)?
                .set_wait_time(lo, hi)?
                .register_transaction(transaction!(student_start).set_on_start())
                .register_transaction(transaction!(student_dashboard).set_weight(3)?)
                .register_transaction(transaction!(my_courses).set_weight(2)?)
                .register_transaction(transaction!(read_lesson).set_weight(6)?)
                .register_transaction(transaction!(record_progress).set_weight(3)?)
                .register_transaction(transaction!(take_quiz).set_weight(1)?)
                .register_transaction(transaction!(notifications).set_weight(1)?)
                .register_transaction(transaction!(catalogue).set_weight(2)?)
                .register_transaction(transaction!(join_course).set_weight(1)?),
        );
    }
    let (lo, hi) = think.between(2000, 6000);
    if mix.formateur > 0 {
        out.push(
            scenario!("formateur")
                .set_weight(mix.formateur)?
                .set_wait_time(lo, hi)?
                .register_transaction(transaction!(formateur_start).set_on_start())
                .register_transaction(transaction!(formateur_dashboard).set_weight(3)?)
                .register_transaction(transaction!(formateur_courses).set_weight(3)?)
                .register_transaction(transaction!(edit_course).set_weight(2)?)
                .register_transaction(transaction!(formateur_requests).set_weight(1)?)
                .register_transaction(transaction!(quiz_stats).set_weight(1)?),
        );
    }
    if mix.admin > 0 {
        out.push(
            scenario!("admin")
                .set_weight(mix.admin)?
                .set_wait_time(lo, hi)?
                .register_transaction(transaction!(admin_start).set_on_start())
                .register_transaction(transaction!(admin_dashboard).set_weight(2)?)
                .register_transaction(transaction!(admin_courses).set_weight(1)?)
                .register_transaction(transaction!(approve_enrollment).set_weight(2)?)
                .register_transaction(transaction!(review_course).set_weight(1)?)
                .register_transaction(transaction!(admin_users).set_weight(1)?),
        );
    }
    if mix.health > 0 {
        let (lo, hi) = think.between(5000, 5000);
        out.push(
            scenario!("health")
                .set_weight(mix.health)?
                .set_wait_time(lo, hi)?
                .register_transaction(transaction!(visitor_start).set_on_start())
                .register_transaction(transaction!(health)),
        );
    }
    Ok(out)
}

/// One simulated user's state.
#[derive(Debug, Default, Clone)]
struct Session {
    ip: String,
    /// The signed-in user's role and account (an index into the role's accounts).
    account: Option<(&'static str, usize)>,
    token: Option<String>,
    /// Courses the student is enrolled in.
    enrolled: Vec<Uuid>,
    /// Lesson ids per course, learnt from course pages.
    lessons: HashMap<Uuid, Vec<Uuid>>,
    /// The formateur's own courses.
    own: Vec<Uuid>,
}

/// A distinct client address per simulated user, in 10.0.0.0/8.
fn address(n: usize) -> String {
    format!(
        "10.{}.{}.{}",
        (n >> 16) & 255,
        (n >> 8) & 255,
        (n & 255).max(1)
    )
}

fn pick<T: Copy>(items: &[T]) -> Option<T> {
    items.choose(&mut rand::thread_rng()).copied()
}

fn session(user: &GooseUser) -> Option<&Session> {
    user.get_session_data::<Session>()
}

fn session_mut(user: &mut GooseUser) -> Option<&mut Session> {
    user.get_session_data_mut::<Session>()
}

/// Sends one request as the user and records what came back. Returns the JSON body of a 2xx
/// answer (`Value::Null` for other answers or bodies that are not JSON). A signed-in user
/// whose sign-in failed (say, during an overload) signs in again first, as a browser sent back
/// to the login page would; while that fails, the request is not made.
async fn call(
    user: &mut GooseUser,
    method: GooseMethod,
    endpoint: &'static str,
    path: &str,
    body: Option<&Value>,
    also_expected: &[u16],
) -> Result<Value, Box<TransactionError>> {
    let needs_token = session(user).is_some_and(|s| s.account.is_some() && s.token.is_none());
    if needs_token && !acquire_token(user).await? {
        return Ok(Value::Null);
    }
    send(user, method, endpoint, path, body, also_expected).await
}

async fn send(
    user: &mut GooseUser,
    method: GooseMethod,
    endpoint: &'static str,
    path: &str,
    body: Option<&Value>,
    also_expected: &[u16],
) -> Result<Value, Box<TransactionError>> {
    let (ip, token) = session(user)
        .map(|s| (s.ip.clone(), s.token.clone()))
        .unwrap_or_else(|| (address(0), None));
    let mut builder = user
        .get_request_builder(&method, path)?
        .header("x-forwarded-for", ip)
        .header("accept", "application/json");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        builder = builder.json(body);
    }
    let request = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(endpoint)
        .set_request_builder(builder)
        .build();
    let started = Instant::now();
    let mut answer = user.request(request).await?;
    let (status, cache, bytes) = match answer.response {
        Ok(response) => {
            let status = response.status().as_u16();
            let cache = response
                .headers()
                .get("x-cache")
                .and_then(|v| v.to_str().ok())
                .and_then(CacheVerdict::parse);
            match response.bytes().await {
                Ok(bytes) => (Some(status), cache, Some(bytes)),
                Err(_) => (None, cache, None),
            }
        }
        Err(_) => (None, None, None),
    };
    let elapsed = started.elapsed();
    let success = status.is_some_and(|s| (200..300).contains(&s));
    let expected = success || status.is_some_and(|s| also_expected.contains(&s));
    if expected && !success {
        // An answer the scenario expects (e.g. 409 for one attempt too many) is not a failure.
        user.set_success(&mut answer.request)?;
    }
    recorder::record(
        endpoint,
        &Outcome {
            status,
            elapsed,
            expected,
            cache,
        },
    );
    Ok(match bytes {
        Some(b) if success => serde_json::from_slice(&b).unwrap_or(Value::Null),
        _ => Value::Null,
    })
}

async fn get(
    user: &mut GooseUser,
    endpoint: &'static str,
    path: &str,
) -> Result<Value, Box<TransactionError>> {
    call(user, GooseMethod::Get, endpoint, path, None, &[]).await
}

/// The ids of the items of `list[field]`.
fn ids(list: &Value, field: &str) -> Vec<Uuid> {
    ids_where(list, field, |_| true)
}

/// The ids of the items of `list[field]` that `keep` accepts.
fn ids_where(list: &Value, field: &str, keep: impl Fn(&Value) -> bool) -> Vec<Uuid> {
    list[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| keep(item))
        .filter_map(|item| item["id"].as_str()?.parse().ok())
        .collect()
}

/// Arrives: a fresh address, no account.
async fn visitor_start(user: &mut GooseUser) -> TransactionResult {
    let n = NEXT_USER.fetch_add(1, Ordering::Relaxed);
    user.set_session_data(Session {
        ip: address(n),
        ..Session::default()
    });
    Ok(())
}

/// Arrives with an account of `role`: a session token (a returning user) or a real sign-in.
async fn sign_in(user: &mut GooseUser, role: &'static str) -> TransactionResult {
    let n = NEXT_USER.fetch_add(1, Ordering::Relaxed);
    user.set_session_data(Session {
        ip: address(n),
        account: Some((role, n)),
        ..Session::default()
    });
    acquire_token(user).await?;
    Ok(())
}

/// Gets the user a session token; returns whether they have one.
async fn acquire_token(user: &mut GooseUser) -> Result<bool, Box<TransactionError>> {
    let (Some(shared), Some((role, n))) = (shared(), session(user).and_then(|s| s.account)) else {
        return Ok(false);
    };
    let pool = match role {
        "student" => &shared.students,
        "formateur" => &shared.formateurs,
        _ => &shared.admins,
    };
    if pool.is_empty() {
        return Ok(false);
    }
    let account = &pool[n % pool.len()];
    let real_login =
        shared.keys.is_none() || rand::thread_rng().gen_bool(shared.login_share.clamp(0.0, 1.0));
    let token = match (&shared.keys, real_login) {
        (Some(keys), false) => keys.issue(account.id, &account.role).ok(),
        _ => {
            let body = json!({ "email": account.email, "password": shared.password });
            let v = send(
                user,
                GooseMethod::Post,
                "POST /api/auth/login",
                "/api/auth/login",
                Some(&body),
                &[],
            )
            .await?;
            v["token"].as_str().map(str::to_owned)
        }
    };
    let ok = token.is_some();
    if let Some(s) = session_mut(user) {
        s.token = token;
    }
    Ok(ok)
}

async fn catalogue(user: &mut GooseUser) -> TransactionResult {
    let path = {
        let mut rng = rand::thread_rng();
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        match rng.gen_range(0..10) {
            0..=5 => "/api/courses".to_owned(),
            6 | 7 => format!(
                "/api/courses?category={}",
                enc(CATEGORIES.choose(&mut rng).unwrap_or(&"Development"))
            ),
            8 => format!(
                "/api/courses?level={}",
                enc(LEVELS.choose(&mut rng).unwrap_or(&"beginner"))
            ),
            _ => format!(
                "/api/courses?q={}",
                ["rust", "design", "data", "guitar", "cloud"]
                    .choose(&mut rng)
                    .unwrap_or(&"rust")
            ),
        }
    };
    get(user, "GET /api/courses", &path).await?;
    Ok(())
}

async fn course_page(user: &mut GooseUser) -> TransactionResult {
    let Some(id) = shared().and_then(|s| pick(&s.published)) else {
        return Ok(());
    };
    get(user, "GET /api/courses/{id}", &format!("/api/courses/{id}")).await?;
    Ok(())
}

async fn health(user: &mut GooseUser) -> TransactionResult {
    get(
        user,
        "GET /api/performance/health",
        "/api/performance/health",
    )
    .await?;
    Ok(())
}

async fn student_start(user: &mut GooseUser) -> TransactionResult {
    sign_in(user, "student").await?;
    my_courses(user).await
}

/// The student's course list, remembering which courses they are enrolled in.
async fn my_courses(user: &mut GooseUser) -> TransactionResult {
    let list = get(
        user,
        "GET /api/dashboard/courses",
        "/api/dashboard/courses?limit=100",
    )
    .await?;
    let enrolled = ids_where(&list, "courses", |c| {
        c["isEnrolled"].as_bool() == Some(true)
    });
    if !list.is_null()
        && let Some(s) = session_mut(user)
    {
        s.enrolled = enrolled;
    }
    Ok(())
}

async fn student_dashboard(user: &mut GooseUser) -> TransactionResult {
    get(user, "GET /api/dashboard/student", "/api/dashboard/student").await?;
    get(
        user,
        "GET /api/notifications",
        "/api/notifications?action=unread-count",
    )
    .await?;
    Ok(())
}

async fn notifications(user: &mut GooseUser) -> TransactionResult {
    get(
        user,
        "GET /api/notifications",
        "/api/notifications?action=list",
    )
    .await?;
    Ok(())
}

/// Opens one of the student's courses (lesson content included) and remembers its lessons.
async fn read_lesson(user: &mut GooseUser) -> TransactionResult {
    let Some(course) = session(user).and_then(|s| pick(&s.enrolled)) else {
        return course_page(user).await;
    };
    let page = get(
        user,
        "GET /api/courses/{id}",
        &format!("/api/courses/{course}"),
    )
    .await?;
    let lessons: Vec<Uuid> = page["modules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["lessons"].as_array().into_iter().flatten())
        .filter_map(|l| l["id"].as_str()?.parse().ok())
        .collect();
    if !lessons.is_empty()
        && let Some(s) = session_mut(user)
    {
        s.lessons.insert(course, lessons);
    }
    Ok(())
}

async fn record_progress(user: &mut GooseUser) -> TransactionResult {
    let known = session(user).and_then(|s| {
        let courses: Vec<Uuid> = s.lessons.keys().copied().collect();
        let course = pick(&courses)?;
        Some((course, pick(s.lessons.get(&course)?)?))
    });
    let Some((course, lesson)) = known else {
        return read_lesson(user).await;
    };
    let body = json!({ "courseId": course, "lessonId": lesson });
    call(
        user,
        GooseMethod::Post,
        "POST /api/progress",
        "/api/progress",
        Some(&body),
        &[],
    )
    .await?;
    Ok(())
}

/// Opens a quiz of an enrolled course, starts an attempt (409 once the attempts are used up)
/// and submits answers.
async fn take_quiz(user: &mut GooseUser) -> TransactionResult {
    let quiz = shared().and_then(|sh| {
        let s = session(user)?;
        let with_quiz: Vec<Uuid> = s
            .enrolled
            .iter()
            .filter(|c| sh.quizzes.contains_key(c))
            .copied()
            .collect();
        pick(sh.quizzes.get(&pick(&with_quiz)?)?)
    });
    let Some(quiz) = quiz else {
        return notifications(user).await;
    };
    let q = get(
        user,
        "GET /api/formateur/quizzes/{id}",
        &format!("/api/formateur/quizzes/{quiz}"),
    )
    .await?;
    if q.is_null() {
        return Ok(());
    }
    let attempt = call(
        user,
        GooseMethod::Post,
        "POST /api/formateur/quizzes/{id}/attempts",
        &format!("/api/formateur/quizzes/{quiz}/attempts"),
        None,
        &[409],
    )
    .await?;
    let Some(attempt_id) = attempt["id"].as_str().or(attempt["attemptId"].as_str()) else {
        return Ok(());
    };
    let answers: Vec<Value> = {
        let mut rng = rand::thread_rng();
        q["questions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|question| {
                let options = question["options"].as_array().map_or(1, Vec::len).max(1);
                json!({
                    "questionId": question["id"],
                    "selectedAnswer": rng.gen_range(0..options),
                    "timeSpent": rng.gen_range(5..60),
                })
            })
            .collect()
    };
    let body =
        json!({ "answers": answers, "totalTimeSpent": rand::thread_rng().gen_range(60..600) });
    call(
        user,
        GooseMethod::Post,
        "POST /api/formateur/quizzes/{id}/attempts/{attemptId}/submit",
        &format!("/api/formateur/quizzes/{quiz}/attempts/{attempt_id}/submit"),
        Some(&body),
        &[],
    )
    .await?;
    Ok(())
}

/// Asks to join a course the student is not in (409 when already enrolled or pending).
async fn join_course(user: &mut GooseUser) -> TransactionResult {
    let course = shared().and_then(|sh| {
        let s = session(user)?;
        let others: Vec<Uuid> = sh
            .published
            .iter()
            .filter(|c| !s.enrolled.contains(c))
            .copied()
            .collect();
        pick(&others)
    });
    let Some(course) = course else {
        return Ok(());
    };
    let body = json!({ "courseId": course, "message": "Load test: I would like to join." });
    let v = call(
        user,
        GooseMethod::Post,
        "POST /api/enrollment",
        "/api/enrollment",
        Some(&body),
        &[409],
    )
    .await?;
    if v["status"].as_str() == Some("active")
        && let Some(s) = session_mut(user)
    {
        s.enrolled.push(course);
    }
    Ok(())
}

async fn formateur_start(user: &mut GooseUser) -> TransactionResult {
    sign_in(user, "formateur").await?;
    formateur_courses(user).await
}

async fn formateur_courses(user: &mut GooseUser) -> TransactionResult {
    let list = get(
        user,
        "GET /api/formateur/courses",
        "/api/formateur/courses?limit=100",
    )
    .await?;
    let own = ids(&list, "courses");
    if !list.is_null()
        && let Some(s) = session_mut(user)
    {
        s.own = own;
    }
    Ok(())
}

async fn formateur_dashboard(user: &mut GooseUser) -> TransactionResult {
    get(
        user,
        "GET /api/dashboard/formateur",
        "/api/dashboard/formateur",
    )
    .await?;
    Ok(())
}

/// Opens one of the formateur's courses and saves it with a new description: the write path,
/// and a cache invalidation of that course's pages on every instance.
async fn edit_course(user: &mut GooseUser) -> TransactionResult {
    let Some(id) = session(user).and_then(|s| pick(&s.own)) else {
        return formateur_dashboard(user).await;
    };
    let course = get(user, "GET /api/courses/{id}", &format!("/api/courses/{id}")).await?;
    if course.is_null() {
        return Ok(());
    }
    let body = edited(&course, rand::thread_rng().gen_range(0..1000));
    call(
        user,
        GooseMethod::Put,
        "PUT /api/courses/{id}",
        &format!("/api/courses/{id}"),
        Some(&body),
        &[],
    )
    .await?;
    Ok(())
}

/// The body of an edit: the course as it is, with a revision mark in the description.
fn edited(course: &Value, revision: u32) -> Value {
    let description = course["description"].as_str().unwrap_or_default();
    let base = description.split(" [rev ").next().unwrap_or(description);
    let modules: Vec<Value> = course["modules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let lessons: Vec<Value> = m["lessons"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| {
                    json!({
                        "id": l["id"], "title": l["title"], "description": l["description"],
                        "contentType": l["contentType"], "videoSource": l["videoSource"],
                        "content": l["content"], "url": l["url"], "duration": l["duration"],
                    })
                })
                .collect();
            json!({ "id": m["id"], "title": m["title"], "lessons": lessons })
        })
        .collect();
    json!({
        "title": course["title"],
        "description": format!("{base} [rev {revision}]"),
        "category": course["category"],
        "level": course["level"],
        "requiresApproval": course["requiresApproval"],
        "imageUrl": course["imageUrl"],
        "duration": course["duration"],
        "price": course["price"],
        "modules": modules,
    })
}

async fn formateur_requests(user: &mut GooseUser) -> TransactionResult {
    get(
        user,
        "GET /api/formateur/enrollment-requests",
        "/api/formateur/enrollment-requests?status=pending",
    )
    .await?;
    Ok(())
}

async fn quiz_stats(user: &mut GooseUser) -> TransactionResult {
    let quiz_ids: Vec<Uuid> = shared()
        .zip(session(user))
        .map(|(sh, s)| {
            s.own
                .iter()
                .filter_map(|c| sh.quizzes.get(c))
                .flatten()
                .copied()
                .take(30)
                .collect()
        })
        .unwrap_or_default();
    if quiz_ids.is_empty() {
        return formateur_dashboard(user).await;
    }
    let body = json!({ "quizIds": quiz_ids });
    call(
        user,
        GooseMethod::Post,
        "POST /api/formateur/quizzes/stats-batch",
        "/api/formateur/quizzes/stats-batch",
        Some(&body),
        &[],
    )
    .await?;
    Ok(())
}

async fn admin_start(user: &mut GooseUser) -> TransactionResult {
    sign_in(user, "admin").await
}

async fn admin_dashboard(user: &mut GooseUser) -> TransactionResult {
    get(user, "GET /api/dashboard/admin", "/api/dashboard/admin").await?;
    Ok(())
}

async fn admin_courses(user: &mut GooseUser) -> TransactionResult {
    get(user, "GET /api/admin/courses", "/api/admin/courses").await?;
    Ok(())
}

async fn admin_users(user: &mut GooseUser) -> TransactionResult {
    get(user, "GET /api/admin/users", "/api/admin/users").await?;
    Ok(())
}

/// Approves a pending enrollment request (409 or 404 when another admin was quicker).
async fn approve_enrollment(user: &mut GooseUser) -> TransactionResult {
    let list = get(
        user,
        "GET /api/admin/enrollment-requests",
        "/api/admin/enrollment-requests?status=pending",
    )
    .await?;
    let Some(request) = pick(&ids(&list, "requests")) else {
        return Ok(());
    };
    let body = json!({ "requestId": request, "status": "approved", "responseMessage": "Welcome!" });
    call(
        user,
        GooseMethod::Post,
        "POST /api/admin/enrollment-requests",
        "/api/admin/enrollment-requests",
        Some(&body),
        &[404, 409],
    )
    .await?;
    Ok(())
}

/// Approves a course waiting for review (409 when another admin was quicker).
async fn review_course(user: &mut GooseUser) -> TransactionResult {
    let list = get(
        user,
        "GET /api/admin/courses",
        "/api/admin/courses?status=pending_approval",
    )
    .await?;
    let Some(course) = pick(&ids(&list, "courses")) else {
        return Ok(());
    };
    let body = json!({ "courseId": course, "action": "approve" });
    call(
        user,
        GooseMethod::Post,
        "POST /api/admin/course-approval",
        "/api/admin/course-approval",
        Some(&body),
        &[409],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_and_rejects() {
        let m: Mix = "visitor=10, student=5,health=0".parse().expect("valid mix");
        assert_eq!((m.visitor, m.student, m.health), (10, 5, 0));
        assert_eq!(m.formateur, Mix::default().formateur);
        assert!(
            "pirate=3"
                .parse::<Mix>()
                .unwrap_err()
                .contains("unknown kind")
        );
        assert!("visitor=x".parse::<Mix>().is_err());
        assert!(
            "visitor=0,student=0,formateur=0,admin=0,health=0"
                .parse::<Mix>()
                .is_err()
        );
    }

    #[test]
    fn an_edit_keeps_the_course_and_replaces_the_revision_mark() {
        let course = json!({
            "title": "Rust for the web", "description": "A long enough description [rev 3]",
            "category": "Development", "level": "beginner", "requiresApproval": true,
            "modules": [{ "id": "m1", "title": "One", "lessons": [{ "id": "l1", "title": "Hello", "contentType": "text", "content": "Hi" }] }],
        });
        let body = edited(&course, 7);
        assert_eq!(body["description"], "A long enough description [rev 7]");
        assert_eq!(body["modules"][0]["lessons"][0]["id"], "l1");
        assert_eq!(body["title"], "Rust for the web");
    }

    #[test]
    fn addresses_are_distinct() {
        let a: std::collections::HashSet<String> = (0..70_000).map(address).collect();
        assert!(a.len() > 69_000);
    }
}
