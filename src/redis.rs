//! The Redis client (fred), configured never to stall a request.
//!
//! fred's defaults wait forever: no command timeout, and no reconnection unless a policy is set
//! (perf-ecosystem §B.4). Here every command has a short deadline (`REDIS_COMMAND_TIMEOUT`), calls
//! made through [`Redis::fast`] fail at once while the connection is down instead of queueing, and
//! the client reconnects by itself with exponential backoff.

use std::time::{Duration, Instant};

use anyhow::Context;
use fred::{
    clients::Client,
    interfaces::ClientLike,
    types::config::{Options, ReconnectPolicy, UnresponsiveConfig},
};

use crate::config::RedisConfig;

/// The shared Redis client and this service's key prefix.
#[derive(Clone)]
pub struct Redis {
    client: Client,
    prefix: String,
    fast: Options,
}

impl Redis {
    /// Builds the client and starts connecting in the background; never waits for Redis.
    pub fn connect(cfg: &RedisConfig) -> anyhow::Result<Self> {
        let config = cfg
            .fred_config()
            .context("REDIS_URL is not a valid Redis URL")?;
        let timeout = cfg.redis_command_timeout;
        let client = fred::types::Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = cfg.redis_connect_timeout;
                c.internal_command_timeout = cfg.redis_connect_timeout;
                // No in-request retries (reliability §4.2): a failed call falls back at once.
                c.max_command_attempts = 1;
                // Detects a hung server (TCP open, no replies) and forces a reconnect.
                c.unresponsive = UnresponsiveConfig {
                    max_timeout: Some(Duration::from_secs(2)),
                    interval: Duration::from_millis(500),
                };
                c.max_command_buffer_len = 10_000;
            })
            .with_performance_config(|p| p.default_command_timeout = timeout)
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .build()
            .context("building the Redis client")?;
        client.connect();
        let fast = Options {
            timeout: Some(timeout),
            fail_fast: true,
            max_attempts: Some(1),
            ..Options::default()
        };
        Ok(Self {
            client,
            prefix: cfg.redis_key_prefix.clone(),
            fast,
        })
    }

    /// The client with fail-fast options: errors at once when disconnected, times out after
    /// `REDIS_COMMAND_TIMEOUT` otherwise.
    pub fn fast(&self) -> fred::clients::WithOptions<Client> {
        self.client.with_options(&self.fast)
    }

    /// The underlying client, for commands that need fred's full API (pub/sub, scripts).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// This service's key prefix (`REDIS_KEY_PREFIX`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A key under this service's prefix.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// Round trip of one PING, or `None` when Redis does not answer in time.
    pub async fn ping(&self) -> Option<Duration> {
        let start = Instant::now();
        let res: Result<String, _> = self.fast().ping(None).await;
        res.ok().map(|_| start.elapsed())
    }

    /// Closes the connection, waiting at most a second.
    pub async fn quit(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.client.quit()).await;
    }
}
