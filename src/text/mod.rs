//! Text helpers for untrusted strings: cleaning for the terminal and width-aware truncation.

pub mod exact;
pub mod rouge;

use std::borrow::Cow;
use unicode_width::UnicodeWidthChar;

/// True for characters that must never reach a terminal from untrusted text: C0/C1 controls
/// (ESC starts escape sequences), DEL, and the bidi overrides/isolates that reorder what is shown.
fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}'
        | '\u{061c}' | '\u{feff}')
}

/// Cleans untrusted text for display: control and bidi-override characters become U+FFFD (so the
/// reader sees that something was there), tabs become four spaces, CR LF and lone CR become LF.
/// The stored bytes are never changed; call this where text enters the display.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) || c == '\t' || c == '\r') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push_str("    "),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            c if is_unsafe(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Cleans text for one line of a list: like [`clean`], with newlines shown as `⏎ `.
pub fn clean_line(s: &str) -> String {
    clean(s).replace('\n', "⏎ ")
}

/// The longest prefix of `s` that is at most `max` bytes, cut on a character boundary.
pub fn prefix_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Display width of a string in terminal cells (wide CJK and emoji count 2).
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Truncates to at most `max` cells, adding `…` when something was cut.
pub fn truncate_width(s: &str, max: usize) -> Cow<'_, str> {
    if width(s) <= max {
        return Cow::Borrowed(s);
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    Cow::Owned(out)
}

/// A short hash identifying a text exactly (a template or rubric, stored with every candidate).
pub fn template_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_escapes_and_bidi() {
        let evil = "ok\u{1b}[31mred\u{202e}txet\u{7}";
        let c = clean(evil);
        assert!(!c.contains('\u{1b}'));
        assert!(!c.contains('\u{202e}'));
        assert!(!c.contains('\u{7}'));
        assert_eq!(c, "ok\u{fffd}[31mred\u{fffd}txet\u{fffd}");
    }

    #[test]
    fn keeps_clean_text_borrowed() {
        assert!(matches!(clean("héllo 世界 👋\nnext"), Cow::Borrowed(_)));
        assert_eq!(clean("a\r\nb\rc\td"), "a\nb\nc    d");
    }

    #[test]
    fn truncates_by_cells() {
        assert_eq!(truncate_width("世界世界", 5), "世界…");
        assert_eq!(truncate_width("abc", 3), "abc");
        assert_eq!(prefix_bytes("é", 1), "");
        assert!(width(&truncate_width("👋👋👋👋", 5)) <= 5);
    }
}
