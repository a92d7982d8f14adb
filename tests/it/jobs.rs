//! Generation from the workbench: the dialog, the job's events, new candidates joining the
//! queue, and cancelling, driven through `App::update` with a real store.

use crate::common::{code, key, store_with, Harness};
use crossterm::event::KeyCode;
use distillery::recipes::run::Progress;
use distillery::recipes::Recipe;
use distillery::sample::{SampleText, Status};
use distillery::store::{NewSample, Provenance};
use distillery::tui::effects::{Effect, Event};
use distillery::work::jobs::{JobEvent, JobFailure, JobKind, JobSpec};

fn progress(kept: usize, dropped: usize) -> Progress {
    Progress { attempts: kept + dropped, kept, dropped, tokens: 100, seconds: 2.0 }
}

#[test]
fn the_dialog_starts_the_chosen_job() {
    let mut h = Harness::new(store_with(3, &[]));
    h.app.endpoints = vec!["vllm".into()];
    h.send(key('N'));
    assert!(h.app.popup.is_some(), "N opens the generation dialog");
    // recipe: next one; count: two steps up; teacher: the endpoint.
    h.send(code(KeyCode::Right))
        .send(code(KeyCode::Down))
        .send(code(KeyCode::Right))
        .send(code(KeyCode::Right));
    h.send(code(KeyCode::Down)).send(code(KeyCode::Right)).send(code(KeyCode::Enter));
    assert!(h.app.popup.is_none());
    let started: Vec<&JobSpec> = h
        .effects
        .iter()
        .filter_map(|e| if let Effect::StartJob(s) = e { Some(s) } else { None })
        .collect();
    assert_eq!(
        started,
        vec![&JobSpec { recipe: Recipe::EvolInstruct, n: 20, endpoint: Some("vllm".into()) }]
    );
    assert_eq!(h.app.job.as_ref().unwrap().state.to_string(), "loading the teacher…");
    // A second job waits for the first.
    h.send(key('N'));
    assert!(h.app.popup.is_none());
    assert!(h.app.notice.as_ref().unwrap().text.contains("running"));
}

#[test]
fn escape_closes_the_dialog_without_a_job() {
    let mut h = Harness::new(store_with(1, &[]));
    h.send(key('N')).send(code(KeyCode::Esc));
    assert!(h.app.popup.is_none() && h.app.job.is_none());
    assert!(!h.effects.iter().any(|e| matches!(e, Effect::StartJob(_))));
}

#[test]
fn kept_candidates_join_the_queue_as_they_finish() {
    let mut h = Harness::new(store_with(3, &[]));
    h.send(key('N')).send(code(KeyCode::Enter));
    h.send(Event::Job(JobEvent::Running { teacher: "tiny.gguf".into() }));
    assert_eq!(h.app.job.as_ref().unwrap().state.to_string(), "running on tiny.gguf");
    let cursor_id = h.app.current_id();
    // The job writes a sample through its own connection, then reports it.
    let text = SampleText::new("Generated question", "", "Generated answer");
    let p = Provenance {
        origin: "generated".into(),
        recipe: Some("self-instruct".into()),
        ..Provenance::default()
    };
    h.store.insert_samples(&[NewSample { text, task: None, provenance: p }]).unwrap();
    let id = h.store.last_sample_id().unwrap();
    h.send(Event::Job(JobEvent::Attempt {
        progress: progress(1, 0),
        kept: Some(id),
        line: format!("kept #{id}"),
    }));
    assert!(
        h.effects.iter().any(|e| matches!(e, Effect::LoadNewer { after: 3 })),
        "{:?}",
        h.effects
    );
    assert_eq!(h.app.counts.pending, 4);
    assert_eq!(h.app.index.newest_id(), Some(id));
    assert!(h.app.view.rows.iter().any(|&r| h.app.index.text(r).contains("Generated question")));
    assert_eq!(h.app.current_id(), cursor_id, "the cursor stays on the sample being read");
    // The same rows again (a late reply) change nothing.
    h.send(Event::NewRows(Vec::new()));
    assert_eq!(h.app.index.len(), 4);
    h.send(Event::Job(JobEvent::Finished { progress: progress(1, 2), cancelled: false }));
    let job = h.app.job.as_ref().unwrap();
    assert!(job.done && job.state.to_string() == "done");
    assert!(h.app.notice.as_ref().unwrap().text.contains("kept 1, dropped 2"));
    assert_eq!(h.status_of(id), Status::Pending);
}

#[test]
fn c_cancels_a_running_job_and_says_so_when_none_runs() {
    let mut h = Harness::new(store_with(1, &[]));
    h.send(key('C'));
    assert!(h.app.notice.as_ref().unwrap().text.contains("no generation job"));
    h.send(key('N')).send(code(KeyCode::Enter)).send(key('C'));
    assert!(h.effects.iter().any(|e| matches!(e, Effect::CancelJob)));
    assert!(h.app.job.as_ref().unwrap().state.to_string().starts_with("cancelling"));
    h.send(Event::Job(JobEvent::Finished { progress: progress(0, 1), cancelled: true }));
    assert_eq!(h.app.job.as_ref().unwrap().state.to_string(), "cancelled");
}

#[test]
fn a_failed_job_shows_its_error() {
    let mut h = Harness::new(store_with(1, &[]));
    h.send(key('N')).send(code(KeyCode::Enter));
    h.send(Event::Job(JobEvent::Failed(JobFailure::Error {
        kind: JobKind::Generate(Recipe::SelfInstruct),
        message: "endpoint vllm: HTTP 500".into(),
    })));
    let n = h.app.notice.as_ref().unwrap();
    assert!(n.error && n.text.contains("HTTP 500"));
    assert_eq!(h.app.job.as_ref().unwrap().state.to_string(), "failed");
}

#[test]
fn the_dialog_offers_backtranslation_from_the_documents_folder() {
    let mut h = Harness::new(store_with(1, &[]));
    h.send(key('N')).send(code(KeyCode::Right)).send(code(KeyCode::Right));
    let Some(distillery::tui::app::Popup::Generate(g)) = &h.app.popup else {
        panic!("the dialog is open")
    };
    assert_eq!(g.spec().recipe, Recipe::Backtranslation);
    h.send(code(KeyCode::Enter));
    assert!(h
        .effects
        .iter()
        .any(|e| matches!(e, Effect::StartJob(s) if s.recipe == Recipe::Backtranslation)));
}
