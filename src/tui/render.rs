//! `App::render`: lays out the panes and draws the popup on top. It only draws state.

use super::app::{App, Popup};
use super::panes::{DetailPane, QueuePane, StatusBar};
use ratatui::layout::{Constraint, Layout};
use ratatui::Frame;

impl App {
    pub fn render(&mut self, f: &mut Frame) {
        let area = f.area();
        let job_lines = u16::from(self.job.is_some());
        let [main, job, status, footer] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(job_lines),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        // Side by side when there is room, stacked on narrow terminals.
        let [queue, detail] = if main.width >= 70 {
            Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)]).areas(main)
        } else {
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(main)
        };
        QueuePane::render(f, queue, self);
        DetailPane::render(f, detail, self);
        super::jobs::render_job(f, job, self);
        StatusBar::render_status(f, status, self);
        StatusBar::render_footer(f, footer, self);
        let (keymap, theme) = (&self.keymap, &self.theme);
        match self.popup.as_mut() {
            Some(Popup::Help(p)) => p.render(f, main, keymap, theme),
            Some(Popup::Editor(p)) => p.render(f, main, keymap, theme),
            Some(Popup::Note(p)) => p.render(f, main, theme),
            Some(Popup::Confirm(p)) => p.render(f, main, keymap, theme),
            Some(Popup::Generate(p)) => p.render(f, main, keymap, theme),
            Some(Popup::Stats(p)) => p.render(f, main, theme),
            Some(Popup::Student) => {
                super::panes::render_student(f, main, self.student.as_deref(), keymap, theme)
            }
            Some(Popup::Train(p)) => p.render(f, main, keymap, theme),
            None => {}
        }
    }
}
