//! `loadtest`: loads the service with traffic that looks like the frontend's, finds where it
//! breaks, and grades it against the targets (built with `--features loadtest`; see
//! `scripts/loadtest.sh`).
//!
//! - `--smoke` (about 30 s): a few users of every kind; fails on any unexpected answer. CI runs it.
//! - `--quick` (about 2 minutes): a fixed load; per-endpoint latency, errors, cache hit rate,
//!   the server's pool, memory and CPU; the verdict.
//! - `--full` (10 to 15 minutes): the quick phase, then a ramp that adds users until p99 crosses
//!   its target or errors appear (the breaking point), then 10,000 simultaneous connections,
//!   then a soak that watches memory for drift.
//!
//! Goose ([`goose`]) runs the simulated users; [`recorder`] keeps what they saw in microseconds;
//! [`verdict`] grades it. The target is a server this tool starts on a fresh seeded database, or
//! any URL.

pub mod recorder;
pub mod scenarios;
pub mod target;
pub mod verdict;

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use goose::{GooseAttack, config::GooseConfiguration};
use serde::Serialize;
use serde_json::Value;

use self::{
    recorder::EndpointSummary,
    scenarios::{Mix, Think},
    target::{Setup, Spawn, Target},
    verdict::{Row, band_at_least, band_below},
};

/// The command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "loadtest",
    about = "Load-tests elearning-api with frontend-like traffic and grades the result",
    after_help = "Without --url, starts the elearning-api binary next to this one on a fresh, seeded database."
)]
pub struct Args {
    /// A short check: a few users of every kind for 20 s; exits non-zero on any unexpected answer.
    #[arg(long, conflicts_with_all = ["quick", "full"])]
    pub smoke: bool,
    /// Fixed load for about two minutes (the default).
    #[arg(long, conflicts_with = "full")]
    pub quick: bool,
    /// Quick, then ramp to the breaking point, hold 10,000 connections, and soak (10-15 min).
    #[arg(long)]
    pub full: bool,
    /// Load this server instead of starting one (e.g. https://api.example.com).
    #[arg(long, env = "LOADTEST_URL")]
    pub url: Option<String>,
    /// The target's `OPS_TOKEN`, to read its pool, memory and cache figures.
    #[arg(long, env = "LOADTEST_OPS_TOKEN", hide_env_values = true)]
    pub ops_token: Option<String>,
    /// The target's `JWT_SECRET`: returning users then carry a session instead of signing in.
    #[arg(long, env = "LOADTEST_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// An admin account of the target, to read the dataset.
    #[arg(long, default_value = "admin@example.com")]
    pub admin_email: String,
    /// The password of the seeded accounts.
    #[arg(long, env = "LOADTEST_PASSWORD", default_value = crate::seed::DEMO_PASSWORD, hide_default_value = true)]
    pub password: String,
    /// Our own server's database; it is dropped and re-created.
    #[arg(
        long,
        env = "LOADTEST_DATABASE_URL",
        default_value = "postgres://root@127.0.0.1:5432/elearning_loadtest"
    )]
    pub database_url: String,
    /// Our own server's Redis (it gets a key prefix of its own).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// The server binary (default: `elearning-api` next to this program).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Accounts in the seeded dataset (default: 3000, or a third of the most users a run
    /// starts, whichever is more; a few simulated users may share a student account, as
    /// one person with two devices would).
    #[arg(long)]
    pub seed_users: Option<usize>,
    /// Courses in the seeded dataset.
    #[arg(long, default_value_t = 300)]
    pub seed_courses: usize,
    /// Relative numbers of users per kind.
    #[arg(
        long,
        default_value = "visitor=55,student=38,formateur=4,admin=1,health=2"
    )]
    pub mix: Mix,
    /// Users in the fixed-load phase (default: 20 for --smoke, 2000 otherwise).
    #[arg(long)]
    pub users: Option<usize>,
    /// Seconds of the fixed-load phase, after all users have started (default: 20 smoke, 90 quick).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Pause scale between a user's actions: 1 is human pace (1-4 s), 0 is none (default: 0.05
    /// for --smoke, 1 otherwise).
    #[arg(long)]
    pub think: Option<f64>,
    /// Share of signed-in users who sign in for real (the others return with a session).
    #[arg(long, default_value_t = 0.05)]
    pub login_share: f64,
    /// The breaking point: the ramp stops when p99 crosses this many milliseconds...
    #[arg(long, default_value_t = 200)]
    pub p99_target_ms: u64,
    /// ... or when this percentage of answers are unexpected (errors, 5xx, 429).
    #[arg(long, default_value_t = 1.0)]
    pub error_target_percent: f64,
    /// Users in the ramp's first step; each step doubles them, up to --max-users.
    #[arg(long, default_value_t = 1000)]
    pub ramp_start: usize,
    /// Seconds each ramp step runs once its users have started.
    #[arg(long, default_value_t = 30)]
    pub ramp_step_secs: u64,
    /// The most users the ramp tries (also bounded by the file-descriptor limit).
    #[arg(long, default_value_t = 16_000)]
    pub max_users: usize,
    /// Simultaneous connections to hold in --full.
    #[arg(long, default_value_t = 10_000)]
    pub hold_users: usize,
    /// Seconds of the soak in --full.
    #[arg(long, default_value_t = 300)]
    pub soak_secs: u64,
    /// Users during the soak.
    #[arg(long, default_value_t = 1000)]
    pub soak_users: usize,
    /// The target's memory limit in MB, for the memory figure (Render's starter plan: 512).
    #[arg(long, default_value_t = 512)]
    pub memory_limit_mb: u64,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where our own server's log goes.
    #[arg(long, default_value = "loadtest-server.log")]
    pub server_log: PathBuf,
}

/// Which run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Smoke,
    Quick,
    Full,
}

impl Args {
    /// The fixed-load phase's users.
    fn fixed_users(&self) -> usize {
        self.users
            .unwrap_or(if self.mode() == Mode::Smoke { 20 } else { 2000 })
    }

    /// The most simulated users the run will start at once.
    fn planned_users(&self) -> usize {
        match self.mode() {
            Mode::Full => self
                .fixed_users()
                .max(self.max_users)
                .max(self.hold_users)
                .max(self.soak_users),
            _ => self.fixed_users(),
        }
    }

    /// The mode the flags select.
    pub fn mode(&self) -> Mode {
        if self.smoke {
            Mode::Smoke
        } else if self.full {
            Mode::Full
        } else {
            Mode::Quick
        }
    }
}

/// One phase's figures.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    pub name: String,
    pub users: usize,
    pub think: f64,
    /// Seconds measured (after every user had started).
    pub seconds: f64,
    /// Every endpoint together. Its `unexpected` counts answers the scenarios did not expect
    /// (transport errors, 4xx they did not ask for, 5xx).
    pub overall: EndpointSummary,
    pub error_percent: f64,
    /// The requests made while the users were arriving (not in `overall`): sign-ins and first
    /// dashboards. Their unexpected answers count in the verdict's error rate.
    pub arrivals: Option<EndpointSummary>,
    pub server: ServerFigures,
    pub endpoints: Vec<EndpointSummary>,
}

/// What the server said about itself during a phase.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerFigures {
    pub peak_rss_mb: Option<f64>,
    pub last_rss_mb: Option<f64>,
    /// The server process's CPU over the phase, as a share of all cores (our own server only).
    pub cpu_percent: Option<f64>,
    pub pool_max_size: Option<u64>,
    pub pool_peak_in_use: Option<u64>,
    pub pool_peak_waiting: Option<u64>,
    /// Requests the server shed (503) during the phase.
    pub shed: Option<u64>,
    /// The most established connections to the target seen at once.
    pub peak_connections: usize,
    /// Resident memory over time: (seconds into the phase, MB).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rss_series: Vec<(f64, f64)>,
}

/// The breaking point found by the ramp.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Breaking {
    /// The last step that met the targets.
    pub held_users: Option<usize>,
    pub held_rps: Option<f64>,
    /// The first step that did not, and why.
    pub broke_at_users: Option<usize>,
    pub reason: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub mode: Mode,
    pub target: String,
    pub started_at: String,
    pub machine_cores: usize,
    pub mix: Mix,
    pub phases: Vec<Phase>,
    pub breaking_point: Option<Breaking>,
    pub memory_drift_mb_per_min: Option<f64>,
    pub verdict: Vec<Row>,
    pub summary: verdict::Summary,
}

/// Users arriving per second in the ramp and hold phases: a busy morning, not everyone at once.
const ARRIVALS_PER_SEC: f64 = 250.0;

/// How long after the last user started measuring begins.
const SETTLE: Duration = Duration::from_secs(3);

/// Runs the load test; returns the report (the caller prints it and sets the exit code).
pub async fn run(args: Args) -> anyhow::Result<Report> {
    let mode = args.mode();
    let fd_limit = raise_fd_limit();
    let mut target = match &args.url {
        Some(url) => Target {
            base: url.trim_end_matches('/').to_owned(),
            ops_token: args.ops_token.clone(),
            jwt_secret: args.jwt_secret.clone(),
            child: None,
            memory_limit_mb: args.memory_limit_mb,
        },
        None => {
            let binary = match &args.server_bin {
                Some(b) => b.clone(),
                None => target::sibling_binary()?,
            };
            let planned = args.planned_users();
            let seed_users = args.seed_users.unwrap_or((planned / 3).max(3000));
            let mix = args.mix;
            let total = (mix.visitor + mix.student + mix.formateur + mix.admin + mix.health).max(1);
            // At most two simulated admins per admin account.
            let extra_admins = (planned * mix.admin).div_ceil(total * 2).saturating_sub(2);
            eprintln!(
                "starting {} on a fresh database ({seed_users} users, {} courses)",
                binary.display(),
                args.seed_courses
            );
            let mut t = target::spawn(&Spawn {
                binary,
                database_url: args.database_url.clone(),
                redis_url: args.redis_url.clone(),
                seed_users,
                seed_courses: args.seed_courses,
                extra_admins,
                log: args.server_log.clone(),
            })
            .await?;
            t.memory_limit_mb = args.memory_limit_mb;
            t
        }
    };
    let setup = Setup::new(&target.base)?;
    let admin = setup.login(&args.admin_email, &args.password).await?;
    let data = setup.dataset(&admin).await.context("reading the dataset")?;
    eprintln!(
        "dataset: {} students, {} formateurs, {} admins, {} published courses, {} courses with quizzes",
        data.students.len(),
        data.formateurs.len(),
        data.admins.len(),
        data.published.len(),
        data.quizzes.len()
    );
    scenarios::install(scenarios::Shared {
        published: data.published,
        quizzes: data.quizzes,
        students: data.students,
        formateurs: data.formateurs,
        admins: data.admins,
        keys: target.jwt_secret.as_ref().map(|s| {
            crate::auth::JwtKeys::new(
                &secrecy::SecretString::from(s.clone()),
                Duration::from_secs(4 * 3600),
            )
        }),
        password: args.password.clone(),
        login_share: if mode == Mode::Smoke {
            1.0
        } else {
            args.login_share
        },
    })?;

    let think = args
        .think
        .unwrap_or(if mode == Mode::Smoke { 0.05 } else { 1.0 });
    let users = args
        .users
        .unwrap_or(if mode == Mode::Smoke { 20 } else { 2000 });
    let seconds = args
        .duration
        .unwrap_or(if mode == Mode::Smoke { 20 } else { 90 });
    let runner = Runner {
        target: &target,
        mix: args.mix,
    };
    let mut phases = Vec::new();

    if mode != Mode::Smoke {
        // Warm the caches and the pool the way the first minutes of a day would.
        runner
            .phase("warm-up", users.min(500), 250.0, 10, think, false)
            .await?;
    }
    phases.push(
        runner
            .phase(
                if mode == Mode::Smoke {
                    "smoke"
                } else {
                    "fixed load"
                },
                users,
                users.clamp(1, 500) as f64,
                seconds,
                think,
                mode == Mode::Smoke,
            )
            .await?,
    );

    let mut breaking = None;
    let mut drift = None;
    if mode == Mode::Full {
        // Every user holds a connection, so the open-file limit bounds how many can run.
        let room = (fd_limit.saturating_sub(500) as usize).max(1);
        let cap = args.max_users.clamp(1, room);
        let mut b = Breaking {
            held_users: None,
            held_rps: None,
            broke_at_users: None,
            reason: None,
        };
        let mut step = args.ramp_start.clamp(1, cap);
        loop {
            let p = runner
                .phase(
                    &format!("ramp {step} users"),
                    step,
                    ARRIVALS_PER_SEC,
                    args.ramp_step_secs,
                    think,
                    false,
                )
                .await?;
            let over = if p.overall.p99_ms > args.p99_target_ms as f64 {
                Some(format!(
                    "p99 {:.1} ms > {} ms",
                    p.overall.p99_ms, args.p99_target_ms
                ))
            } else if p.error_percent > args.error_target_percent {
                Some(format!(
                    "{:.2} % unexpected answers > {} %",
                    p.error_percent, args.error_target_percent
                ))
            } else {
                b.held_users = Some(step);
                b.held_rps = Some(p.overall.rps);
                None
            };
            phases.push(p);
            if let Some(reason) = over {
                b.broke_at_users = Some(step);
                b.reason = Some(reason);
                break;
            }
            if step >= cap {
                b.reason = Some(format!(
                    "not reached: every step up to {cap} users (the limit here) met the targets"
                ));
                break;
            }
            step = (step * 2).min(cap);
        }
        breaking = Some(b);

        // Hold many connections at once: each user is a browser with its own keep-alive
        // connection, pausing 5 to 15 s between pages.
        let hold = args.hold_users.clamp(1, room);
        phases.push(
            runner
                .phase(
                    &format!("hold {hold} connections"),
                    hold,
                    ARRIVALS_PER_SEC,
                    60,
                    think * 4.0,
                    false,
                )
                .await?,
        );

        let soak = runner
            .phase("soak", args.soak_users, 250.0, args.soak_secs, think, false)
            .await?;
        drift = memory_drift(&soak.server.rss_series);
        phases.push(soak);
    }

    if let Some(child) = target.child.as_mut() {
        let _ = child.start_kill();
    }
    // A smoke run checks answers, not speed: it is not graded.
    let rows = if mode == Mode::Smoke {
        Vec::new()
    } else {
        grade(&args, mode, &target, &phases, breaking.as_ref(), drift)
    };
    Ok(Report {
        mode,
        target: target.base.clone(),
        started_at: chrono::Utc::now().to_rfc3339(),
        machine_cores: std::thread::available_parallelism().map_or(1, usize::from),
        mix: args.mix,
        summary: verdict::summary(&rows),
        phases,
        breaking_point: breaking,
        memory_drift_mb_per_min: drift,
        verdict: rows,
    })
}

/// Raises this process's open-file limit to the hard limit (children inherit it); returns it.
fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(_) => rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft),
    }
}

struct Runner<'a> {
    target: &'a Target,
    mix: Mix,
}

impl Runner<'_> {
    /// Runs `users` for `seconds` after they have all started (at `rate` per second), sampling
    /// the server every second. Only the time after the last user started is measured, unless
    /// `from_start` (the smoke run, where every answer counts, sign-ins included).
    async fn phase(
        &self,
        name: &str,
        users: usize,
        rate: f64,
        seconds: u64,
        think: f64,
        from_start: bool,
    ) -> anyhow::Result<Phase> {
        eprintln!("phase: {name} ({users} users, pause scale {think}, {seconds} s)");
        // Measuring starts once every user has started and a few seconds more have passed
        // (the arrivals' first requests are a burst of their own, reported apart as the
        // arrival figures); as a fallback, well after the planned ramp-up time.
        let planned_ramp = users as f64 / rate.max(0.1);
        let mut config = GooseConfiguration::default();
        config.host = Some(self.target.base.clone());
        config.users = Some(users);
        config.increase_rate = Some(format!("{rate}"));
        config.run_time = Some(seconds.to_string());
        config.timeout = Some("30".to_owned());
        config.quiet = 1;
        config.no_print_metrics = true;
        config.no_error_summary = true;
        config.no_telnet = true;
        let mut attack = GooseAttack::initialize_with_config(config)?;
        for s in scenarios::scenarios(self.mix, Think(think))? {
            attack = attack.register_scenario(s);
        }
        let base = scenarios::started();
        recorder::take();
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let measuring = Arc::new(Mutex::new(from_start.then(Instant::now)));
        let arrivals: Arc<Mutex<Option<EndpointSummary>>> = Arc::default();
        let sampler = {
            let samples = samples.clone();
            let measuring = measuring.clone();
            let arrivals = arrivals.clone();
            let ops = self.target.ops_token.clone();
            let pid = self.target.pid();
            let port = self.target.port();
            let base_url = self.target.base.clone();
            tokio::spawn(async move {
                let setup = Setup::new(&base_url).ok();
                let began = Instant::now();
                let mut all_started: Option<Instant> = None;
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    if all_started.is_none() && scenarios::started().saturating_sub(base) >= users {
                        all_started = Some(Instant::now());
                    }
                    let settled = all_started.is_some_and(|t| t.elapsed() >= SETTLE)
                        || began.elapsed().as_secs_f64() > planned_ramp * 3.0 + 30.0;
                    if settled && measuring.lock().map(|m| m.is_none()).unwrap_or(false) {
                        let total = recorder::take().total().summary("arrivals", 0.0);
                        if let Ok(mut s) = arrivals.lock() {
                            *s = Some(total);
                        }
                        if let Ok(mut m) = measuring.lock() {
                            *m = Some(Instant::now());
                        }
                    }
                    let Ok(Some(since)) = measuring.lock().map(|m| *m) else {
                        continue;
                    };
                    let stats = match (&setup, &ops) {
                        (Some(s), Some(t)) => s.stats(t).await,
                        _ => None,
                    };
                    let sample = Sample {
                        at: since.elapsed().as_secs_f64(),
                        cpu: pid.and_then(target::cpu_time),
                        connections: port.map_or(0, target::established_to),
                        stats,
                    };
                    if let Ok(mut v) = samples.lock() {
                        v.push(sample);
                    }
                }
            })
        };
        let result = attack.execute().await;
        sampler.abort();
        result.with_context(|| format!("phase {name}"))?;
        let since = measuring.lock().ok().and_then(|m| *m);
        let snapshot = recorder::take();
        let seconds = since.map_or(0.0, |s| s.elapsed().as_secs_f64());
        let samples = samples
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        let mut phase = summarise(name, users, think, seconds, &snapshot, &samples);
        phase.arrivals = arrivals
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .filter(|s| s.requests > 0);
        Ok(phase)
    }
}

#[derive(Debug, Clone)]
struct Sample {
    at: f64,
    cpu: Option<Duration>,
    connections: usize,
    stats: Option<Value>,
}

fn summarise(
    name: &str,
    users: usize,
    think: f64,
    seconds: f64,
    snapshot: &recorder::Snapshot,
    samples: &[Sample],
) -> Phase {
    let overall = snapshot.total().summary("all", seconds);
    let mb = |v: &Value| v.as_f64().map(|b| b / 1_048_576.0);
    let stat = |s: &Sample, path: &str| s.stats.as_ref().and_then(|v| v.pointer(path)).cloned();
    let rss: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| Some((s.at, mb(&stat(s, "/memory/rss")?)?)))
        .collect();
    let max_u64 = |path: &str| samples.iter().filter_map(|s| stat(s, path)?.as_u64()).max();
    let cpu_percent = match (
        samples.first().and_then(|s| s.cpu),
        samples.last().and_then(|s| s.cpu),
    ) {
        (Some(a), Some(b)) if samples.len() > 1 => {
            let wall = samples[samples.len() - 1].at - samples[0].at;
            let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
            (wall > 0.0).then(|| (b - a).as_secs_f64() / wall / cores * 100.0)
        }
        _ => None,
    };
    let shed = match (samples.first(), samples.last()) {
        (Some(a), Some(b)) => {
            let shed = |s: &Sample| stat(s, "/admission/shed").and_then(|v| v.as_u64());
            shed(b).zip(shed(a)).map(|(b, a)| b.saturating_sub(a))
        }
        _ => None,
    };
    Phase {
        name: name.to_owned(),
        users,
        think,
        seconds,
        error_percent: overall.unexpected as f64 / overall.requests.max(1) as f64 * 100.0,
        overall,
        arrivals: None,
        server: ServerFigures {
            peak_rss_mb: rss.iter().map(|r| r.1).reduce(f64::max),
            last_rss_mb: rss.last().map(|r| r.1),
            cpu_percent,
            pool_max_size: max_u64("/pool/maxSize"),
            pool_peak_in_use: max_u64("/pool/inUse"),
            pool_peak_waiting: max_u64("/pool/waiting"),
            shed,
            peak_connections: samples.iter().map(|s| s.connections).max().unwrap_or(0),
            rss_series: rss,
        },
        endpoints: snapshot.endpoints(seconds),
    }
}

/// Memory drift over a soak: the least-squares slope of RSS in MB per minute, over the part
/// after the first fifth (start-up allocation is not drift).
pub fn memory_drift(series: &[(f64, f64)]) -> Option<f64> {
    let skip = series.len() / 5;
    let pts = &series[skip..];
    if pts.len() < 10 {
        return None;
    }
    let n = pts.len() as f64;
    let (sx, sy) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    (den > 0.0).then(|| num / den * 60.0)
}

fn grade(
    args: &Args,
    mode: Mode,
    target: &Target,
    phases: &[Phase],
    breaking: Option<&Breaking>,
    drift: Option<f64>,
) -> Vec<Row> {
    let Some(main) = phases.first() else {
        return vec![];
    };
    let mut rows = Vec::new();
    rows.push(Row {
        figure: format!("p95 response time ({})", main.name),
        value: format!("{:.1} ms", main.overall.p95_ms),
        seed_band: Some(band_below(main.overall.p95_ms, 100.0, 200.0, 500.0)),
        seed_targets: "< 100 / < 200 / < 500 ms".into(),
        our_target: "< 50 ms".into(),
        our_target_met: Some(main.overall.p95_ms < 50.0),
    });
    rows.push(Row {
        figure: format!("p99 response time ({})", main.name),
        value: format!(
            "{:.1} ms (max {:.0} ms)",
            main.overall.p99_ms, main.overall.max_ms
        ),
        seed_band: None,
        seed_targets: "-".into(),
        our_target: "< 100 ms".into(),
        our_target_met: Some(main.overall.p99_ms < 100.0),
    });
    rows.push(Row {
        figure: format!("throughput ({})", main.name),
        value: format!("{:.0} req/s", main.overall.rps),
        seed_band: None,
        seed_targets: "-".into(),
        our_target: "-".into(),
        our_target_met: None,
    });
    // Concurrent users: the most users of a phase that kept p95 under 200 ms and errors under 2 %.
    let held = phases
        .iter()
        .filter(|p| p.overall.p95_ms < 200.0 && p.error_percent < 2.0 && p.overall.requests > 0)
        .map(|p| p.users)
        .max()
        .unwrap_or(0);
    rows.push(Row {
        figure: "concurrent users held (p95 < 200 ms, errors < 2 %)".into(),
        value: held.to_string(),
        seed_band: Some(band_at_least(held as f64, 2000.0, 1000.0, 500.0)),
        seed_targets: "2000+ / 1000+ / 500+".into(),
        our_target: "10000+ (--full)".into(),
        our_target_met: (mode == Mode::Full).then_some(held >= 10_000),
    });
    // The ramp's last step is meant to break; it is not counted against the error rate.
    let broke = breaking.and_then(|b| b.broke_at_users);
    let (req_ok, unexp_ok) = phases
        .iter()
        .filter(|p| !(p.name.starts_with("ramp") && Some(p.users) == broke))
        .fold((0u64, 0u64), |(r, u), p| {
            (
                r + p.overall.requests + p.arrivals.as_ref().map_or(0, |a| a.requests),
                u + p.overall.unexpected + p.arrivals.as_ref().map_or(0, |a| a.unexpected),
            )
        });
    let err = unexp_ok as f64 / req_ok.max(1) as f64 * 100.0;
    rows.push(Row {
        figure: "error rate (unexpected answers)".into(),
        value: format!("{err:.3} % ({unexp_ok} of {req_ok})"),
        seed_band: Some(band_below(err, 0.5, 2.0, 5.0)),
        seed_targets: "< 0.5 / < 2 / < 5 %".into(),
        our_target: "< 0.1 %".into(),
        our_target_met: Some(err < 0.1),
    });
    if let Some(hit) = main.overall.hit_percent() {
        rows.push(Row {
            figure: format!("cache hit rate, X-Cache ({})", main.name),
            value: format!("{hit:.1} %"),
            seed_band: Some(band_at_least(hit, 90.0, 80.0, 70.0)),
            seed_targets: "90+ / 80+ / 70+ %".into(),
            our_target: "95+ %".into(),
            our_target_met: Some(hit >= 95.0),
        });
    }
    if let Some(peak) = phases
        .iter()
        .filter_map(|p| p.server.peak_rss_mb)
        .reduce(f64::max)
    {
        let pct = peak / target.memory_limit_mb as f64 * 100.0;
        rows.push(Row {
            figure: format!("memory, peak RSS of {} MB", target.memory_limit_mb),
            value: format!("{pct:.1} % ({peak:.0} MB)"),
            seed_band: Some(band_below(pct, 70.0, 80.0, 90.0)),
            seed_targets: "< 70 / < 80 / < 90 %".into(),
            our_target: "< 50 %".into(),
            our_target_met: Some(pct < 50.0),
        });
    }
    if let Some(cpu) = main.server.cpu_percent {
        rows.push(Row {
            figure: format!("server CPU, share of all cores ({})", main.name),
            value: format!("{cpu:.0} %"),
            seed_band: Some(band_below(cpu, 50.0, 70.0, 85.0)),
            seed_targets: "< 50 / < 70 / < 85 %".into(),
            our_target: "- (the load generator shares the machine)".into(),
            our_target_met: None,
        });
    }
    if let Some(b) = breaking {
        rows.push(Row {
            figure: format!(
                "breaking point (p99 > {} ms or errors > {} %)",
                args.p99_target_ms, args.error_target_percent
            ),
            value: match (b.broke_at_users, b.held_users) {
                (Some(at), Some(ok)) => format!(
                    "broke at {at} users; held {ok} at {:.0} req/s",
                    b.held_rps.unwrap_or(0.0)
                ),
                (Some(at), None) => format!("broke at {at} users (the first step)"),
                (None, ok) => format!("not reached; held {} users", ok.unwrap_or(0)),
            },
            seed_band: None,
            seed_targets: "-".into(),
            our_target: "holds 10000+ users".into(),
            our_target_met: Some(b.held_users.unwrap_or(0) >= 10_000),
        });
    }
    if let Some(hold) = phases.iter().find(|p| p.name.starts_with("hold")) {
        rows.push(Row {
            figure: format!("{} users at once", hold.users),
            value: format!(
                "{} connections established, p99 {:.1} ms, {:.3} % errors",
                hold.server.peak_connections, hold.overall.p99_ms, hold.error_percent
            ),
            seed_band: None,
            seed_targets: "-".into(),
            our_target: "all connected, p99 < 100 ms, errors < 0.1 %".into(),
            our_target_met: Some(
                hold.server.peak_connections >= hold.users * 99 / 100
                    && hold.overall.p99_ms < 100.0
                    && hold.error_percent < 0.1,
            ),
        });
    }
    if let Some(d) = drift {
        rows.push(Row {
            figure: format!("memory drift over the {} s soak", args.soak_secs),
            value: format!("{d:+.2} MB/min"),
            seed_band: None,
            seed_targets: "-".into(),
            our_target: "< 1 MB/min".into(),
            our_target_met: Some(d < 1.0),
        });
    }
    rows
}

/// The report as text: phases, busiest endpoints, verdict.
pub fn render(report: &Report) -> String {
    let mut out = format!(
        "elearning-api load test: {:?} against {} ({} cores)\n\n",
        report.mode, report.target, report.machine_cores
    );
    out.push_str("phase                      users   req/s     p50 ms   p95 ms   p99 ms   max ms  errors   hit %  rss MB  cpu %  conns  arrivals: requests, p99 ms\n");
    for p in &report.phases {
        let opt =
            |v: Option<f64>, d: usize| v.map_or_else(|| "-".to_owned(), |x| format!("{x:.d$}"));
        out.push_str(&format!(
            "{:<25} {:>6} {:>7.0} {:>9.2} {:>8.2} {:>8.2} {:>8.0} {:>7.3}% {:>6} {:>7} {:>6} {:>6}  {}, {}\n",
            p.name, p.users, p.overall.rps, p.overall.p50_ms, p.overall.p95_ms, p.overall.p99_ms, p.overall.max_ms, p.error_percent,
            opt(p.overall.hit_percent(), 1), opt(p.server.peak_rss_mb, 0), opt(p.server.cpu_percent, 0), p.server.peak_connections,
            p.arrivals.as_ref().map_or(0, |a| a.requests), opt(p.arrivals.as_ref().map(|a| a.p99_ms), 1)
        ));
    }
    if let Some(main) = report.phases.first() {
        out.push_str(&format!("\nendpoints ({}):\n", main.name));
        out.push_str("endpoint                                                      requests   req/s   p50 ms   p95 ms   p99 ms  hit %  unexpected  statuses\n");
        for e in &main.endpoints {
            let statuses: Vec<String> =
                e.statuses.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            out.push_str(&format!(
                "{:<60} {:>9} {:>7.1} {:>8.2} {:>8.2} {:>8.2} {:>6} {:>11}  {}{}\n",
                e.endpoint,
                e.requests,
                e.rps,
                e.p50_ms,
                e.p95_ms,
                e.p99_ms,
                e.hit_percent()
                    .map_or_else(|| "-".to_owned(), |h| format!("{h:.1}")),
                e.unexpected,
                statuses.join(" "),
                if e.transport_errors > 0 {
                    format!(" transport:{}", e.transport_errors)
                } else {
                    String::new()
                }
            ));
        }
        let s = &main.server;
        out.push_str(&format!(
            "\nserver: pool max {} / peak in use {} / peak waiting {}; shed {}\n",
            s.pool_max_size.map_or("-".into(), |v| v.to_string()),
            s.pool_peak_in_use.map_or("-".into(), |v| v.to_string()),
            s.pool_peak_waiting.map_or("-".into(), |v| v.to_string()),
            s.shed.map_or("-".into(), |v| v.to_string()),
        ));
    }
    if let Some(b) = &report.breaking_point {
        out.push_str(&format!(
            "breaking point: {}\n",
            b.reason.clone().unwrap_or_default()
        ));
    }
    if !report.verdict.is_empty() {
        out.push_str("\nverdict\n");
        out.push_str(&verdict::table(&report.verdict));
        out.push('\n');
    }
    out
}

/// Whether a smoke run passed: every kind of user was served, nothing unexpected came back.
pub fn smoke_failures(report: &Report) -> Vec<String> {
    let mut problems = Vec::new();
    for p in &report.phases {
        if p.overall.requests == 0 {
            problems.push(format!("{}: no requests were made", p.name));
        }
        for e in p.endpoints.iter().filter(|e| e.unexpected > 0) {
            problems.push(format!(
                "{}: {} unexpected answers ({:?}, {} transport errors)",
                e.endpoint, e.unexpected, e.statuses, e.transport_errors
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_the_slope_in_mb_per_minute() {
        let flat: Vec<(f64, f64)> = (0..60).map(|s| (f64::from(s), 100.0)).collect();
        assert!(memory_drift(&flat).is_some_and(|d| d.abs() < 1e-9));
        let growing: Vec<(f64, f64)> = (0..60)
            .map(|s| (f64::from(s), 100.0 + f64::from(s) / 30.0))
            .collect();
        assert!(memory_drift(&growing).is_some_and(|d| (d - 2.0).abs() < 1e-6));
        assert!(memory_drift(&flat[..5]).is_none());
    }
}
