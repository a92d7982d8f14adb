//! Key bindings: the default `assets/keymap.toml`, merged with a user file, per context.

use super::action::Action;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::path::Path;

/// The default keymap, compiled in.
pub const DEFAULT_KEYMAP: &str = include_str!("../../assets/keymap.toml");

/// Where keys are read: one section of the keymap each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    Queue,
    Filter,
    Editor,
    Note,
    Confirm,
    Help,
    Generate,
    Student,
}

impl Context {
    pub const ALL: [Context; 8] = [
        Context::Queue,
        Context::Filter,
        Context::Editor,
        Context::Note,
        Context::Confirm,
        Context::Help,
        Context::Generate,
        Context::Student,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Context::Queue => "queue",
            Context::Filter => "filter",
            Context::Editor => "editor",
            Context::Note => "note",
            Context::Confirm => "confirm",
            Context::Help => "help",
            Context::Generate => "generate",
            Context::Student => "student",
        }
    }
}

/// A key with modifiers, as the keymap spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    /// Parses `a`, `A`, `ctrl-c`, `alt-x`, `enter`, `pagedown`, `f5`, `space`, `?`.
    pub fn parse(s: &str) -> Option<Key> {
        let (mut ctrl, mut alt, mut rest) = (false, false, s);
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                (ctrl, rest) = (true, r);
            } else if let Some(r) = rest.strip_prefix("alt-") {
                (alt, rest) = (true, r);
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            f if f.len() > 1 && f.starts_with('f') => KeyCode::F(f[1..].parse().ok()?),
            c => {
                let mut chars = c.chars();
                let ch = chars.next()?;
                if chars.next().is_some() {
                    return None;
                }
                KeyCode::Char(if ctrl { ch.to_ascii_lowercase() } else { ch })
            }
        };
        Some(Key { code, ctrl, alt })
    }

    /// The key of a terminal event (shift is folded into the character).
    pub fn from_event(k: &KeyEvent) -> Key {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let code = match k.code {
            KeyCode::Char(c) if ctrl => KeyCode::Char(c.to_ascii_lowercase()),
            c => c,
        };
        Key { code, ctrl, alt: k.modifiers.contains(KeyModifiers::ALT) }
    }

    /// How help and the footer show the key.
    pub fn display(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_owned(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::BackTab => "S-tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}").to_lowercase(),
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("^{base}"),
            (_, true) => format!("M-{base}"),
            _ => base,
        }
    }
}

/// Problems reading a keymap file.
#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

type Section = BTreeMap<Action, Vec<Key>>;

/// Bindings per context.
#[derive(Debug, Clone, Default)]
pub struct Keymap {
    sections: BTreeMap<Context, Section>,
}

impl Keymap {
    /// The defaults alone.
    pub fn default_keys() -> Keymap {
        let mut km = Keymap::default();
        // The compiled-in file is checked by a test; an error here is a build defect.
        if let Err(e) = km.merge_str("assets/keymap.toml", DEFAULT_KEYMAP) {
            panic!("the default keymap is invalid: {e}");
        }
        km
    }

    /// The defaults with each existing user file merged over them, in order.
    pub fn load(user_files: &[&Path]) -> Result<Keymap, KeymapError> {
        let mut km = Keymap::default_keys();
        for f in user_files {
            if let Ok(text) = std::fs::read_to_string(f) {
                km.merge_str(&f.display().to_string(), &text)?;
            }
        }
        Ok(km)
    }

    /// Merges a keymap text over this one: its actions replace the keys they had, and a key it
    /// binds is removed from the section's other actions.
    pub fn merge_str(&mut self, file: &str, text: &str) -> Result<(), KeymapError> {
        let bad = |message: String| KeymapError::Invalid { file: file.to_owned(), message };
        let doc: BTreeMap<String, BTreeMap<String, toml::Value>> =
            toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        for (section, entries) in doc {
            let ctx = Context::ALL
                .into_iter()
                .find(|c| c.name() == section)
                .ok_or_else(|| bad(format!("unknown section [{section}]")))?;
            let sec = self.sections.entry(ctx).or_default();
            for (name, keys) in entries {
                let action: Action =
                    serde_json::from_value(serde_json::Value::String(name.clone()))
                        .map_err(|_| bad(format!("[{section}] unknown action `{name}`")))?;
                let list: Vec<String> = match keys {
                    toml::Value::String(s) => vec![s],
                    toml::Value::Array(a) => a
                        .into_iter()
                        .map(|v| v.as_str().map(str::to_owned))
                        .collect::<Option<_>>()
                        .ok_or_else(|| bad(format!("[{section}] {name}: keys must be strings")))?,
                    _ => {
                        return Err(bad(format!(
                            "[{section}] {name}: expected a key or a list of keys"
                        )))
                    }
                };
                let keys: Vec<Key> = list
                    .iter()
                    .map(|k| {
                        Key::parse(k)
                            .ok_or_else(|| bad(format!("[{section}] {name}: unknown key {k:?}")))
                    })
                    .collect::<Result<_, _>>()?;
                for other in sec.values_mut() {
                    other.retain(|k| !keys.contains(k));
                }
                sec.insert(action, keys);
            }
        }
        Ok(())
    }

    /// The action a key triggers in a context.
    pub fn action(&self, ctx: Context, key: &KeyEvent) -> Option<Action> {
        let k = Key::from_event(key);
        let sec = self.sections.get(&ctx)?;
        sec.iter().find(|(_, keys)| keys.contains(&k)).map(|(a, _)| *a)
    }

    /// The keys bound to an action in a context.
    pub fn keys(&self, ctx: Context, action: Action) -> &[Key] {
        self.sections.get(&ctx).and_then(|s| s.get(&action)).map_or(&[], Vec::as_slice)
    }

    /// Every binding of a context, for the help popup, in the file's action order.
    pub fn bindings(&self, ctx: Context) -> Vec<(Action, &[Key])> {
        self.sections
            .get(&ctx)
            .map(|s| {
                s.iter().filter(|(_, k)| !k.is_empty()).map(|(a, k)| (*a, k.as_slice())).collect()
            })
            .unwrap_or_default()
    }

    /// The keys as a Markdown page, one table per context (`docs/keys.md` is this page for the
    /// default keymap; a test keeps the two equal).
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "# Keys\n\nGenerated from the default keymap, [`assets/keymap.toml`](../assets/keymap.toml), by\n`DISTILLERY_WRITE_DOCS=1 cargo test keys_page`; the test fails when the two differ. Copy any\nlines to `~/.config/distillery/keymap.toml` (or point `[tui] keymap` in `distillery.toml` at a\nfile) and they merge over the defaults; `?` in the workbench shows the keymap in force.\n",
        );
        for ctx in Context::ALL {
            let bindings = self.bindings(ctx);
            if bindings.is_empty() {
                continue;
            }
            out += &format!("\n## {}\n\n| keys | action |\n|---|---|\n", ctx.name());
            for (action, keys) in bindings {
                let keys: Vec<String> =
                    keys.iter().map(|k| format!("`{}`", k.display().replace('|', "\\|"))).collect();
                out += &format!("| {} | {} |\n", keys.join(" "), action.describe());
            }
        }
        out
    }

    /// `key label` pairs for the footer, for the given actions that have a key.
    pub fn hints(&self, ctx: Context, actions: &[Action]) -> Vec<(String, &'static str)> {
        actions
            .iter()
            .filter_map(|&a| self.keys(ctx, a).first().map(|k| (k.display(), a.label())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn defaults_parse_and_bind() {
        let km = Keymap::default_keys();
        assert_eq!(km.action(Context::Queue, &ev('a')), Some(Action::Accept));
        assert_eq!(
            km.action(Context::Queue, &KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        // Backspace is bound to nothing in the queue: no destructive action on an easy key.
        assert_eq!(
            km.action(Context::Queue, &KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn user_file_overrides_and_steals_keys() {
        let mut km = Keymap::default_keys();
        km.merge_str("user.toml", "[queue]\nreject = [\"a\"]\n").unwrap();
        assert_eq!(km.action(Context::Queue, &ev('a')), Some(Action::Reject));
        assert_eq!(km.action(Context::Queue, &ev('x')), None);
        assert!(km.keys(Context::Queue, Action::Accept).is_empty());
    }

    #[test]
    fn bad_user_file_names_the_problem() {
        let mut km = Keymap::default_keys();
        let e = km.merge_str("user.toml", "[queue]\nfly = [\"z\"]\n").unwrap_err().to_string();
        assert!(e.contains("user.toml") && e.contains("fly"), "{e}");
        let e =
            km.merge_str("user.toml", "[queue]\naccept = [\"hyper-q\"]\n").unwrap_err().to_string();
        assert!(e.contains("hyper-q"), "{e}");
    }
}
