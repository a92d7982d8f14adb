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

    /// A command of the student pane (the pane passes them on).
    pub(super) fn on_student_action(
        &mut self,
        action: super::action::Action,
        fx: &mut Vec<super::effects::Effect>,
    ) {
        use super::action::Action;
        match action {
            Action::Train => {
                let (bases, tasks) = self
                    .student
                    .as_ref()
                    .map(|s| (s.bases.clone(), s.tasks.clone()))
                    .unwrap_or_default();
                let popup = super::panes::TrainPopup::new(bases, tasks);
                self.popup = Some(super::app::Popup::Train(popup));
            }
            Action::CancelTraining => fx.push(super::effects::Effect::Student(StudentCmd::Cancel)),
            Action::Evaluate => fx.push(super::effects::Effect::Student(StudentCmd::Evaluate)),
            _ => {}
        }
    }
}
