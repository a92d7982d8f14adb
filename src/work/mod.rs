//! The job layer: the work that runs in the background, with no screen and no command line.
//! Opening the teacher and the critic, generation, judging runs, and the training supervisor
//! live here; each job reports through its own event type to a sink its caller supplies (the
//! workbench turns them into its events, the CLI into progress bars). `cli` and `tui` call
//! these same functions with the same defaults.

pub mod events;
pub mod generate;
pub mod jobs;
pub mod judge_job;
pub mod judging;
pub mod open;
pub mod policy;
pub mod round;
pub mod run_files;
pub mod student;
pub mod training;
