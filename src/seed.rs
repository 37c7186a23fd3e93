//! `elearning-api seed`: a realistic, reproducible demo dataset (same `--seed`, same data).
//!
//! Every seeded account's password is `password123`; three fixed accounts make exploring easy:
//! `admin@example.com`, `formateur@example.com`, `student@example.com`.

use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::Pool;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use uuid::Uuid;

use crate::api::courses::model::{CATEGORIES, LEVELS};

/// Size of the dataset.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedOptions {
    /// Number of users (about 5% formateurs, 2 admins, the rest students).
    #[arg(long, default_value_t = 3000)]
    pub users: usize,
    /// Number of courses.
    #[arg(long, default_value_t = 300)]
    pub courses: usize,
    /// Random seed: the same number gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The password of every seeded account.
pub const DEMO_PASSWORD: &str = "password123";

const WORDS: &[&str] = &[
    "Rust",
    "Web",
    "Design",
    "Guitar",
    "Piano",
    "Marketing",
    "Data",
    "Cloud",
    "Security",
    "Game",
    "Photography",
    "Finance",
    "Cooking",
    "Yoga",
    "Writing",
    "Python",
    "SQL",
    "Networks",
    "Leadership",
    "Drawing",
    "Mobile",
    "APIs",
    "Testing",
    "Music",
];
const SHAPES: &[&str] = &[
    "Introduction to",
    "Mastering",
    "Practical",
    "The Complete Guide to",
    "Advanced",
    "Hands-on",
    "Foundations of",
];
const FIRST: &[&str] = &[
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "John",
    "Radia", "Edsger", "Sophie", "Amine", "Yasmine", "Nour",
];
const LAST: &[&str] = &[
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie",
    "Allen", "Backus", "Perlman", "Dijkstra", "Martin", "Haddad", "Benali", "Khalil",
];

fn uuid(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.r#gen()).into_uuid()
}

fn ago(rng: &mut StdRng, now: DateTime<Utc>, max_days: i64) -> DateTime<Utc> {
    now - Duration::seconds(rng.gen_range(0..max_days * 86_400))
}

/// Fills an empty database; does nothing (and says so) when users already exist.
pub async fn run(pool: &Pool, opts: &SeedOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut client = pool.get().await.context("connecting to PostgreSQL")?;
    let existing: i64 = client
        .query_one("select count(*) from app_user", &[])
        .await?
        .get(0);
    if existing > 0 {
        tracing::info!(users = existing, "database already holds data; not seeding");
        return Ok(());
    }
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let now = Utc::now();
    let hash = crate::password::hash_blocking(DEMO_PASSWORD)?;
    let tx = client.transaction().await?;

    // Users.
    let n_users = opts.users.max(3);
    let n_formateurs = (n_users / 20).max(1);
    let mut ids = Vec::with_capacity(n_users);
    let (mut emails, mut firsts, mut lasts, mut roles, mut created) =
        (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..n_users {
        let (email, role) = match i {
            0 => ("admin@example.com".to_owned(), "admin"),
            1 => ("admin2@example.com".to_owned(), "admin"),
            2 => ("formateur@example.com".to_owned(), "formateur"),
            3 => ("student@example.com".to_owned(), "student"),
            i if i < 2 + n_formateurs => (format!("formateur{i}@example.com"), "formateur"),
            i => (format!("student{i}@example.com"), "student"),
        };
        ids.push(uuid(&mut rng));
        emails.push(email);
        firsts.push((*FIRST.choose(&mut rng).unwrap_or(&"Ada")).to_owned());
        lasts.push((*LAST.choose(&mut rng).unwrap_or(&"Lovelace")).to_owned());
        roles.push(role.to_owned());
        created.push(ago(&mut rng, now, 400));
    }
    tx.execute(
        "insert into app_user (id, email, password_hash, first_name, last_name, role, created_at, updated_at)
         select id, email, $1, f, l, r, c, c from unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[]) as x(id, email, f, l, r, c)",
        &[&hash, &ids, &emails, &firsts, &lasts, &roles, &created],
    )
    .await?;
    let formateurs: Vec<Uuid> = ids
        .iter()
        .zip(&roles)
        .filter(|(_, r)| *r == "formateur")
        .map(|(id, _)| *id)
        .collect();
    let students: Vec<Uuid> = ids
        .iter()
        .zip(&roles)
        .filter(|(_, r)| *r == "student")
        .map(|(id, _)| *id)
        .collect();

    // Courses, modules, lessons.
    let mut c = CourseCols::default();
    let mut m = (vec![], vec![], vec![], vec![]);
    let mut l = LessonCols::default();
    for i in 0..opts.courses {
        let id = uuid(&mut rng);
        let word = WORDS[i % WORDS.len()];
        let title = format!(
            "{} {word} #{}",
            SHAPES[(i / WORDS.len()) % SHAPES.len()],
            i + 1
        );
        let status = match rng.gen_range(0..100) {
            0..=79 => "published",
            80..=89 => "pending_approval",
            90..=94 => "rejected",
            _ => "draft",
        };
        c.ids.push(id);
        c.owners
            .push(formateurs[rng.gen_range(0..formateurs.len())]);
        c.descriptions.push(format!("Learn {word} step by step with practical exercises, real projects and quizzes. Course {}.", i + 1));
        c.titles.push(title);
        c.categories
            .push(CATEGORIES[rng.gen_range(0..CATEGORIES.len())].to_owned());
        c.levels
            .push(LEVELS[rng.gen_range(0..LEVELS.len())].to_owned());
        c.statuses.push(status.to_owned());
        c.approval.push(rng.gen_bool(0.6));
        c.created.push(ago(&mut rng, now, 365));
        for mi in 0..rng.gen_range(3..=6) {
            let mid = uuid(&mut rng);
            m.0.push(mid);
            m.1.push(id);
            m.2.push(mi);
            m.3.push(format!("Module {}: {word} part {}", mi + 1, mi + 1));
            for li in 0..rng.gen_range(3..=8) {
                l.ids.push(uuid(&mut rng));
                l.modules.push(mid);
                l.courses.push(id);
                l.positions.push(li);
                l.titles.push(format!("Lesson {}.{}", mi + 1, li + 1));
                l.types
                    .push(["video", "text", "document"][rng.gen_range(0..3)].to_owned());
                l.contents.push(format!(
                    "Content of lesson {}.{} about {word}.",
                    mi + 1,
                    li + 1
                ));
                l.durations.push(rng.gen_range(5..60));
            }
        }
    }
    tx.execute(
        "insert into course (id, instructor_id, title, description, category, level, status, requires_approval, created_at, updated_at, approved_at)
         select id, o, t, d, cat, lvl, s, a, c, c, case when s in ('published', 'rejected') then c + interval '1 day' end
         from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[], $9::timestamptz[])
              as x(id, o, t, d, cat, lvl, s, a, c)",
        &[&c.ids, &c.owners, &c.titles, &c.descriptions, &c.categories, &c.levels, &c.statuses, &c.approval, &c.created],
    )
    .await?;
    tx.execute(
        "insert into course_module (id, course_id, position, title) select * from unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[])",
        &[&m.0, &m.1, &m.2, &m.3],
    )
    .await?;
    tx.execute(
        "insert into lesson (id, module_id, course_id, position, title, content_type, content, duration_minutes)
         select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::text[], $7::text[], $8::int[])",
        &[&l.ids, &l.modules, &l.courses, &l.positions, &l.titles, &l.types, &l.contents, &l.durations],
    )
    .await?;
    let published: Vec<usize> = (0..c.ids.len())
        .filter(|&i| c.statuses[i] == "published")
        .collect();

    // Quizzes: one or two per published course.
    let (mut q_ids, mut q_courses, mut q_titles, mut q_created) = (vec![], vec![], vec![], vec![]);
    let (
        mut qq_ids,
        mut qq_quiz,
        mut qq_pos,
        mut qq_text,
        mut qq_opts,
        mut qq_answer,
        mut qq_points,
    ) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for &ci in &published {
        for k in 0..rng.gen_range(1..=2) {
            let qid = uuid(&mut rng);
            q_ids.push(qid);
            q_courses.push(c.ids[ci]);
            q_titles.push(
                format!("Quiz {} on {}", k + 1, c.titles[ci])
                    .chars()
                    .take(200)
                    .collect::<String>(),
            );
            q_created.push(c.created[ci] + Duration::days(2));
            for p in 0..rng.gen_range(5..=10) {
                qq_ids.push(uuid(&mut rng));
                qq_quiz.push(qid);
                qq_pos.push(p);
                qq_text.push(format!("Question {} of quiz {}?", p + 1, k + 1));
                qq_opts.push(serde_json::json!([
                    "Option A", "Option B", "Option C", "Option D"
                ]));
                qq_answer.push(rng.gen_range(0..4));
                qq_points.push(rng.gen_range(1..=5));
            }
        }
    }
    tx.execute(
        "insert into quiz (id, course_id, title, description, passing_score, max_attempts, time_limit_minutes, created_at, updated_at)
         select id, c, t, 'Check what you learnt in this part of the course.', 70, 3, 30, ts, ts
         from unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[]) as x(id, c, t, ts)",
        &[&q_ids, &q_courses, &q_titles, &q_created],
    )
    .await?;
    tx.execute(
        "insert into quiz_question (id, quiz_id, position, question, options, correct_answer, points)
         select id, q, p, t, array(select jsonb_array_elements_text(o)), a, pts
         from unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::jsonb[], $6::int[], $7::int[]) as x(id, q, p, t, o, a, pts)",
        &[&qq_ids, &qq_quiz, &qq_pos, &qq_text, &qq_opts, &qq_answer, &qq_points],
    )
    .await?;

    // Enrollments (with some completed lessons) and pending requests.
    let (mut e_ids, mut e_users, mut e_courses, mut e_started) = (vec![], vec![], vec![], vec![]);
    let (mut r_courses, mut r_students, mut r_created) = (vec![], vec![], vec![]);
    for &s in &students {
        let mut picks = published.clone();
        picks.shuffle(&mut rng);
        for &ci in picks.iter().take(rng.gen_range(0..=6)) {
            e_ids.push(uuid(&mut rng));
            e_users.push(s);
            e_courses.push(c.ids[ci]);
            e_started.push(ago(&mut rng, now, 180));
        }
        if let Some(&ci) = picks.get(7)
            && rng.gen_bool(0.3)
        {
            r_courses.push(c.ids[ci]);
            r_students.push(s);
            r_created.push(ago(&mut rng, now, 30));
        }
    }
    tx.execute(
        "insert into enrollment (id, user_id, course_id, started_at, updated_at)
         select id, u, c, s, s from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[]) as x(id, u, c, s)",
        &[&e_ids, &e_users, &e_courses, &e_started],
    )
    .await?;
    tx.execute(
        "insert into enrollment_request (course_id, student_id, created_at, updated_at)
         select c, s, t, t from unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) as x(c, s, t)",
        &[&r_courses, &r_students, &r_created],
    )
    .await?;
    // Each enrollment completes a random prefix of its course's lessons; progress follows.
    tx.execute(
        "insert into completed_lesson (enrollment_id, lesson_id, completed_at)
         select e.id, l.id, e.started_at + interval '1 hour' * l.rn
         from enrollment e
         cross join lateral (select id, row_number() over (order by id) as rn, count(*) over () as n from lesson where course_id = e.course_id) l
         where l.rn <= l.n * (abs(hashtext(e.id::text)) % 101) / 100",
        &[],
    )
    .await?;
    tx.execute(
        "update enrollment e set progress = least(100, round(100.0 * d.done / greatest(d.total, 1)))::int,
             status = case when d.done >= d.total then 'completed' else 'active' end,
             completed_at = case when d.done >= d.total then e.started_at + interval '30 days' end
         from (select e.id, (select count(*) from completed_lesson cl where cl.enrollment_id = e.id) as done,
                      (select count(*) from lesson l where l.course_id = e.course_id) as total from enrollment e) d
         where d.id = e.id",
        &[],
    )
    .await?;
    // Attempts: about half the enrollments tried the course's first quiz once, graded.
    tx.execute(
        "with picked as (
            select e.user_id, q.id as quiz_id, e.started_at + interval '3 days' as at, gen_random_uuid() as attempt_id
            from enrollment e join lateral (select id from quiz where course_id = e.course_id order by created_at limit 1) q on true
            where abs(hashtext(e.id::text)) % 2 = 0
         ), attempts as (
            insert into quiz_attempt (id, quiz_id, user_id, attempt_number, started_at, completed_at, time_spent_seconds)
            select attempt_id, quiz_id, user_id, 1, at, at + interval '10 minutes', 600 from picked returning id, quiz_id
         )
         insert into quiz_answer (attempt_id, question_id, selected_answer, is_correct, points, time_spent_seconds)
         select a.id, qq.id, s.sel, s.sel = qq.correct_answer, case when s.sel = qq.correct_answer then qq.points else 0 end, 30
         from attempts a join quiz_question qq on qq.quiz_id = a.quiz_id
         cross join lateral (select case when abs(hashtext(a.id::text || qq.id::text)) % 10 < 7 then qq.correct_answer
                                         else (qq.correct_answer + 1) % cardinality(qq.options) end as sel) s",
        &[],
    )
    .await?;
    tx.execute(
        "update quiz_attempt a set score = t.score, max_score = t.max_score,
             percentage = case when t.max_score = 0 then 0 else round(100.0 * t.score / t.max_score, 2) end,
             passed = t.max_score > 0 and 100.0 * t.score / t.max_score >= 70
         from (select a.id, coalesce(sum(ans.points), 0)::int as score,
                      (select coalesce(sum(points), 0)::int from quiz_question where quiz_id = a.quiz_id) as max_score
               from quiz_attempt a left join quiz_answer ans on ans.attempt_id = a.id group by a.id) t
         where t.id = a.id",
        &[],
    )
    .await?;
    // Notifications: a welcome for everyone, an enrollment note per enrollment.
    tx.execute(
        "insert into notification (user_id, title, message, type, read, created_at)
         select id, 'Welcome!', 'Your account is ready. Explore the catalogue to get started.', 'success', true, created_at from app_user",
        &[],
    )
    .await?;
    tx.execute(
        "insert into notification (user_id, title, message, type, read, created_at, link)
         select e.user_id, 'Enrolled', 'You joined \"' || c.title || '\".', 'info', abs(hashtext(e.id::text)) % 3 > 0, e.started_at, '/courses/' || c.id
         from enrollment e join course c on c.id = e.course_id",
        &[],
    )
    .await?;
    tx.commit().await?;
    // Fresh statistics and visibility maps: the planner picks the right plans and counts can be
    // answered from indexes alone.
    client
        .batch_execute("vacuum analyze")
        .await
        .context("vacuum analyze after seeding")?;
    tracing::info!(
        users = n_users,
        courses = opts.courses,
        lessons = l.ids.len(),
        quizzes = q_ids.len(),
        enrollments = e_ids.len(),
        seconds = started.elapsed().as_secs_f64(),
        "seeded the database (password of every account: {DEMO_PASSWORD})"
    );
    Ok(())
}

#[derive(Default)]
struct CourseCols {
    ids: Vec<Uuid>,
    owners: Vec<Uuid>,
    titles: Vec<String>,
    descriptions: Vec<String>,
    categories: Vec<String>,
    levels: Vec<String>,
    statuses: Vec<String>,
    approval: Vec<bool>,
    created: Vec<DateTime<Utc>>,
}

#[derive(Default)]
struct LessonCols {
    ids: Vec<Uuid>,
    modules: Vec<Uuid>,
    courses: Vec<Uuid>,
    positions: Vec<i32>,
    titles: Vec<String>,
    types: Vec<String>,
    contents: Vec<String>,
    durations: Vec<i32>,
}
