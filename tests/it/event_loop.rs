//! The real event loop, driven through a channel of key events, with the store worker thread.

use crate::common::*;
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use distillery::sample::Status;
use distillery::tui::app::App;
use distillery::tui::effects::{Event, StoreWorker};
use distillery::tui::keymap::Keymap;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::time::Duration;

#[tokio::test]
async fn keys_through_the_loop_reach_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    {
        let mut s = distillery::store::Store::open(&path).unwrap();
        let rows = store_rows(4);
        s.insert_samples(&rows).unwrap();
    }
    let store = distillery::store::Store::open(&path).unwrap();
    let (worker_tx, mut worker_rx) = tokio::sync::mpsc::unbounded_channel();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = StoreWorker::spawn(store, worker_tx);
    let (key_tx, mut key_rx) = tokio::sync::mpsc::unbounded_channel::<std::io::Result<TermEvent>>();
    let press = |c| Ok(TermEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    // Forward the worker's events to the loop; type the keys once the index is complete, as a
    // person would after seeing the queue (no sleeps: ordered by the channel).
    tokio::spawn(async move {
        while let Some(ev) = worker_rx.recv().await {
            let ready = matches!(ev, Event::IndexPage { done: true, .. });
            if tx.send(ev).is_err() {
                break;
            }
            if ready {
                for c in ['a', 'x', 'q'] {
                    let _ = key_tx.send(press(c));
                }
            }
        }
    });
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let app = App::new("loop".into(), Keymap::default_keys(), clock);
    let mut editor = |_: &mut Terminal<TestBackend>, id, _: &distillery::sample::SampleText| {
        Event::ExternalEdit { id, result: Ok(None) }
    };
    let mut make_input = Some(futures_util::stream::poll_fn(move |cx| key_rx.poll_recv(cx)));
    let run = distillery::tui::run(
        &mut terminal,
        app,
        move || make_input.take().expect("input made once"),
        &worker,
        rx,
        std::future::pending(),
        &mut editor,
    );
    let app = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the loop ends on q")
        .unwrap();
    assert!(app.quit);
    worker.finish();
    // Decisions sent before quitting are committed once the worker finishes.
    let s = distillery::store::Store::open(&path).unwrap();
    assert_eq!(s.sample(4).unwrap().status, Status::Accepted);
    assert_eq!(s.sample(3).unwrap().status, Status::Rejected);
}

fn store_rows(n: usize) -> Vec<distillery::store::NewSample> {
    (1..=n)
        .map(|i| distillery::store::NewSample {
            text: distillery::sample::SampleText::new(format!("Q{i}"), "", format!("A{i}")),
            task: None,
            provenance: distillery::store::Provenance::imported(format!("f:{i}")),
        })
        .collect()
}
