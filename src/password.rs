//! Password hashing with argon2id (default parameters: 19 MiB, 2 passes), off the async runtime.
//!
//! At most one hash per core runs at once; the others wait their turn. Each hash holds 19 MiB,
//! so without the bound a burst of sign-ins would take memory without limit (a hundred at once
//! is 1.9 GB, on an instance with 512 MB) and gain nothing, since the work is CPU-bound.

use std::sync::{LazyLock, OnceLock};

use tokio::sync::Semaphore;

static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)));

use anyhow::Context;
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};

/// Hashes a password (PHC string).
pub async fn hash(password: String) -> anyhow::Result<String> {
    // The permit moves into the task, so a caller that gives up does not free it early.
    let turn = HASHING.acquire().await.context("hashing is shut down")?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        hash_blocking(&password)
    })
    .await
    .context("hashing task failed")?
}

/// Hashes on the current thread; for the CLI and the seed.
pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks `password` against `stored`. With `stored = None` (unknown e-mail) a dummy hash is
/// checked instead, so both failures take the same time and cannot be told apart.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let Ok(turn) = HASHING.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking("not a real password, only used to spend time").unwrap_or_default()
    })
}
