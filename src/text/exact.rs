//! Exact editing of untrusted text: the editor shows a copy where every unsafe character is one
//! visible symbol (control pictures), and saving maps the edited copy back onto the original so
//! that every character the curator did not change keeps its exact bytes (tabs, ESC, bidi marks).

use similar::{capture_diff_slices_deadline, Algorithm, DiffOp};
use std::time::{Duration, Instant};

/// The symbol shown for `c`: one character for one character, so positions line up.
fn shown(c: char) -> char {
    match c {
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('�'),
        '\u{7f}' => '\u{2421}',
        c if super::is_unsafe(c) => '\u{fffd}',
        c => c,
    }
}

/// The text as the editor shows it: tabs and newlines kept, every other control or bidi
/// character replaced by one visible symbol (ESC as `␛`, CR as `␍`, bidi marks as `�`).
pub fn visible(s: &str) -> String {
    s.chars().map(shown).collect()
}

/// Whether [`visible`] changes anything.
pub fn has_hidden(s: &str) -> bool {
    s.chars().any(|c| shown(c) != c)
}

/// The original `original` with the curator's changes from `edited` (a change of
/// `visible(original)`) applied: characters the diff finds unchanged keep the original's
/// character, typed ones are taken as typed. An unchanged copy gives the original back.
pub fn restore(original: &str, edited: &str) -> String {
    let old: Vec<char> = original.chars().collect();
    let shown_old: Vec<char> = old.iter().map(|&c| shown(c)).collect();
    let new: Vec<char> = edited.chars().collect();
    if shown_old == new {
        return original.to_owned();
    }
    // Myers' diff, bounded: past the deadline it gives a coarser (still correct) diff.
    let deadline = Some(Instant::now() + Duration::from_secs(1));
    let ops = capture_diff_slices_deadline(Algorithm::Myers, &shown_old, &new, deadline);
    let mut out = String::with_capacity(original.len() + edited.len().saturating_sub(old.len()));
    for op in ops {
        match op {
            DiffOp::Equal { old_index, len, .. } => {
                out.extend(&old[old_index..old_index + len]);
            }
            DiffOp::Insert { new_index, new_len, .. }
            | DiffOp::Replace { new_index, new_len, .. } => {
                out.extend(&new[new_index..new_index + new_len]);
            }
            DiffOp::Delete { .. } => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shows_controls_as_pictures_and_keeps_tabs() {
        assert_eq!(visible("a\tb\x1b[31m\r\n\u{202e}x\x7f"), "a\tb␛[31m␍\n\u{fffd}x␡");
        assert!(has_hidden("\x1b") && !has_hidden("a\tb\nc"));
    }

    #[test]
    fn an_unchanged_copy_is_the_original() {
        let s = "tab\there\x1b[0m\u{202e}\r\n";
        assert_eq!(restore(s, &visible(s)), s);
    }

    #[test]
    fn typed_pictures_stay_typed() {
        // A control picture the curator types is a character like any other.
        let s = "x\x1b";
        assert_eq!(restore(s, &format!("␛{}", visible(s))), "␛x\x1b");
    }

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z ]{0,6}",
            Just("\t".to_owned()),
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("\x1b[31m".to_owned()),
            Just("\u{202e}".to_owned()),
            Just("\u{2066}\u{200f}".to_owned()),
            Just("\u{0}\u{7f}\u{85}".to_owned()),
            Just("␛�".to_owned()),
            Just("é漢🙂".to_owned()),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(piece(), 0..24).prop_map(|v| v.concat())
    }

    /// At most one insertion, deletion or replacement apart.
    fn one_apart(a: &[char], b: &[char]) -> bool {
        let p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let s = a[p..].iter().rev().zip(b[p..].iter().rev()).take_while(|(x, y)| x == y).count();
        a.len().max(b.len()) - p - s <= 1 && a.len().abs_diff(b.len()) <= 1
    }

    proptest! {
        /// One character inserted, deleted or replaced in the shown copy changes exactly that
        /// character of the original.
        #[test]
        fn one_edit_changes_one_character(s in text(), at in 0usize..400, c in "[a-z\t]", op in 0u8..3) {
            let orig: Vec<char> = s.chars().collect();
            let mut shown: Vec<char> = visible(&s).chars().collect();
            let at = at % (orig.len() + 1);
            let c = c.chars().next().unwrap();
            let mut want = orig.clone();
            match op {
                0 => { shown.insert(at, c); want.insert(at, c); }
                _ if at == orig.len() => { shown.push(c); want.push(c); }
                1 => { shown.remove(at); want.remove(at); }
                _ => { shown[at] = c; want[at] = c; }
            }
            let edited: String = shown.iter().collect();
            let got = restore(&s, &edited);
            // The saved text shows as what the curator saw, and is one edit from the original.
            // Where identical symbols stand side by side (two bidi marks, or a typed `␛` beside
            // an ESC), which of them an edit took is not visible, and either is right.
            prop_assert_eq!(visible(&got), edited);
            let got: Vec<char> = got.chars().collect();
            prop_assert!(one_apart(&orig, &got), "{:?} -> {:?}", s, got);
            prop_assert!(got == want || visible(&got.iter().collect::<String>()) == visible(&want.iter().collect::<String>()));
        }
    }
}
