//! Failed secret checks per target: a throttle that slows a guess spread over many addresses
//! without locking the real owner out for long.
//!
//! The rate limits count requests per address; a guess spread over many addresses passes them.
//! This counts failures per target instead (an account's e-mail, the operator token, the webhook
//! secret): the first [`FREE_FAILURES`] in [`WINDOW`] cost nothing; each further one doubles the
//! wait before the next attempt at that target, from 1 s up to [`MAX_WAIT`]. A success clears the
//! count. So a guesser gets a handful of tries per quarter hour, while the owner, mistyped or
//! attacked, waits at most five minutes.
//!
//! The counts live in Redis, shared by every instance (so adding instances does not multiply
//! the allowance), with this instance's memory as the fallback while Redis does not answer.
//! Targets are hashed before they become keys: no address is stored in Redis.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fred::types::scripts::Script;
use sha2::{Digest, Sha256};

use crate::redis::Redis;

/// Failures in a window that cost no wait.
pub const FREE_FAILURES: u32 = 5;

/// How long failures are remembered after the last one.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The longest wait a target's failures can impose.
pub const MAX_WAIT: Duration = Duration::from_secs(300);

const FAIL: &str = "local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n";

const READ: &str = "local v = redis.call('HMGET', KEYS[1], 'n', 'last')
return {tonumber(v[1]) or 0, tonumber(v[2]) or 0}";

/// Failure counts per target.
pub struct SecretGuard {
    redis: Redis,
    fail: Script,
    read: Script,
    local: moka::sync::Cache<String, (u32, u64)>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The wait after `failures` failures, the last at `last_ms`: `None` when an attempt may go.
fn wait(failures: u32, last_ms: u64, now_ms: u64) -> Option<Duration> {
    if failures < FREE_FAILURES {
        return None;
    }
    let doublings = (failures - FREE_FAILURES).min(16);
    let delay = Duration::from_secs(1u64 << doublings).min(MAX_WAIT);
    let until = last_ms + delay.as_millis() as u64;
    (now_ms < until).then(|| Duration::from_millis(until - now_ms))
}

impl SecretGuard {
    /// Counts kept in `redis` under `<prefix>guard:`.
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            fail: Script::from_lua(FAIL),
            read: Script::from_lua(READ),
            local: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(WINDOW)
                .build(),
        }
    }

    fn key(&self, kind: &str, target: &str) -> String {
        let digest = Sha256::digest(target.trim().to_lowercase().as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.redis.key(&format!("guard:{kind}:{hex}"))
    }

    /// `Err(wait)` when `target` (of `kind`: `login`, `ops`, `webhook`) must wait before its
    /// next attempt.
    pub async fn check(&self, kind: &str, target: &str) -> Result<(), Duration> {
        let key = self.key(kind, target);
        let shared: Result<Vec<u64>, _> = self
            .read
            .evalsha_with_reload(self.redis.client(), vec![key.clone()], Vec::<String>::new())
            .await;
        let (n, last) = match shared {
            Ok(v) if v.len() == 2 => (u32::try_from(v[0]).unwrap_or(u32::MAX), v[1]),
            _ => self.local.get(&key).unwrap_or((0, 0)),
        };
        match wait(n, last, now_ms()) {
            Some(w) => Err(w),
            None => Ok(()),
        }
    }

    /// Records a failed attempt at `target`.
    pub async fn failed(&self, kind: &str, target: &str) {
        let key = self.key(kind, target);
        let now = now_ms();
        let (n, _) = self.local.get(&key).unwrap_or((0, 0));
        self.local.insert(key.clone(), (n.saturating_add(1), now));
        let _: Result<i64, _> = self
            .fail
            .evalsha_with_reload(
                self.redis.client(),
                vec![key],
                vec![now.to_string(), WINDOW.as_millis().to_string()],
            )
            .await;
    }

    /// Clears `target`'s failures after a success.
    pub async fn succeeded(&self, kind: &str, target: &str) {
        use fred::interfaces::KeysInterface;
        let key = self.key(kind, target);
        self.local.invalidate(&key);
        let _: Result<i64, _> = self.redis.fast().del(key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_starts_after_the_free_failures_and_doubles_to_a_cap() {
        let t = 1_000_000;
        assert_eq!(wait(FREE_FAILURES - 1, t, t), None);
        assert_eq!(wait(FREE_FAILURES, t, t), Some(Duration::from_secs(1)));
        assert_eq!(wait(FREE_FAILURES + 3, t, t), Some(Duration::from_secs(8)));
        assert_eq!(wait(FREE_FAILURES + 40, t, t), Some(MAX_WAIT));
        assert_eq!(
            wait(FREE_FAILURES + 3, t, t + 8_000),
            None,
            "the wait runs out"
        );
    }
}
