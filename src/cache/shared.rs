//! The Redis tier: values under `<prefix>c:<key>`, a set of keys per tag under `<prefix>t:<tag>`,
//! and a generation counter per tag in the hash `<prefix>gens`. Each operation is one Lua script,
//! so one round trip:
//!
//! - `get` returns the value and the current generations of its tags;
//! - `put` stores only if those generations did not move meanwhile (a load that raced with a
//!   write never overwrites the fresh state with the stale one it read); tags passed without a
//!   generation (those the load itself discovered) are not checked;
//! - `invalidate` bumps the generations, deletes the tagged keys and publishes the tags to the
//!   other instances.

use bytes::Bytes;
use fred::{
    prelude::*,
    types::{scan::Scanner, scripts::Script},
};

use crate::redis::Redis;

const GET: &str = r"
local v = redis.call('GET', KEYS[1]) or ''
local out = {v}
for i = 1, #ARGV do out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[i]) or '0' end
return out";

const PUT: &str = r"
for i = 4, #ARGV, 2 do
  local seen = ARGV[i + 1]
  if seen ~= '' and (redis.call('HGET', KEYS[2], ARGV[i]) or '0') ~= seen then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
for i = 4, #ARGV, 2 do
  local s = ARGV[3] .. ARGV[i]
  redis.call('SADD', s, KEYS[1])
  redis.call('EXPIRE', s, 3600)
end
return 1";

const INVALIDATE: &str = r"
local n = 0
for i = 6, #ARGV do
  redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
  local s = ARGV[1] .. ARGV[i]
  for _, k in ipairs(redis.call('SMEMBERS', s)) do n = n + redis.call('UNLINK', k) end
  redis.call('UNLINK', s)
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
local live = redis.call('ZRANGEBYSCORE', KEYS[2], tonumber(ARGV[4]) - tonumber(ARGV[5]), '+inf')
table.insert(live, 1, tostring(n))
return live";

const REGISTER: &str = r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[3]))
return redis.call('ZCARD', KEYS[1])";

/// How long an instance counts as alive after its last heartbeat.
pub const PRESENCE_WINDOW_MS: u64 = 10_000;

/// The scripts and key layout of the Redis tier.
pub struct SharedTier {
    redis: Redis,
    get: Script,
    put: Script,
    invalidate: Script,
    register: Script,
}

/// A Redis lookup: the value if present, and the generations of the tags asked about.
pub struct Lookup {
    /// Stored bytes (tags header + body).
    pub value: Option<Bytes>,
    /// Generation of each tag, in order.
    pub gens: Vec<String>,
}

impl SharedTier {
    /// The tier on `redis`.
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            get: Script::from_lua(GET),
            put: Script::from_lua(PUT),
            invalidate: Script::from_lua(INVALIDATE),
            register: Script::from_lua(REGISTER),
        }
    }

    /// Key of a value.
    pub fn value_key(&self, key: &str) -> String {
        self.redis.key(&format!("c:{key}"))
    }

    fn gens_key(&self) -> String {
        self.redis.key("gens")
    }

    /// The channel invalidations and clears are published on.
    pub fn channel(&self) -> String {
        self.redis.key("invalidate")
    }

    /// Reads a value and the generations of `tags`.
    pub async fn get(&self, key: &str, tags: &[String]) -> Result<Lookup, fred::error::Error> {
        let reply: Vec<Bytes> = self
            .get
            .evalsha_with_reload(
                self.redis.client(),
                vec![self.value_key(key), self.gens_key()],
                tags.to_vec(),
            )
            .await?;
        let mut it = reply.into_iter();
        let value = it.next().filter(|v| !v.is_empty());
        let gens = it
            .map(|g| String::from_utf8_lossy(&g).into_owned())
            .collect();
        Ok(Lookup { value, gens })
    }

    /// Stores a value for `ttl_secs` unless a tag's generation moved since `gens` was read.
    pub async fn put(
        &self,
        key: &str,
        value: Bytes,
        ttl_secs: u64,
        tags: &[String],
        gens: &[String],
    ) -> Result<bool, fred::error::Error> {
        let mut args: Vec<Bytes> = vec![
            value,
            Bytes::from(ttl_secs.to_string()),
            Bytes::from(self.redis.key("t:")),
        ];
        for (tag, generation) in tags.iter().zip(gens) {
            args.push(Bytes::from(tag.clone()));
            args.push(Bytes::from(generation.clone()));
        }
        let stored: i64 = self
            .put
            .evalsha_with_reload(
                self.redis.client(),
                vec![self.value_key(key), self.gens_key()],
                args,
            )
            .await?;
        Ok(stored == 1)
    }

    /// Invalidates `tags` in Redis and publishes `message` to every instance. Returns the
    /// keys deleted and the ids of the instances alive now (who must acknowledge).
    pub async fn invalidate(
        &self,
        tags: &[String],
        message: &str,
    ) -> Result<(i64, Vec<String>), fred::error::Error> {
        let mut args = vec![
            self.redis.key("t:"),
            self.channel(),
            message.to_owned(),
            now_ms().to_string(),
            PRESENCE_WINDOW_MS.to_string(),
        ];
        args.extend(tags.iter().cloned());
        let reply: Vec<String> = self
            .invalidate
            .evalsha_with_reload(
                self.redis.client(),
                vec![self.gens_key(), self.instances_key()],
                args,
            )
            .await?;
        let mut it = reply.into_iter();
        let deleted = it.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        Ok((deleted, it.collect()))
    }

    fn instances_key(&self) -> String {
        self.redis.key("instances")
    }

    /// Heartbeat: records `instance` as alive; returns how many are.
    pub async fn register(&self, instance: &str) -> Result<i64, fred::error::Error> {
        let args = vec![
            now_ms().to_string(),
            instance.to_owned(),
            PRESENCE_WINDOW_MS.to_string(),
        ];
        self.register
            .evalsha_with_reload(self.redis.client(), vec![self.instances_key()], args)
            .await
    }

    /// Removes `instance` from the live set (at shutdown).
    pub async fn unregister(&self, instance: &str) -> Result<(), fred::error::Error> {
        let _: i64 = self
            .redis
            .fast()
            .zrem(self.instances_key(), instance)
            .await?;
        Ok(())
    }

    /// Publishes a message to every instance.
    pub async fn publish(&self, message: &str) -> Result<(), fred::error::Error> {
        let _: i64 = self.redis.fast().publish(self.channel(), message).await?;
        Ok(())
    }

    /// Deletes this service's cached values (all, or those of one kind) with SCAN + UNLINK,
    /// never touching other keys. Returns how many were deleted.
    pub async fn clear(&self, kind: Option<&str>) -> Result<u64, fred::error::Error> {
        use futures::TryStreamExt;
        let pattern = match kind {
            Some(k) => format!("{}{k}:*", self.value_key("")),
            None => format!("{}*", self.value_key("")),
        };
        let client = self.redis.client().clone();
        let mut deleted = 0u64;
        let mut pages = client.scan(pattern, Some(500), None);
        while let Some(mut page) = pages.try_next().await? {
            if let Some(keys) = page.take_results()
                && !keys.is_empty()
            {
                let n: u64 = client.unlink(keys).await?;
                deleted += n;
            }
        }
        Ok(deleted)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
