//! The service under load: one this tool starts itself (release binary, fresh seeded database,
//! its own Redis key prefix), or one at a URL it is given. Also what the tool reads from it:
//! the dataset before the load, and the operator figures (`/api/performance/stats`) during it.

use std::{
    collections::HashMap,
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::process::{Child, Command};
use uuid::Uuid;

use super::scenarios::Account;

/// How to start a server of our own.
#[derive(Debug, Clone)]
pub struct Spawn {
    /// The `elearning-api` binary.
    pub binary: PathBuf,
    /// A database this tool may drop and create (all its data is replaced).
    pub database_url: String,
    pub redis_url: String,
    pub seed_users: usize,
    pub seed_courses: usize,
    /// Admin accounts to add to the seeded two, so that simulated admins do not share one
    /// account (and its rate limits) many times over.
    pub extra_admins: usize,
    /// Where the server's log goes.
    pub log: PathBuf,
}

/// A running target.
pub struct Target {
    pub base: String,
    pub ops_token: Option<String>,
    pub jwt_secret: Option<String>,
    /// Our own server: its process (killed on drop).
    pub child: Option<Child>,
    pub memory_limit_mb: u64,
}

impl Target {
    /// The server's process id, when it is ours.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The port the target listens on.
    pub fn port(&self) -> Option<u16> {
        url::Url::parse(&self.base).ok()?.port_or_known_default()
    }
}

/// The `elearning-api` binary next to this one (the same build profile).
pub fn sibling_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("locating this program")?;
    let bin = me.with_file_name(format!("elearning-api{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        bail!(
            "{} is missing: build both programs with `cargo build --release --features loadtest --bins` (scripts/loadtest.sh does)",
            bin.display()
        );
    }
    Ok(bin)
}

fn random_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 24] = rand::thread_rng().r#gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Drops and re-creates the database named in `url` (connecting to `postgres` on the same server).
async fn fresh_database(url: &str) -> anyhow::Result<()> {
    let config: tokio_postgres::Config = url
        .parse()
        .context("DATABASE_URL is not a PostgreSQL URL")?;
    let name = config
        .get_dbname()
        .context("the database URL names no database")?
        .to_owned();
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name == "postgres" {
        bail!(
            "refusing to recreate database `{name}`: use a dedicated name such as elearning_loadtest"
        );
    }
    let mut admin = config.clone();
    admin.dbname("postgres");
    let client = connect(&admin).await?;
    for statement in [
        format!("drop database if exists {name} with (force)"),
        format!("create database {name}"),
    ] {
        client
            .batch_execute(&statement)
            .await
            .with_context(|| format!("recreating database {name}"))?;
    }
    Ok(())
}

/// One connection for this tool's own setup statements.
async fn connect(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(connection);
    Ok(client)
}

/// Adds `n` admin accounts (`loadtest-admin-<i>@example.com`) with the seeded password.
async fn add_admins(url: &str, n: usize) -> anyhow::Result<()> {
    let client = connect(
        &url.parse()
            .context("DATABASE_URL is not a PostgreSQL URL")?,
    )
    .await?;
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    client
        .execute(
            "insert into app_user (id, email, password_hash, first_name, last_name, role, created_at, updated_at)
             select gen_random_uuid(), 'loadtest-admin-' || g || '@example.com', a.password_hash, 'Load', 'Admin ' || g,
                    'admin', now(), now()
             from app_user a, generate_series(1, $1) g where a.email = 'admin@example.com'
             on conflict do nothing",
            &[&n],
        )
        .await
        .context("adding admin accounts")?;
    Ok(())
}

/// Starts our own server: fresh database, seeded, on a free loopback port, trusting this tool as
/// a proxy so each simulated user keeps its own address.
pub async fn spawn(spec: &Spawn) -> anyhow::Result<Target> {
    fresh_database(&spec.database_url).await?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port")?
        .port();
    let jwt_secret = random_secret();
    let ops_token = random_secret();
    let prefix = format!(
        "loadtest-{}-{}:",
        std::process::id(),
        chrono::Utc::now().timestamp()
    );
    let envs: Vec<(&str, String)> = vec![
        ("DATABASE_URL", spec.database_url.clone()),
        ("REDIS_URL", spec.redis_url.clone()),
        ("REDIS_KEY_PREFIX", prefix),
        ("JWT_SECRET", jwt_secret.clone()),
        ("OPS_TOKEN", ops_token.clone()),
        ("HOST", "127.0.0.1".into()),
        ("PORT", port.to_string()),
        ("TRUSTED_PROXIES", "127.0.0.1/32".into()),
        ("RUST_LOG", "elearning_api=warn,warn".into()),
        ("LOG_FORMAT", "compact".into()),
    ];
    let seed = Command::new(&spec.binary)
        .arg("seed")
        .args(["--users", &spec.seed_users.to_string()])
        .args(["--courses", &spec.seed_courses.to_string()])
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .with_context(|| format!("running {} seed", spec.binary.display()))?;
    if !seed.status.success() {
        bail!(
            "seeding failed: {}",
            String::from_utf8_lossy(&seed.stderr).trim()
        );
    }
    if spec.extra_admins > 0 {
        add_admins(&spec.database_url, spec.extra_admins).await?;
    }
    let log = std::fs::File::create(&spec.log)
        .with_context(|| format!("creating {}", spec.log.display()))?;
    let child = Command::new(&spec.binary)
        .arg("serve")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::from(log.try_clone().context("server log")?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", spec.binary.display()))?;
    let target = Target {
        base: format!("http://127.0.0.1:{port}"),
        ops_token: Some(ops_token),
        jwt_secret: Some(jwt_secret),
        child: Some(child),
        memory_limit_mb: 512,
    };
    wait_healthy(&target.base, &spec.log).await?;
    Ok(target)
}

async fn wait_healthy(base: &str, log: &Path) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = client
            .get(format!("{base}/api/performance/health"))
            .send()
            .await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "the server did not become healthy within 60 s (its log: {})",
        log.display()
    )
}

/// A small client for setup calls and figures (not part of the measured load).
pub struct Setup {
    client: reqwest::Client,
    base: String,
}

impl Setup {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .context("building the setup client")?,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    async fn get_json(&self, path: &str, bearer: Option<&str>) -> anyhow::Result<Value> {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.with_context(|| format!("GET {path}"))?;
        let status = resp.status();
        if !status.is_success() {
            bail!("GET {path}: {status}");
        }
        resp.json()
            .await
            .with_context(|| format!("GET {path}: not JSON"))
    }

    /// Signs in and returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let resp = self
            .client
            .post(format!("{}/api/auth/login", self.base))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .context("POST /api/auth/login")?;
        let status = resp.status();
        if !status.is_success() {
            bail!(
                "signing in as {email}: {status} (is the target seeded with `elearning-api seed`?)"
            );
        }
        let v: Value = resp.json().await.context("login answer")?;
        v["token"]
            .as_str()
            .map(str::to_owned)
            .context("the login answer carries no token")
    }

    /// Every item of a paginated list (`limit=100`, following `nextCursor`).
    async fn all(
        &self,
        path: &str,
        field: &str,
        bearer: Option<&str>,
    ) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        let sep = if path.contains('?') { '&' } else { '?' };
        loop {
            let page_path = match &cursor {
                Some(c) => format!(
                    "{path}{sep}limit=100&cursor={}",
                    url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
                ),
                None => format!("{path}{sep}limit=100"),
            };
            let page = self.get_json(&page_path, bearer).await?;
            out.extend(page[field].as_array().cloned().unwrap_or_default());
            match page["nextCursor"].as_str() {
                Some(c) if !c.is_empty() && out.len() < 200_000 => cursor = Some(c.to_owned()),
                _ => return Ok(out),
            }
        }
    }

    /// The dataset: accounts by role, published courses, quizzes per course (read as an admin).
    pub async fn dataset(&self, admin_token: &str) -> anyhow::Result<Dataset> {
        let users = self
            .all("/api/admin/users", "users", Some(admin_token))
            .await?;
        let mut roles: HashMap<String, Vec<Account>> = HashMap::new();
        for u in users {
            if u["status"].as_str().is_some_and(|s| s != "active") {
                continue;
            }
            let (Some(id), Some(email), Some(role)) = (
                u["id"].as_str().and_then(|s| s.parse::<Uuid>().ok()),
                u["email"].as_str(),
                u["role"].as_str(),
            ) else {
                continue;
            };
            roles.entry(role.to_owned()).or_default().push(Account {
                id,
                email: email.to_owned(),
                role: role.to_owned(),
            });
        }
        let published = self
            .all("/api/courses", "courses", None)
            .await?
            .iter()
            .filter_map(|c| c["id"].as_str()?.parse().ok())
            .collect();
        let mut quizzes: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for q in self
            .all("/api/formateur/quizzes", "quizzes", Some(admin_token))
            .await?
        {
            if let (Some(course), Some(id)) = (
                q["courseId"].as_str().and_then(|s| s.parse().ok()),
                q["id"].as_str().and_then(|s| s.parse().ok()),
            ) {
                quizzes.entry(course).or_default().push(id);
            }
        }
        Ok(Dataset {
            students: roles.remove("student").unwrap_or_default(),
            formateurs: roles.remove("formateur").unwrap_or_default(),
            admins: roles.remove("admin").unwrap_or_default(),
            published,
            quizzes,
        })
    }

    /// The operator figures, when we hold the operator token.
    pub async fn stats(&self, ops_token: &str) -> Option<Value> {
        self.get_json("/api/performance/stats", Some(ops_token))
            .await
            .ok()
    }
}

/// The data the scenarios draw from.
pub struct Dataset {
    pub students: Vec<Account>,
    pub formateurs: Vec<Account>,
    pub admins: Vec<Account>,
    pub published: Vec<Uuid>,
    pub quizzes: HashMap<Uuid, Vec<Uuid>>,
}

/// CPU time (user + system) of a process, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux platform Rust targets.
    Some(Duration::from_millis(ticks * 10))
}

/// Established TCP connections of this process to `port` (IPv4 and IPv6): the sockets among
/// this process's open files, looked up in the kernel's connection tables.
pub fn established_to(port: u16) -> usize {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let mine: std::collections::HashSet<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|table| {
            table
                .lines()
                .skip(1)
                .filter(|line| {
                    let cols: Vec<&str> = line.split_whitespace().collect();
                    cols.len() > 9
                        && cols[3] == "01"
                        && cols[2]
                            .rsplit_once(':')
                            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                            == Some(port)
                        && mine.contains(cols[9])
                })
                .count()
        })
        .sum()
}
