//! Keeps a reply within Telegram's message limit: 4,096 characters of text after entity parsing
//! (Bot API `sendMessage`), counted the way Telegram counts, in UTF-16 code units. A longer
//! `sendMessage` returned in the webhook's response fails on Telegram's side, where nobody sees
//! it, so the reply would silently never arrive.
//!
//! The reply is in Telegram's HTML subset. [`fit`] counts its markup too (so the parsed text is
//! shorter still), never cuts inside a tag or an entity (`&amp;`), and closes the tags left open
//! at the cut, so what Telegram parses stays well-formed.

/// Telegram's limit on a message's text, in UTF-16 code units.
pub const MAX_MESSAGE_UNITS: usize = 4096;

/// Marks a reply that was cut (one UTF-16 unit).
const ELLIPSIS: &str = "…";

/// The length of `text` as Telegram counts it.
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `text` unchanged when it fits in a message, else cut at the last place where it, an ellipsis
/// and the closing tags of the elements open there fit.
pub fn fit(text: String) -> String {
    if utf16_len(&text) <= MAX_MESSAGE_UNITS {
        return text;
    }
    let mut units = 0;
    let mut open: Vec<&str> = Vec::new();
    // The longest prefix that fits, with the tags open at its end.
    let mut cut = (0, Vec::new());
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let closing: usize = open.iter().map(|name| name.len() + 3).sum();
        if units + utf16_len(ELLIPSIS) + closing <= MAX_MESSAGE_UNITS {
            cut = (text.len() - rest.len(), open.clone());
        } else if units > MAX_MESSAGE_UNITS {
            break;
        }
        let token = next_token(rest);
        if let Some(tag) = token.strip_prefix('<') {
            let tag = tag.trim_end_matches('>');
            if let Some(name) = tag.strip_prefix('/') {
                if let Some(at) = open
                    .iter()
                    .rposition(|o| o.eq_ignore_ascii_case(name.trim()))
                {
                    open.truncate(at);
                }
            } else {
                open.push(tag.split_whitespace().next().unwrap_or_default());
            }
        }
        units += utf16_len(token);
        rest = &rest[token.len()..];
    }
    let (at, still_open) = cut;
    let mut out = String::with_capacity(at + 64);
    out.push_str(text[..at].trim_end());
    out.push_str(ELLIPSIS);
    for name in still_open.iter().rev() {
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out
}

/// The next indivisible piece of `rest` (not empty): a whole tag, a whole entity, or one
/// character.
fn next_token(rest: &str) -> &str {
    let end = match rest.as_bytes().first() {
        Some(b'<') => rest.find('>').map(|i| i + 1),
        Some(b'&') => rest
            .find(';')
            .filter(|&i| i <= 10 && !rest[1..i].contains([' ', '&', '<'])),
        _ => None,
    }
    .unwrap_or_else(|| rest.chars().next().map_or(rest.len(), char::len_utf8));
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_replies_are_left_alone() {
        let text = "<b>Commands</b>\n/start — welcome".to_owned();
        assert_eq!(fit(text.clone()), text);
        let exactly = "é".repeat(MAX_MESSAGE_UNITS);
        assert_eq!(fit(exactly.clone()), exactly);
    }

    #[test]
    fn long_replies_are_cut_to_the_limit_with_an_ellipsis() {
        let out = fit("a".repeat(10_000));
        assert_eq!(utf16_len(&out), MAX_MESSAGE_UNITS);
        assert!(out.ends_with('…'));
    }

    #[test]
    fn characters_outside_the_basic_plane_count_twice_and_are_never_split() {
        let out = fit("😀".repeat(3000));
        assert!(utf16_len(&out) <= MAX_MESSAGE_UNITS);
        assert_eq!(out.chars().filter(|c| *c == '😀').count(), 2047);
    }

    #[test]
    fn tags_left_open_are_closed_and_entities_kept_whole() {
        let text = format!("<b>{}</b>", "&amp;".repeat(2000));
        let out = fit(text);
        assert!(utf16_len(&out) <= MAX_MESSAGE_UNITS, "{}", utf16_len(&out));
        assert!(out.ends_with("&amp;…</b>"), "{}", &out[out.len() - 20..]);
        let text = format!(
            "<b>bold</b> <a href=\"https://x.y\">{}</a>",
            "z".repeat(5000)
        );
        let out = fit(text);
        assert!(out.starts_with("<b>bold</b> <a href"));
        assert!(out.ends_with("z…</a>"));
        assert!(utf16_len(&out) <= MAX_MESSAGE_UNITS);
    }
}
