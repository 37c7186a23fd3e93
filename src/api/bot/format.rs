//! Formatting of the bot's replies and of operators' messages, in Telegram's HTML subset. Every
//! interpolated value goes through [`escape_html`] (or [`esc`]).

use std::fmt::{Display, Write as _};

/// Escapes `&`, `<`, `>` and `"` for Telegram's HTML parse mode.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes any displayable value.
pub fn esc(value: impl Display) -> String {
    escape_html(&value.to_string())
}

/// A `label: value` line, the value escaped.
pub fn kv(out: &mut String, label: &str, value: impl Display) {
    let _ = writeln!(out, "{label}: {}", esc(value));
}

/// Microseconds as milliseconds with two decimals.
pub fn ms(micros: u64) -> String {
    format!("{:.2} ms", micros as f64 / 1000.0)
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Seconds as `1d 2h 3m 4s`, leaving out the leading zero units.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m {s}s")
    } else if h > 0 {
        format!("{h}h {m}m {s}s")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// The reply without its trailing newline.
pub fn finish(mut out: String) -> String {
    out.truncate(out.trim_end().len());
    out
}
