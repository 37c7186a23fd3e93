//! Runtime configuration: every setting comes from an environment variable (or the matching
//! command-line flag), with a safe default wherever one exists. `elearning-api --help` lists them
//! all; the README repeats the list.
//!
//! The config is a plain value handed to [`crate::app::App::build`], so tests change it field by
//! field instead of touching the process environment.

use std::{net::IpAddr, time::Duration};

use clap::{Args, ValueEnum};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

/// Everything the service can be configured with.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// HTTP server settings.
    #[command(flatten)]
    pub http: HttpConfig,
    /// PostgreSQL settings.
    #[command(flatten)]
    pub db: DbConfig,
    /// Redis settings.
    #[command(flatten)]
    pub redis: RedisConfig,
    /// Cache settings.
    #[command(flatten)]
    pub cache: CacheConfig,
    /// Authentication settings.
    #[command(flatten)]
    pub auth: AuthConfig,
    /// Operator settings.
    #[command(flatten)]
    pub ops: OpsConfig,
    /// Rate limits.
    #[command(flatten)]
    pub limits: RateLimitConfig,
    /// The Telegram bot.
    #[command(flatten)]
    pub telegram: TelegramConfig,
    /// What operators are told without asking: alerts and the daily summary.
    #[command(flatten)]
    pub notify: NotifyConfig,
    /// Course images.
    #[command(flatten)]
    pub images: ImageConfig,
    /// Log output format: `json` (one flat object per line, for Render's log stream), `pretty` or
    /// `compact` (for a terminal). The level comes from `RUST_LOG`.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Compact, global = true)]
    pub log_format: LogFormat,
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Flat JSON, one object per line.
    Json,
    /// Multi-line, human-friendly.
    Pretty,
    /// One line per event, human-friendly.
    Compact,
}

/// Where the service runs; production turns on `Secure` cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppEnv {
    /// Local development and tests.
    Development,
    /// A deployed instance behind HTTPS.
    Production,
}

/// HTTP listener and request handling.
#[derive(Debug, Clone, Args)]
pub struct HttpConfig {
    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "0.0.0.0", global = true)]
    pub host: IpAddr,
    /// Port to listen on (Render sets it; 0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8080, global = true)]
    pub port: u16,
    /// `development` or `production` (production marks the auth cookie `Secure`).
    #[arg(long, env = "APP_ENV", value_enum, default_value_t = AppEnv::Development, global = true)]
    pub app_env: AppEnv,
    /// Milliseconds a request may take before it is answered 504.
    #[arg(long, env = "REQUEST_TIMEOUT", value_parser = parse_ms, default_value = "10000", global = true)]
    pub request_timeout: Duration,
    /// Largest accepted request body, in bytes (larger ones get 413).
    #[arg(long, env = "BODY_LIMIT", default_value_t = 1024 * 1024, global = true)]
    pub body_limit: usize,
    /// Comma-separated browser origins allowed by CORS (with credentials), e.g.
    /// `https://app.example.com,http://localhost:3000`. Empty: no cross-origin access.
    #[arg(
        long,
        env = "CORS_ORIGINS",
        value_delimiter = ',',
        default_value = "http://localhost:3000",
        global = true
    )]
    pub cors_origins: Vec<String>,
    /// Comma-separated addresses or CIDRs of reverse proxies whose `X-Forwarded-For` is believed.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", global = true)]
    pub trusted_proxies: String,
    /// Number of proxy hops that append to `X-Forwarded-For` in front of the service (2 on Render:
    /// Cloudflare's edge and Render's proxy). 0 trusts only `TRUSTED_PROXIES`.
    #[arg(long, env = "TRUSTED_PROXY_HOPS", default_value_t = 0, global = true)]
    pub trusted_proxy_hops: usize,
    /// Requests served at once; more wait briefly in a queue, then get 503 (load shedding).
    #[arg(
        long,
        env = "MAX_CONCURRENT_REQUESTS",
        default_value_t = 1024,
        global = true
    )]
    pub max_concurrent_requests: usize,
    /// Requests that may wait for a free slot when `MAX_CONCURRENT_REQUESTS` are running.
    #[arg(
        long,
        env = "MAX_QUEUED_REQUESTS",
        default_value_t = 256,
        global = true
    )]
    pub max_queued_requests: usize,
    /// Milliseconds a queued request waits for a slot before it gets 503.
    #[arg(long, env = "QUEUE_TIMEOUT", value_parser = parse_ms, default_value = "100", global = true)]
    pub queue_timeout: Duration,
    /// Milliseconds between SIGTERM and closing the listener, while health answers 503 so load
    /// balancers stop sending traffic.
    #[arg(long, env = "SHUTDOWN_DRAIN_DELAY", value_parser = parse_ms, default_value = "1000", global = true)]
    pub shutdown_drain_delay: Duration,
    /// Milliseconds the whole shutdown may take before the process exits anyway (Render kills
    /// after 30 s).
    #[arg(long, env = "SHUTDOWN_TIMEOUT", value_parser = parse_ms, default_value = "20000", global = true)]
    pub shutdown_timeout: Duration,
}

impl HttpConfig {
    /// The parsed `TRUSTED_PROXIES` list.
    pub fn trusted_nets(&self) -> Result<Vec<IpNet>, String> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_net)
            .collect()
    }
}

/// PostgreSQL connection pool.
#[derive(Debug, Clone, Args)]
pub struct DbConfig {
    /// PostgreSQL connection string.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/elearning",
        hide_env_values = true,
        global = true
    )]
    pub database_url: SecretString,
    /// Connections opened at start and kept open.
    #[arg(long, env = "MIN_CONNECTIONS", default_value_t = 10, global = true)]
    pub min_connections: usize,
    /// Most connections the pool opens under load.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 50, global = true)]
    pub max_connections: usize,
    /// Milliseconds allowed to open one database connection.
    #[arg(long, env = "CONNECTION_TIMEOUT", value_parser = parse_ms, default_value = "10000", global = true)]
    pub connection_timeout: Duration,
    /// Milliseconds a request waits for a free connection before it is answered 503.
    #[arg(long, env = "POOL_ACQUIRE_TIMEOUT", value_parser = parse_ms, default_value = "2000", global = true)]
    pub pool_acquire_timeout: Duration,
    /// Milliseconds after which an idle connection above `MIN_CONNECTIONS` is closed.
    #[arg(long, env = "POOL_IDLE_TIMEOUT", value_parser = parse_ms, default_value = "300000", global = true)]
    pub pool_idle_timeout: Duration,
    /// Milliseconds one SQL statement may run before PostgreSQL cancels it.
    #[arg(long, env = "STATEMENT_TIMEOUT", value_parser = parse_ms, default_value = "5000", global = true)]
    pub statement_timeout: Duration,
}

/// Redis connection.
#[derive(Debug, Clone, Args)]
pub struct RedisConfig {
    /// Full Redis URL (`redis://` or `rediss://` for TLS); overrides the `REDIS_HOST` family.
    #[arg(long, env = "REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<SecretString>,
    /// Redis host, used when `REDIS_URL` is not set.
    #[arg(long, env = "REDIS_HOST", default_value = "127.0.0.1", global = true)]
    pub redis_host: String,
    /// Redis port, used when `REDIS_URL` is not set.
    #[arg(long, env = "REDIS_PORT", default_value_t = 6379, global = true)]
    pub redis_port: u16,
    /// Redis password, used when `REDIS_URL` is not set.
    #[arg(long, env = "REDIS_PASSWORD", hide_env_values = true, global = true)]
    pub redis_password: Option<SecretString>,
    /// Redis database number, used when `REDIS_URL` is not set.
    #[arg(long, env = "REDIS_DB", default_value_t = 0, global = true)]
    pub redis_db: u8,
    /// Prefix of every key this service writes, so several services can share one Redis.
    #[arg(
        long,
        env = "REDIS_KEY_PREFIX",
        default_value = "elearning:",
        global = true
    )]
    pub redis_key_prefix: String,
    /// Milliseconds one Redis command may take; past it the call fails and the caller falls back.
    #[arg(long, env = "REDIS_COMMAND_TIMEOUT", value_parser = parse_ms, default_value = "100", global = true)]
    pub redis_command_timeout: Duration,
    /// Milliseconds allowed to open the Redis connection.
    #[arg(long, env = "REDIS_CONNECT_TIMEOUT", value_parser = parse_ms, default_value = "1000", global = true)]
    pub redis_connect_timeout: Duration,
}

/// Cache time-to-live defaults.
#[derive(Debug, Clone, Args)]
pub struct CacheConfig {
    /// Seconds a Redis cache entry lives when its cache type sets no TTL of its own.
    #[arg(long, env = "CACHE_TTL_DEFAULT", default_value_t = 300, global = true)]
    pub cache_ttl_default: u64,
    /// Milliseconds an entry lives in the in-process memory tier.
    #[arg(long, env = "MEMORY_CACHE_TTL", value_parser = parse_ms, default_value = "60000", global = true)]
    pub memory_cache_ttl: Duration,
    /// `false` turns both cache tiers off: every read goes to PostgreSQL (`X-Cache: BYPASS`).
    /// For benchmarks and diagnosis.
    #[arg(long, env = "CACHE_ENABLED", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub cache_enabled: bool,
    /// Bytes the in-process memory tier may hold (keys, bodies and bookkeeping).
    #[arg(long, env = "MEMORY_CACHE_MAX_BYTES", default_value_t = 64 * 1024 * 1024, global = true)]
    pub memory_cache_max_bytes: u64,
}

/// Token signing.
#[derive(Debug, Clone, Args)]
pub struct AuthConfig {
    /// Secret that signs session tokens (HS256); at least 32 characters. Required to serve.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<SecretString>,
    /// Seconds a session token stays valid.
    #[arg(long, env = "JWT_TTL", default_value_t = 3600, global = true)]
    pub jwt_ttl: u64,
    /// Firebase project whose ID tokens are accepted besides this service's own sessions (the
    /// frontend's Firebase sign-in during a migration). Unset: Firebase tokens are refused.
    #[arg(long, env = "FIREBASE_PROJECT_ID", global = true)]
    pub firebase_project_id: Option<String>,
    /// Where Google publishes the certificates that sign Firebase ID tokens (x509 JSON by key id).
    #[arg(
        long,
        env = "FIREBASE_CERTS_URL",
        default_value = crate::firebase::GOOGLE_CERTS_URL,
        global = true
    )]
    pub firebase_certs_url: String,
    /// Whether a verified Firebase user seen for the first time, and not linked to an account by
    /// a verified e-mail address, gets a new student account (`false`: 403 until an admin
    /// imports or creates the account).
    #[arg(long, env = "FIREBASE_AUTO_PROVISION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub firebase_auto_provision: bool,
    /// Enables `POST /api/auth/demo`, which signs in a demo account of a given role without a
    /// password. For demonstrations only: never in production.
    #[arg(long, env = "DEMO_LOGIN_ENABLED", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub demo_login_enabled: bool,
}

/// Rate limits per route group, `requests/seconds` (API.md §5). The read groups are higher
/// than the original's 30/60 and 20/60: a dashboard page makes several calls at once and a
/// classroom shares one address, so those numbers would trip honest users. Auth keeps 10/60.
#[derive(Debug, Clone, Args)]
pub struct RateLimitConfig {
    /// `false` turns rate limiting off (benchmarks, local runs).
    #[arg(long, env = "RATE_LIMIT_ENABLED", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub rate_limit_enabled: bool,
    /// Sign-up, login, logout, profile.
    #[arg(long, env = "RATE_LIMIT_AUTH", default_value = "10/60", global = true)]
    pub rate_limit_auth: crate::ratelimit::RateSpec,
    /// Dashboards.
    #[arg(
        long,
        env = "RATE_LIMIT_DASHBOARD",
        default_value = "120/60",
        global = true
    )]
    pub rate_limit_dashboard: crate::ratelimit::RateSpec,
    /// Course routes.
    #[arg(
        long,
        env = "RATE_LIMIT_COURSES",
        default_value = "300/60",
        global = true
    )]
    pub rate_limit_courses: crate::ratelimit::RateSpec,
    /// Quiz routes.
    #[arg(
        long,
        env = "RATE_LIMIT_QUIZZES",
        default_value = "60/60",
        global = true
    )]
    pub rate_limit_quizzes: crate::ratelimit::RateSpec,
    /// Uploads.
    #[arg(
        long,
        env = "RATE_LIMIT_UPLOAD",
        default_value = "5/300",
        global = true
    )]
    pub rate_limit_upload: crate::ratelimit::RateSpec,
    /// Every other API route.
    #[arg(
        long,
        env = "RATE_LIMIT_DEFAULT",
        default_value = "60/60",
        global = true
    )]
    pub rate_limit_default: crate::ratelimit::RateSpec,
    /// Allowance multipliers per role, e.g. `admin=2,formateur=1.5` (roles not listed: 1).
    #[arg(
        long,
        env = "RATE_LIMIT_ROLE_MULTIPLIERS",
        default_value = "admin=2,formateur=1.5",
        global = true
    )]
    pub rate_limit_role_multipliers: String,
    /// All requests of one IP address, whoever is signed in.
    #[arg(
        long,
        env = "RATE_LIMIT_IP_CEILING",
        default_value = "1200/60",
        global = true
    )]
    pub rate_limit_ip_ceiling: crate::ratelimit::RateSpec,
}

impl RateLimitConfig {
    /// The multiplier of `role` (1 when not listed or malformed; `validate` rejects malformed).
    /// The role multipliers, parsed (validated at start by [`Config::validate`]).
    pub fn parse_multipliers(&self) -> Result<Vec<(String, f64)>, String> {
        self.rate_limit_role_multipliers
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (role, x) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("expected role=multiplier, got {pair:?}"))?;
                let x: f64 = x
                    .trim()
                    .parse()
                    .map_err(|_| format!("{pair:?} is not a number"))?;
                if !(0.1..=10.0).contains(&x)
                    || !matches!(role.trim(), "admin" | "formateur" | "student")
                {
                    return Err(format!(
                        "{pair:?}: roles are admin, formateur, student; multipliers 0.1 to 10"
                    ));
                }
                Ok((role.trim().to_owned(), x))
            })
            .collect()
    }
}

/// Operator access.
#[derive(Debug, Clone, Args)]
pub struct OpsConfig {
    /// Bearer token that operators use on the operations endpoints (clear-cache, stats). When
    /// unset, only admin users may call them.
    #[arg(long, env = "OPS_TOKEN", hide_env_values = true, global = true)]
    pub ops_token: Option<SecretString>,

    /// Whether request figures (counts, latency histograms, history) are collected. On by
    /// default; off only to measure what collecting them costs (the stats, `/metrics` and the
    /// dashboard then show no request figures, and the latency and error-rate alerts stay
    /// quiet).
    #[arg(long, env = "FIGURES_ENABLED", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub figures_enabled: bool,

    /// The memory the instance may use, in MiB (the host's or container's limit; Render's
    /// starter plan has 512). The memory alert compares the resident set size with it.
    #[arg(long, env = "MEMORY_LIMIT_MB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(16..), global = true)]
    pub memory_limit_mb: u64,

    /// Alert when the 95th-percentile response time over the last minute exceeds this (ms).
    #[arg(long, env = "ALERT_P95_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub alert_p95_ms: u64,

    /// Alert when the share of 5xx answers over the last minute exceeds this (%).
    #[arg(long, env = "ALERT_ERROR_RATE", default_value_t = 5.0, global = true)]
    pub alert_error_rate: f64,

    /// Alert when the resident set size exceeds this share of `MEMORY_LIMIT_MB` (%).
    #[arg(
        long,
        env = "ALERT_MEMORY_PERCENT",
        default_value_t = 85.0,
        global = true
    )]
    pub alert_memory_percent: f64,

    /// Alert when the cache hit rate over the last minute falls below this (%).
    #[arg(
        long,
        env = "ALERT_CACHE_HIT_RATE",
        default_value_t = 70.0,
        global = true
    )]
    pub alert_cache_hit_rate: f64,

    /// Alert when requests have been waiting for a database connection this long (seconds).
    #[arg(
        long,
        env = "ALERT_POOL_WAIT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub alert_pool_wait_secs: u64,

    /// Requests (or cache lookups) in the last minute below which the rate-based alerts (error
    /// rate, p95, hit rate) do not judge: a handful of requests says nothing.
    #[arg(long, env = "ALERT_MIN_SAMPLES", default_value_t = 20, global = true)]
    pub alert_min_samples: u64,

    /// Alert when a quota passes this share of its limit (%): the database's size against
    /// `DATABASE_QUOTA_MB`, Redis memory against its limit, the server's connections against
    /// its `max_connections`.
    #[arg(
        long,
        env = "ALERT_QUOTA_PERCENT",
        default_value_t = 80.0,
        global = true
    )]
    pub alert_quota_percent: f64,

    /// The database's storage limit in MiB (the plan's disk: Render's Blueprint sets it). Unset:
    /// the size is shown without a limit and never alerts.
    #[arg(long, env = "DATABASE_QUOTA_MB", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub database_quota_mb: Option<u64>,

    /// Redis memory limit in MiB, for the Redis quota. Unset: Redis's own `maxmemory` (a managed
    /// Redis such as Render Key Value sets it to the plan's memory); set it when Redis reports
    /// none or hides it.
    #[arg(long, env = "REDIS_QUOTA_MB", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub redis_quota_mb: Option<u64>,

    /// Milliseconds between two quota checks (database size, Redis memory, server connections).
    #[arg(long, env = "QUOTA_CHECK_INTERVAL", value_parser = parse_ms, default_value = "60000", global = true)]
    pub quota_check_interval: Duration,
}

/// Course images: uploads, and the pool that decodes and resizes them off the async runtime.
#[derive(Debug, Clone, Args)]
pub struct ImageConfig {
    /// Largest accepted image upload, in bytes (413 beyond).
    #[arg(long, env = "IMAGE_MAX_BYTES", default_value_t = 5 * 1024 * 1024, global = true)]
    pub image_max_bytes: usize,

    /// Most pixels (width x height) an image may declare; larger ones are refused before they
    /// are decoded (decompression bombs).
    #[arg(
        long,
        env = "IMAGE_MAX_PIXELS",
        default_value_t = 40_000_000,
        global = true
    )]
    pub image_max_pixels: u64,

    /// Megabytes (MiB) that decoding, resizing and encoding images may hold at once, across
    /// the pool: each job reserves its estimated peak before it starts and waits in the queue
    /// until the jobs in flight leave enough. An upload whose largest job needs more than all
    /// of it is refused (422). The default fits a 512 MB instance beside everything else the
    /// service holds (a 6000x6000 RGB PNG, about 140 MB, is within it; an RGBA one is not).
    #[arg(long, env = "IMAGE_MEMORY_BUDGET_MB", default_value_t = 160, value_parser = clap::value_parser!(u64).range(16..=1_048_576), global = true)]
    pub image_memory_budget_mb: u64,

    /// Most a side of an image may be longer than its other side (`10`: 10:1, e.g. 4000x400).
    /// Longer shapes are refused at upload: no cover or picture needs them, and the renditions
    /// of a 1000x40000 image are beyond what WebP (16,383 pixels a side) can encode.
    #[arg(long, env = "IMAGE_MAX_ASPECT_RATIO", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    pub image_max_aspect_ratio: u32,

    /// Threads decoding and resizing images (0: one per core).
    #[arg(long, env = "THREAD_POOL_SIZE", default_value_t = 0, global = true)]
    pub thread_pool_size: usize,

    /// Image jobs that may wait for a thread; beyond, 503 + `Retry-After` at once.
    #[arg(long, env = "IMAGE_QUEUE_SIZE", default_value_t = 32, global = true)]
    pub image_queue_size: usize,

    /// Seconds a resized image stays in Redis (and, within its byte budget, in memory).
    #[arg(long, env = "IMAGE_CACHE_TTL", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub image_cache_ttl: u64,
}

impl ImageConfig {
    /// Threads of the image pool.
    pub fn threads(&self) -> usize {
        if self.thread_pool_size == 0 {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        } else {
            self.thread_pool_size
        }
    }
}

/// The Telegram bot (API.md §6): the webhook it answers and the `telegram` subcommands that
/// register it.
#[derive(Debug, Clone, Args)]
pub struct TelegramConfig {
    /// Bot token from @BotFather. The webhook does not need it (it answers in its HTTP
    /// response); the service sends alerts and the daily summary to `TELEGRAM_ADMIN_IDS` with it,
    /// and the `telegram` subcommands and `check` call the Bot API with it.
    #[arg(
        long,
        env = "TELEGRAM_BOT_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub telegram_bot_token: Option<SecretString>,
    /// Secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token` with every update: 16–256
    /// characters of `A-Z a-z 0-9 _ -` (e.g. `openssl rand -hex 32`; Telegram accepts 1–256,
    /// this service asks for at least 16). Unset: the webhook refuses everything.
    #[arg(
        long,
        env = "TELEGRAM_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub telegram_webhook_secret: Option<SecretString>,
    /// Comma-separated numeric Telegram user ids allowed the operator commands.
    #[arg(long, env = "TELEGRAM_ADMIN_IDS", default_value = "", value_parser = parse_telegram_ids, global = true)]
    pub telegram_admin_ids: TelegramIds,
    /// Public URL of the webhook that `telegram set-webhook` registers, e.g.
    /// `https://<service>.onrender.com/api/bot/webhook`.
    #[arg(long, env = "TELEGRAM_WEBHOOK_URL", global = true)]
    pub telegram_webhook_url: Option<String>,
    /// Base URL of the Bot API.
    #[arg(
        long,
        env = "TELEGRAM_API_BASE",
        default_value = "https://api.telegram.org",
        global = true
    )]
    pub telegram_api_base: String,
}

/// What operators are told without asking (`TELEGRAM_ADMIN_IDS`, through `TELEGRAM_BOT_TOKEN`):
/// every alert raised or cleared, and a daily summary.
#[derive(Debug, Clone, Args)]
pub struct NotifyConfig {
    /// Seconds during which an alert that was announced raised is not announced raised again:
    /// a flapping alert sends its first raise and clear, then stays quiet until the cool-down
    /// ends (and then says how many changes it held back, if still raised).
    #[arg(
        long,
        env = "ALERT_COOLDOWN_SECS",
        default_value_t = 600,
        global = true
    )]
    pub alert_cooldown_secs: u64,

    /// Hour of the day (UTC, 0 to 23) at which operators get the summary of the last 24 hours,
    /// or `off`.
    #[arg(long, env = "DAILY_SUMMARY_HOUR", default_value = "8", value_parser = parse_summary_hour, global = true)]
    pub daily_summary_hour: SummaryHour,

    /// Milliseconds one message to an operator keeps being retried (with backoff, or after
    /// the Bot API's `retry_after`) before it is given up.
    #[arg(long, env = "NOTIFY_RETRY_WINDOW", value_parser = parse_ms, default_value = "300000", global = true)]
    pub notify_retry_window: Duration,

    /// The name of this instance in operators' messages (Render sets it). Unset: the host name.
    #[arg(long, env = "RENDER_INSTANCE_ID", global = true)]
    pub render_instance_id: Option<String>,
}

/// `DAILY_SUMMARY_HOUR`: an hour of the day (UTC), or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryHour(pub Option<u32>);

/// Parses `DAILY_SUMMARY_HOUR`: `0` to `23`, or `off`.
pub fn parse_summary_hour(s: &str) -> Result<SummaryHour, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") {
        return Ok(SummaryHour(None));
    }
    match s.parse::<u32>() {
        Ok(hour) if hour < 24 => Ok(SummaryHour(Some(hour))),
        _ => Err(format!(
            "expected an hour from 0 to 23 (UTC) or `off`, got {s:?}"
        )),
    }
}

/// A list of Telegram user ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelegramIds(pub Vec<i64>);

impl TelegramIds {
    /// Whether `id` is in the list.
    pub fn contains(&self, id: i64) -> bool {
        self.0.contains(&id)
    }
}

/// Parses `TELEGRAM_ADMIN_IDS`: comma-separated whole numbers, blanks ignored.
pub fn parse_telegram_ids(s: &str) -> Result<TelegramIds, String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|id| {
            id.parse::<i64>()
                .map_err(|_| format!("{id:?} is not a Telegram user id (a whole number)"))
        })
        .collect::<Result<_, _>>()
        .map(TelegramIds)
}

/// The fewest characters `TELEGRAM_WEBHOOK_SECRET` may have, as for `OPS_TOKEN`: the secret is
/// all that stands between the internet and the operator commands. Telegram itself accepts 1.
pub const MIN_WEBHOOK_SECRET: usize = 16;

/// What `TELEGRAM_WEBHOOK_SECRET` must be: at least [`MIN_WEBHOOK_SECRET`] characters, within
/// what Telegram's `setWebhook` accepts (1–256 of `A-Za-z0-9_-`).
pub const WEBHOOK_SECRET_RULE: &str =
    "must be 16 to 256 characters of A-Z, a-z, 0-9, _ and - (e.g. `openssl rand -hex 32`)";

/// Whether `secret` follows [`WEBHOOK_SECRET_RULE`].
pub fn valid_webhook_secret(secret: &str) -> bool {
    (MIN_WEBHOOK_SECRET..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A configuration problem, reported with the variable's name.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl Config {
    /// Checks the rules that span fields or that clap cannot express. `serving` adds the rules that
    /// only matter for the HTTP server (a signing secret). Returns the first problem; see
    /// [`Config::problems`] for all of them.
    pub fn validate(&self, serving: bool) -> Result<(), ConfigError> {
        self.problems(serving)
            .into_iter()
            .next()
            .map_or(Ok(()), Err)
    }

    /// Every problem [`Config::validate`] would report, in the order of the configuration table
    /// (`elearning-api check` prints them all).
    pub fn problems(&self, serving: bool) -> Vec<ConfigError> {
        let mut out = Vec::new();
        let mut err = |var, problem: &str| {
            out.push(ConfigError {
                var,
                problem: problem.to_owned(),
            });
        };
        if self.db.max_connections == 0 {
            err("MAX_CONNECTIONS", "must be at least 1");
        }
        for (var, value) in [
            ("ALERT_ERROR_RATE", self.ops.alert_error_rate),
            ("ALERT_MEMORY_PERCENT", self.ops.alert_memory_percent),
            ("ALERT_CACHE_HIT_RATE", self.ops.alert_cache_hit_rate),
            ("ALERT_QUOTA_PERCENT", self.ops.alert_quota_percent),
        ] {
            if !(0.0..=100.0).contains(&value) {
                err(var, "must be a percentage between 0 and 100");
            }
        }
        if self.db.min_connections > self.db.max_connections {
            err("MIN_CONNECTIONS", "must not exceed MAX_CONNECTIONS");
        }
        if let Err(e) = self.db.pg_config() {
            err(
                "DATABASE_URL",
                &format!("is not a valid PostgreSQL URL ({e})"),
            );
        }
        if let Err(e) = self.redis.fred_config() {
            err("REDIS_URL", &format!("is not a valid Redis URL ({e})"));
        }
        if let Err(problem) = self.http.trusted_nets() {
            err("TRUSTED_PROXIES", &problem);
        }
        if self.http.max_concurrent_requests == 0 {
            err("MAX_CONCURRENT_REQUESTS", "must be at least 1");
        }
        if let Err(problem) = self.limits.parse_multipliers() {
            err("RATE_LIMIT_ROLE_MULTIPLIERS", &problem);
        }
        if self.images.image_max_bytes < 1024 {
            err("IMAGE_MAX_BYTES", "must be at least 1024 bytes");
        }
        if self.images.image_max_pixels == 0 {
            err("IMAGE_MAX_PIXELS", "must be at least 1");
        }
        if self.http.body_limit == 0 {
            err("BODY_LIMIT", "must be at least 1 byte");
        }
        if serving {
            match &self.auth.jwt_secret {
                None => err(
                    "JWT_SECRET",
                    "is required: set it to a random string of at least 32 characters",
                ),
                Some(s) if s.expose_secret().len() < 32 => {
                    err("JWT_SECRET", "must be at least 32 characters long");
                }
                Some(_) => {}
            }
        }
        if let Some(t) = &self.ops.ops_token
            && t.expose_secret().len() < 16
        {
            err("OPS_TOKEN", "must be at least 16 characters long");
        }
        if self.ops.quota_check_interval < Duration::from_millis(100) {
            err("QUOTA_CHECK_INTERVAL", "must be at least 100 ms");
        }
        if let Some(s) = &self.telegram.telegram_webhook_secret
            && !valid_webhook_secret(s.expose_secret())
        {
            err("TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET_RULE);
        }
        if let Some(token) = &self.telegram.telegram_bot_token
            && !token.expose_secret().trim().is_empty()
            && !valid_bot_token(token.expose_secret())
        {
            err(
                "TELEGRAM_BOT_TOKEN",
                "does not look like a bot token (<bot id>:<secret>, as @BotFather gives it)",
            );
        }
        if let Some(project) = &self.auth.firebase_project_id
            && !crate::firebase::valid_project_id(project)
        {
            err(
                "FIREBASE_PROJECT_ID",
                "must be a Firebase project id (6 to 30 characters of a-z, 0-9 and -)",
            );
        }
        if url::Url::parse(&self.auth.firebase_certs_url).is_err() {
            err("FIREBASE_CERTS_URL", "is not a valid URL");
        }
        if self.auth.demo_login_enabled && self.http.app_env == AppEnv::Production {
            err(
                "DEMO_LOGIN_ENABLED",
                "must not be true with APP_ENV=production (it signs in without a password)",
            );
        }
        if url::Url::parse(&self.telegram.telegram_api_base).is_err() {
            err("TELEGRAM_API_BASE", "is not a valid URL");
        }
        if self.notify.notify_retry_window < Duration::from_secs(1) {
            err("NOTIFY_RETRY_WINDOW", "must be at least 1000 ms");
        }
        out
    }
}

/// Whether `token` has the shape of a Bot API token: the bot's numeric id, `:`, and a secret of
/// `A-Za-z0-9_-` (the token is part of every Bot API URL, so anything else could not work).
pub fn valid_bot_token(token: &str) -> bool {
    token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && !secret.is_empty()
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

impl DbConfig {
    /// The parsed connection settings, with the statement timeout and connect timeout applied.
    pub fn pg_config(&self) -> Result<tokio_postgres::Config, tokio_postgres::Error> {
        let mut cfg: tokio_postgres::Config = self.database_url.expose_secret().parse()?;
        cfg.connect_timeout(self.connection_timeout);
        cfg.application_name("elearning-api");
        // A runaway query must not hold a pooled connection forever (reliability §4.3).
        let mut options = cfg.get_options().map(str::to_owned).unwrap_or_default();
        options.push_str(&format!(
            " -c statement_timeout={} -c idle_in_transaction_session_timeout={}",
            self.statement_timeout.as_millis(),
            self.statement_timeout.as_millis() * 2
        ));
        cfg.options(options.trim());
        Ok(cfg)
    }
}

impl RedisConfig {
    /// The fred client configuration built from `REDIS_URL`, or from the host/port/password/db
    /// variables.
    pub fn fred_config(&self) -> Result<fred::types::config::Config, fred::error::Error> {
        let url = match &self.redis_url {
            Some(url) => url.expose_secret().to_owned(),
            None => {
                let auth = match &self.redis_password {
                    Some(p) => format!(":{}@", urlencode(p.expose_secret())),
                    None => String::new(),
                };
                format!(
                    "redis://{auth}{}:{}/{}",
                    self.redis_host, self.redis_port, self.redis_db
                )
            }
        };
        let mut cfg = fred::types::config::Config::from_url(&url)?;
        // Boot must not fail when Redis is away: the service runs degraded and reconnects.
        cfg.fail_fast = false;
        Ok(cfg)
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Parses a number of milliseconds.
pub fn parse_ms(s: &str) -> Result<Duration, String> {
    s.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("expected a whole number of milliseconds, got {s:?}"))
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("expected an IP address or CIDR, got {s:?}"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{SummaryHour, parse_summary_hour, valid_bot_token};

    #[test]
    fn every_problem_is_listed_not_only_the_first() {
        let cli = crate::cli::Cli::try_parse_from([
            "elearning-api",
            "--min-connections",
            "9",
            "--max-connections",
            "5",
            "--alert-quota-percent",
            "120",
            "--quota-check-interval",
            "10",
            "--jwt-secret",
            "too short",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let problems: Vec<String> = cli
            .config
            .problems(true)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            problems,
            [
                "ALERT_QUOTA_PERCENT: must be a percentage between 0 and 100",
                "MIN_CONNECTIONS: must not exceed MAX_CONNECTIONS",
                "JWT_SECRET: must be at least 32 characters long",
                "QUOTA_CHECK_INTERVAL: must be at least 100 ms",
            ]
        );
        assert_eq!(
            cli.config.validate(true).map_err(|e| e.var),
            Err("ALERT_QUOTA_PERCENT"),
            "validate reports the first"
        );
    }

    #[test]
    fn summary_hours_and_bot_tokens_are_checked() {
        assert_eq!(parse_summary_hour("0"), Ok(SummaryHour(Some(0))));
        assert_eq!(parse_summary_hour(" 23 "), Ok(SummaryHour(Some(23))));
        assert_eq!(parse_summary_hour("OFF"), Ok(SummaryHour(None)));
        for bad in ["24", "-1", "8am", ""] {
            assert!(parse_summary_hour(bad).is_err(), "{bad:?}");
        }
        assert!(valid_bot_token("123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        for bad in ["123456", ":abc", "abc:def", "123:has space", "123:"] {
            assert!(!valid_bot_token(bad), "{bad:?}");
        }
    }
}
