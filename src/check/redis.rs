//! Redis: reachable within `REDIS_CONNECT_TIMEOUT` (at least a second), writable under the
//! service's prefix, and with an eviction policy that suits what the service keeps there (cache
//! values, tag generations, rate-limit state):
//!
//! - `allkeys-lru` or `allkeys-lfu` (Render Key Value's `maxmemoryPolicy: allkeys-lru`): good;
//! - `noeviction` with a `maxmemory`: a failure, since once full every write fails (the cache
//!   stops storing, the rate limits fall back to each instance's);
//! - `volatile-*` or `allkeys-random`, or no `maxmemory` at all: a warning.

use std::time::{Duration, Instant};

use fred::{
    interfaces::{ClientLike, KeysInterface},
    types::{Expiration, InfoKind},
};
use secrecy::ExposeSecret;

use super::{Findings, Status};
use crate::{config::Config, ops::quota::parse_info, redis::Redis};

/// Where the check connects, without credentials.
fn target(config: &Config) -> String {
    match &config.redis.redis_url {
        Some(url) => url::Url::parse(url.expose_secret()).map_or_else(
            |_| "REDIS_URL".to_owned(),
            |u| {
                format!(
                    "{}:{}",
                    u.host_str().unwrap_or("?"),
                    u.port().unwrap_or(6379)
                )
            },
        ),
        None => format!("{}:{}", config.redis.redis_host, config.redis.redis_port),
    }
}

/// Checks Redis.
pub async fn check(config: &Config, out: &mut Findings) {
    if config.redis.fred_config().is_err() {
        out.add("redis", Status::Skip, "not checked: REDIS_URL is not valid");
        return;
    }
    let at = target(config);
    let redis = match Redis::connect(&config.redis) {
        Ok(r) => r,
        Err(err) => {
            out.add("redis", Status::Fail, format!("REDIS_URL: {err:#}"));
            return;
        }
    };
    let deadline = config
        .redis
        .redis_connect_timeout
        .max(Duration::from_secs(1));
    let started = Instant::now();
    let result = tokio::time::timeout(deadline, inspect(&redis, config)).await;
    redis.quit().await;
    let took = started.elapsed().as_millis();
    let (version, memory) = match result {
        Ok(Ok(found)) => found,
        Ok(Err(err)) => {
            out.add("redis", Status::Fail, format!("Redis at {at}: {err}"));
            return;
        }
        Err(_) => {
            out.add(
                "redis",
                Status::Fail,
                format!(
                    "Redis at {at} did not answer within {} ms (REDIS_URL, REDIS_CONNECT_TIMEOUT)",
                    deadline.as_millis()
                ),
            );
            return;
        }
    };
    out.add(
        "redis",
        Status::Ok,
        format!("Redis {version} at {at}: answered in {took} ms, writable"),
    );
    let info = parse_info(&memory);
    let policy = info.policy.unwrap_or_else(|| "unknown".to_owned());
    let maxmemory = info.maxmemory.unwrap_or(0);
    let (status, message) = eviction(maxmemory, &policy);
    out.add("redis", status, message);
}

/// Version, then `INFO memory`, after a write under the prefix.
async fn inspect(redis: &Redis, config: &Config) -> Result<(String, String), fred::error::Error> {
    redis.client().wait_for_connect().await?;
    let server: String = redis.client().info(Some(InfoKind::Server)).await?;
    let version = server
        .lines()
        .find_map(|l| {
            l.strip_prefix("valkey_version:")
                .map(|v| format!("(Valkey) {}", v.trim()))
                .or_else(|| {
                    l.strip_prefix("redis_version:")
                        .map(|v| v.trim().to_owned())
                })
        })
        .unwrap_or_else(|| "?".to_owned());
    let key = format!("{}check", config.redis.redis_key_prefix);
    let _: () = redis
        .client()
        .set(key, "1", Some(Expiration::EX(10)), None, false)
        .await?;
    let memory: String = redis.client().info(Some(InfoKind::Memory)).await?;
    Ok((version, memory))
}

/// The verdict on an eviction policy.
fn eviction(maxmemory: u64, policy: &str) -> (Status, String) {
    if maxmemory == 0 {
        return (
            Status::Warn,
            format!(
                "no maxmemory: Redis grows until its host runs out of memory (policy {policy}); \
                 set maxmemory with maxmemory-policy allkeys-lru, or REDIS_QUOTA_MB to watch it"
            ),
        );
    }
    let limit = format!("maxmemory {} MiB", maxmemory / (1024 * 1024));
    match policy {
        "allkeys-lru" | "allkeys-lfu" => (Status::Ok, format!("{limit}, eviction {policy}")),
        "noeviction" => (
            Status::Fail,
            format!(
                "{limit} with maxmemory-policy noeviction: once full, every write fails (the \
                 cache stops storing, rate limits fall back to each instance); use allkeys-lru"
            ),
        ),
        p if p.starts_with("volatile-") => (
            Status::Warn,
            format!(
                "{limit}, eviction {policy}: only keys with a TTL are evicted, and the cache's \
                 tag generations and instance set have none; allkeys-lru suits a cache better"
            ),
        ),
        _ => (
            Status::Warn,
            format!("{limit}, eviction {policy}: allkeys-lru suits a cache better"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{Status, eviction};

    #[test]
    fn eviction_policies_are_judged_for_a_cache() {
        let mb = 256 << 20;
        assert_eq!(eviction(mb, "allkeys-lru").0, Status::Ok);
        assert_eq!(eviction(mb, "allkeys-lfu").0, Status::Ok);
        assert_eq!(eviction(mb, "noeviction").0, Status::Fail);
        assert_eq!(eviction(mb, "volatile-lru").0, Status::Warn);
        assert_eq!(eviction(0, "noeviction").0, Status::Warn);
    }
}
