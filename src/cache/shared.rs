//! The Redis tier: values under `<prefix>c:<key>` and a generation counter per tag in the hash
//! `<prefix>gens`. Each stored value starts with a line naming its tags and their generations
//! when it was written. Each operation is one Lua script, so one round trip:
//!
//! - `get` returns the value if none of its tags' generations moved since it was written (a
//!   stale value is unlinked and reads as a miss), and the current generations of the tags
//!   asked about;
//! - `put` stores only if those generations did not move meanwhile (a load that raced with a
//!   write never overwrites the fresh state with the stale one it read); tags passed without a
//!   generation (those the load itself discovered) are stamped with their current one;
//! - `invalidate` bumps the generations and publishes the tags to the other instances.
//!
//! Invalidation is O(number of tags), whatever the number of entries carrying them: a tag such
//! as `courses` sits on every student's course list, and deleting thousands of keys inside a
//! script would block Redis for every other caller. Stale values are dropped when read, or
//! expire with their TTL.

use bytes::Bytes;
use fred::{
    prelude::*,
    types::{scan::Scanner, scripts::Script},
};

use crate::redis::Redis;

const GET: &str = r"
local out = {''}
local v = redis.call('GET', KEYS[1])
if v then
  local nl = string.find(v, '\n', 1, true)
  local fresh = nl ~= nil
  if fresh then
    local tag = nil
    for w in string.gmatch(string.sub(v, 1, nl - 1), '%S+') do
      if tag == nil then
        tag = w
      else
        if (redis.call('HGET', KEYS[2], tag) or '0') ~= w then fresh = false break end
        tag = nil
      end
    end
  end
  if fresh then out[1] = string.sub(v, nl + 1) else redis.call('UNLINK', KEYS[1]) end
end
for i = 1, #ARGV do out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[i]) or '0' end
return out";

const PUT: &str = r"
local head = {}
for i = 3, #ARGV, 2 do
  local seen = ARGV[i + 1]
  local now = redis.call('HGET', KEYS[2], ARGV[i]) or '0'
  if seen ~= '' and now ~= seen then return 0 end
  head[#head + 1] = ARGV[i]
  head[#head + 1] = now
end
redis.call('SET', KEYS[1], table.concat(head, ' ') .. '\n' .. ARGV[1], 'EX', ARGV[2])
return 1";

const INVALIDATE: &str = r"
for i = 5, #ARGV do redis.call('HINCRBY', KEYS[1], ARGV[i], 1) end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return redis.call('ZRANGEBYSCORE', KEYS[2], tonumber(ARGV[3]) - tonumber(ARGV[4]), '+inf')";

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
        let mut args: Vec<Bytes> = vec![value, Bytes::from(ttl_secs.to_string())];
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

    /// Invalidates `tags` in Redis and publishes `message` to every instance. Returns the ids
    /// of the instances alive now (who must acknowledge).
    pub async fn invalidate(
        &self,
        tags: &[String],
        message: &str,
    ) -> Result<Vec<String>, fred::error::Error> {
        let mut args = vec![
            self.channel(),
            message.to_owned(),
            now_ms().to_string(),
            PRESENCE_WINDOW_MS.to_string(),
        ];
        args.extend(tags.iter().cloned());
        self.invalidate
            .evalsha_with_reload(
                self.redis.client(),
                vec![self.gens_key(), self.instances_key()],
                args,
            )
            .await
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
