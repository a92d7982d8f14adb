//! `App::render`: lays out the panes and draws the popup on top. It only reads state.

use super::app::App;
use super::layout::Areas;
use super::panes::{Pane, QueuePanes, RenderCx, StatusBar};
use ratatui::Frame;

impl App {
    pub fn render(&self, f: &mut Frame) {
        let areas = Areas::of(f.area(), self.job.is_some());
        let cx = RenderCx { app: self, keymap: &self.keymap, theme: &self.theme };
        QueuePanes { filtering: self.filtering }.render(f, f.area(), &cx);
        super::jobs::render_job(f, areas.job, self);
        StatusBar::render_status(f, areas.status, self);
        StatusBar::render_footer(f, areas.footer, self);
        if let Some(p) = &self.popup {
            p.pane().render(f, areas.main, &cx);
        }
    }
}
