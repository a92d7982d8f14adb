//! The student from the workbench: the supervisor's views arrive as events, and the pane's keys
//! become its commands.

use crate::work::student::{StudentCmd, StudentView};

impl super::app::App {
    /// A new view from the watcher; its note, if any, goes to the status line.
    pub(super) fn on_student(&mut self, v: Box<StudentView>) {
        match &v.note {
            Some((text, true)) => self.fail(text.clone()),
            Some((text, false)) => self.say(text.clone()),
            None => {}
        }
        self.student = Some(v);
    }

    /// Keys of the student pane and the training dialog; false when neither is open.
    pub(super) fn on_student_key(
        &mut self,
        key: &crossterm::event::KeyEvent,
        fx: &mut Vec<super::effects::Effect>,
    ) -> bool {
        use super::action::Action;
        use super::app::Popup;
        use super::keymap::Context;
        match self.popup.as_mut() {
            Some(Popup::Student) => match self.keymap.action(Context::Student, key) {
                Some(Action::Train) => {
                    let (bases, tasks) = self
                        .student
                        .as_ref()
                        .map(|s| (s.bases.clone(), s.tasks.clone()))
                        .unwrap_or_default();
                    self.popup = Some(Popup::Train(super::panes::TrainPopup::new(bases, tasks)));
                }
                Some(Action::CancelTraining) => {
                    fx.push(super::effects::Effect::Student(StudentCmd::Cancel))
                }
                Some(Action::Evaluate) => {
                    fx.push(super::effects::Effect::Student(StudentCmd::Evaluate))
                }
                Some(Action::Close) => self.popup = None,
                _ => {}
            },
            Some(Popup::Train(p)) => match p.handle(self.keymap.action(Context::Generate, key)) {
                super::panes::TrainOutcome::Keep => {}
                super::panes::TrainOutcome::Close => self.popup = Some(Popup::Student),
                super::panes::TrainOutcome::Start(spec) => {
                    self.popup = Some(Popup::Student);
                    fx.push(super::effects::Effect::Student(StudentCmd::Train(spec)));
                }
            },
            _ => return false,
        }
        true
    }
}
