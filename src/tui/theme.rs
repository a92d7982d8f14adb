//! Semantic colour slots; panes ask for `theme.accent`, never for a colour.

use ratatui::style::{Color, Modifier, Style};

/// The styles the panes use.
#[derive(Debug, Clone)]
pub struct Theme {
    pub text: Style,
    pub muted: Style,
    pub accent: Style,
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    pub score_hi: Style,
    pub score_lo: Style,
    pub selection: Style,
    pub matched: Style,
    pub title: Style,
    pub added: Style,
    pub removed: Style,
}

impl Theme {
    /// The theme for this terminal: no colours when `NO_COLOR` is set (no-color.org), only
    /// bold, reverse, underline and strike-through.
    pub fn from_env() -> Theme {
        match std::env::var_os("NO_COLOR") {
            Some(v) if !v.is_empty() => Theme::monochrome(),
            _ => Theme::default(),
        }
    }

    /// Every slot without colour; the distinctions that matter keep a modifier.
    pub fn monochrome() -> Theme {
        let plain = Style::default();
        Theme {
            text: plain,
            muted: plain,
            accent: plain.add_modifier(Modifier::BOLD),
            ok: plain,
            warn: plain.add_modifier(Modifier::BOLD),
            error: plain.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            score_hi: plain,
            score_lo: plain.add_modifier(Modifier::UNDERLINED),
            selection: plain.add_modifier(Modifier::REVERSED),
            matched: plain.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            title: plain.add_modifier(Modifier::BOLD),
            added: plain.add_modifier(Modifier::UNDERLINED),
            removed: plain.add_modifier(Modifier::CROSSED_OUT),
        }
    }
}

impl Default for Theme {
    fn default() -> Self {
        Theme {
            text: Style::default(),
            muted: Style::default().fg(Color::DarkGray),
            accent: Style::default().fg(Color::Cyan),
            ok: Style::default().fg(Color::Green),
            warn: Style::default().fg(Color::Yellow),
            error: Style::default().fg(Color::Red),
            score_hi: Style::default().fg(Color::Green),
            score_lo: Style::default().fg(Color::Red),
            selection: Style::default().add_modifier(Modifier::REVERSED),
            matched: Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            title: Style::default().add_modifier(Modifier::BOLD),
            added: Style::default().fg(Color::Green).add_modifier(Modifier::UNDERLINED),
            removed: Style::default().fg(Color::Red).add_modifier(Modifier::CROSSED_OUT),
        }
    }
}
