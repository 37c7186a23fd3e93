//! After an import that wrote rows, the running instances must not keep serving what they
//! cached before it. This does what `POST /api/performance/clear-cache` with
//! `{"scope": "all"}` does, from outside the service: a `clear` broadcast on the invalidation
//! channel (every live instance empties its memory tier and acknowledges), then the deletion of
//! the Redis tier's values.
//!
//! For the length of the clear this process joins the instances: it subscribes to the channel
//! (so the acknowledgements reach it and the clear returns as soon as every instance applied it),
//! and leaves the set of live instances before it returns.

use std::time::Duration;

use fred::interfaces::ClientLike;
use tokio_util::sync::CancellationToken;

use super::report::CacheOutcome;
use crate::{
    cache::{Cache, invalidation},
    config::RedisConfig,
    redis::Redis,
};

/// Clears every instance's caches through the Redis of `cfg`.
pub async fn clear_everywhere(cfg: &RedisConfig) -> CacheOutcome {
    let unreachable = |error: String| CacheOutcome::Unreachable { error };
    let redis = match Redis::connect(cfg) {
        Ok(redis) => redis,
        Err(err) => return unreachable(format!("{err:#}")),
    };
    let wait = cfg.redis_connect_timeout * 2;
    if !matches!(
        tokio::time::timeout(wait, redis.client().wait_for_connect()).await,
        Ok(Ok(()))
    ) {
        redis.quit().await;
        return unreachable(format!(
            "Redis did not answer within {} ms",
            wait.as_millis()
        ));
    }
    // This process caches nothing: a small memory tier that is never read.
    let cache = Cache::new(redis.clone(), 1 << 20, Duration::from_secs(1), true);
    let stop = CancellationToken::new();
    let listener = tokio::spawn(invalidation::listen(
        cache.clone(),
        cfg.clone(),
        stop.clone(),
    ));
    cache.wait_settled(wait).await;
    let cleared = cache.clear(true, true, None).await;
    cache.leave().await;
    stop.cancel();
    let _ = listener.await;
    redis.quit().await;
    if cleared.redis_ok {
        tracing::info!(
            redis_keys = cleared.redis,
            "cleared the caches of every instance"
        );
        CacheOutcome::Cleared {
            redis_keys: cleared.redis,
        }
    } else {
        unreachable("Redis failed during the clear".to_owned())
    }
}
