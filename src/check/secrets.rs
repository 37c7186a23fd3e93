//! Secrets of the required strength: at least 128 bits by the generous measure of length ×
//! log2(alphabet) (the alphabet being the character classes used), at least ten different
//! characters (a repeated word is not random), and none reused for another purpose. Render's
//! `generateValue` (256 bits, base64) and `openssl rand -hex 32` pass; `changeme`, a dictionary
//! phrase or a short token do not.

use std::collections::HashSet;

use secrecy::ExposeSecret;

use super::{Findings, Status};
use crate::config::Config;

/// Bits a secret must carry.
const MIN_BITS: f64 = 128.0;
/// Different characters a secret must use.
const MIN_DISTINCT: usize = 10;

/// Why `secret` is weak, if it is.
pub fn weakness(secret: &str) -> Option<String> {
    let mut alphabet = 0u32;
    let has = |f: fn(char) -> bool| secret.chars().any(f);
    if has(|c| c.is_ascii_lowercase()) {
        alphabet += 26;
    }
    if has(|c| c.is_ascii_uppercase()) {
        alphabet += 26;
    }
    if has(|c| c.is_ascii_digit()) {
        alphabet += 10;
    }
    if has(|c| !c.is_ascii_alphanumeric()) {
        alphabet += 33;
    }
    let length = secret.chars().count();
    let bits = length as f64 * f64::from(alphabet.max(1)).log2();
    let distinct = secret.chars().collect::<HashSet<_>>().len();
    if bits < MIN_BITS {
        Some(format!(
            "about {bits:.0} bits ({length} characters); at least {MIN_BITS:.0} are needed: \
             generate one with `openssl rand -hex 32`"
        ))
    } else if distinct < MIN_DISTINCT {
        Some(format!(
            "only {distinct} different characters: not a random value; generate one with \
             `openssl rand -hex 32`"
        ))
    } else {
        None
    }
}

/// Checks the service's own secrets.
pub fn check(config: &Config, out: &mut Findings) {
    let secrets = [
        ("JWT_SECRET", config.auth.jwt_secret.as_ref()),
        ("OPS_TOKEN", config.ops.ops_token.as_ref()),
        (
            "TELEGRAM_WEBHOOK_SECRET",
            config.telegram.telegram_webhook_secret.as_ref(),
        ),
    ];
    let mut strong = 0;
    for (var, secret) in secrets {
        let Some(secret) = secret.map(ExposeSecret::expose_secret) else {
            if var == "OPS_TOKEN" {
                out.add(
                    "secrets",
                    Status::Warn,
                    "OPS_TOKEN unset: only admins signed in to the app reach the operations endpoints",
                );
            }
            continue;
        };
        match weakness(secret) {
            Some(why) => out.add("secrets", Status::Fail, format!("{var}: {why}")),
            None => strong += 1,
        }
    }
    let set: Vec<(&str, &str)> = secrets
        .iter()
        .filter_map(|(var, s)| s.map(|s| (*var, s.expose_secret())))
        .collect();
    for (i, (a, first)) in set.iter().enumerate() {
        for (b, second) in &set[i + 1..] {
            if first == second {
                out.add(
                    "secrets",
                    Status::Fail,
                    format!("{a} and {b} are the same value: each secret must be its own"),
                );
            }
        }
    }
    if strong > 0
        && out
            .0
            .iter()
            .all(|f| f.check != "secrets" || f.status != Status::Fail)
    {
        out.add(
            "secrets",
            Status::Ok,
            format!("{strong} secret(s) of at least {MIN_BITS:.0} bits, none reused"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::weakness;

    #[test]
    fn random_values_pass_and_guessable_ones_do_not() {
        for strong in [
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "q0uWx3h5Yb1uZrL2mN8pT4vK7cD9eF6gH1jJ2kS3aQ=",
            "test-operator-token-0123456789",
        ] {
            assert_eq!(weakness(strong), None, "{strong}");
        }
        for weak in [
            "changeme",
            "short-token-1234",
            "secret-secret-secret-secret-secret!",
            &"a".repeat(64),
        ] {
            assert!(weakness(weak).is_some(), "{weak}");
        }
    }
}
