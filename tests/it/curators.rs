//! Several curators on one workspace: who decided is on every event, undo takes back one's own,
//! a decision that changes nothing writes nothing, workbenches see each other's decisions, a
//! decision on a sample someone decided meanwhile asks first, and a busy store makes a decision
//! wait rather than fail.

use crate::common::*;
use distillery::sample::{SampleText, Status};
use distillery::store::{Decision, DecisionKind, NewSample, Provenance, Store};
use distillery::tui::app::Popup;
use distillery::tui::effects::{run_one, Effect, Event};

fn by(s: &mut Store, who: &str, ids: &[i64], kind: DecisionKind) -> i64 {
    s.decide(&Decision {
        sample_ids: ids.to_vec(),
        kind,
        seconds: Some(3.0),
        session: format!("{who}-session"),
        curator: who.into(),
        automatic: false,
        unless_decided_after: None,
    })
    .unwrap()
    .batch
}

fn events(s: &Store, who: &str) -> usize {
    s.session_events(&format!("{who}-session")).unwrap().len()
}

#[test]
fn a_decision_that_changes_nothing_appends_nothing() {
    let mut s = store_with(2, &[]);
    assert_ne!(by(&mut s, "ann", &[1], DecisionKind::Accept), 0);
    assert_eq!(by(&mut s, "ann", &[1], DecisionKind::Accept), 0, "accepting an accepted sample");
    let text = SampleText::new("Question 2", "", "Better");
    assert_ne!(by(&mut s, "ann", &[2], DecisionKind::Edit(text.clone())), 0);
    assert_eq!(by(&mut s, "ann", &[2], DecisionKind::Edit(text)), 0, "saving the same text");
    assert_eq!(by(&mut s, "ann", &[2], DecisionKind::Accept), 0, "an edited sample is kept");
    assert_eq!(events(&s, "ann"), 2);
    // A bulk decision writes only the samples it changes.
    by(&mut s, "ann", &[1, 2], DecisionKind::Reject);
    by(&mut s, "ann", &[1, 2], DecisionKind::Reject);
    assert_eq!(events(&s, "ann"), 4);
}

#[test]
fn undo_takes_back_the_curators_own_latest_action() {
    let mut s = store_with(3, &[]);
    by(&mut s, "ann", &[1], DecisionKind::Accept);
    by(&mut s, "bob", &[2], DecisionKind::Reject);
    let u = s.undo("ann", "ann-session").unwrap().unwrap();
    assert_eq!(u.committed.states[0].sample_id, 1, "ann's, though bob's is newer");
    assert_eq!(s.sample(2).unwrap().status, Status::Rejected);
    assert!(s.undo("ann", "ann-session").unwrap().is_none(), "ann has nothing left");
    // An automatic decision is anyone's to undo.
    s.decide(&Decision {
        sample_ids: vec![3],
        kind: DecisionKind::Accept,
        seconds: None,
        session: "auto-judge".into(),
        curator: "auto-judge".into(),
        automatic: true,
        unless_decided_after: None,
    })
    .unwrap();
    assert_eq!(s.undo("ann", "ann-session").unwrap().unwrap().committed.states[0].sample_id, 3);
    assert_eq!(s.undo("bob", "bob-session").unwrap().unwrap().committed.states[0].sample_id, 2);
}

#[test]
fn stats_give_each_curators_pace_and_their_agreement() {
    let mut s = store_with(10, &[]);
    // Both decide samples 1–8: alike on 6 (4 keep, 2 reject), apart on 2.
    for id in 1..=8 {
        let ann = if id <= 5 { DecisionKind::Accept } else { DecisionKind::Reject };
        let bob = if id <= 4 || id == 6 { DecisionKind::Accept } else { DecisionKind::Reject };
        by(&mut s, "ann", &[id], ann);
        by(&mut s, "bob", &[id], bob);
    }
    by(&mut s, "ann", &[9], DecisionKind::Accept);
    let st = s.stats().unwrap();
    let names: Vec<(&str, u64, u64)> =
        st.curators.iter().map(|c| (c.curator.as_str(), c.decisions, c.kept)).collect();
    assert_eq!(names, [("ann", 9, 6), ("bob", 8, 5)]);
    assert_eq!(st.curators[0].median_seconds, Some(3.0));
    let a = &st.curator_agreement[0];
    assert_eq!((a.a.as_str(), a.b.as_str(), a.samples, a.agreed), ("ann", "bob", 8, 6));
    // ann keeps 5/8, bob 5/8: chance 0.53125; observed 0.75; κ = 0.4667.
    assert!((a.kappa.unwrap() - 0.4667).abs() < 1e-3, "{a:?}");
    let lines = distillery::store::curator_report(&st.curators, &st.curator_agreement);
    assert!(lines.iter().any(|l| l.contains("ann and bob: 6 of 8 shared samples alike, κ 0.47")));
}

/// A workbench of `who` on the store file `db`.
fn bench(db: &std::path::Path, who: &str) -> Harness {
    let mut h = Harness::new(Store::open(db).unwrap());
    h.app.session = format!("{who}-session");
    h.app.curator = who.into();
    h
}

fn file_store(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("distillery.db");
    let mut s = Store::open(&db).unwrap();
    let rows: Vec<NewSample> = (1..=n)
        .map(|i| NewSample {
            text: SampleText::new(format!("Question {i}"), "", format!("Answer {i}")),
            task: None,
            provenance: Provenance::imported(format!("f.jsonl:{i}")),
        })
        .collect();
    s.insert_samples(&rows).unwrap();
    (dir, db)
}

fn row_status(h: &Harness, id: i64) -> Status {
    let i = h.app.index.find(id).unwrap();
    h.app.index.row(i).status
}

#[test]
fn workbenches_see_each_others_decisions_and_ask_before_overriding_one() {
    let (_dir, db) = file_store(3);
    let mut ann = bench(&db, "ann");
    let mut bob = bench(&db, "bob");
    assert_eq!(ann.app.current_id(), Some(3));
    ann.keys("a");
    assert_eq!(ann.status_of(3), Status::Accepted);
    // Bob's workbench looks once a second: the row follows, in place.
    assert_eq!(row_status(&bob, 3), Status::Pending);
    bob.send(Event::Tick);
    assert_eq!(row_status(&bob, 3), Status::Accepted);
    assert!(bob.app.notice.as_ref().unwrap().text.contains("by ann"), "{:?}", bob.app.notice);
    // Nothing changed: the look costs one pragma and says nothing.
    let before = bob.effects.len();
    bob.send(Event::Tick);
    assert!(matches!(bob.effects[before..], [Effect::Poll { .. }]));

    // Ann rejects 2 before Bob's workbench has looked again; Bob accepts 2: asked first.
    while ann.app.current_id() != Some(2) {
        ann.send(code(crossterm::event::KeyCode::Down));
    }
    ann.keys("x");
    let rejected = ann.app.index.find(2).map(|i| ann.app.index.row(i).status);
    assert_eq!(rejected, Some(Status::Rejected));
    while bob.app.current_id() != Some(2) {
        bob.send(code(crossterm::event::KeyCode::Down));
    }
    bob.keys("a");
    let Some(Popup::Confirm(c)) = &bob.app.popup else {
        panic!("no question: {:?}", bob.app.notice)
    };
    let why = c.reason.clone().unwrap();
    assert!(why.contains("sample 2 (reject by ann)"), "{why}");
    assert_eq!(bob.status_of(2), Status::Rejected, "nothing written before the answer");
    bob.keys("y");
    assert_eq!(bob.status_of(2), Status::Accepted, "decided anyway, as asked");
    assert_eq!(events(&bob.store, "bob"), 1);
}

#[test]
fn a_decision_waits_while_another_process_writes() {
    let (_dir, db) = file_store(2);
    let mut store = Store::open(&db).unwrap();
    store.set_busy_timeout(std::time::Duration::from_millis(100)).unwrap();
    // Another process holds the write lock for 1.5 s (a long import's transaction).
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE; INSERT INTO seed_rows (instruction, content_hash, created_at) VALUES ('x', x'01', 0);").unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        holder.execute_batch("COMMIT").unwrap();
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let d = Decision {
        sample_ids: vec![1],
        kind: DecisionKind::Accept,
        seconds: None,
        session: "ann-session".into(),
        curator: "ann".into(),
        automatic: false,
        unless_decided_after: None,
    };
    run_one(&mut store, Effect::Decide(d), &tx);
    release.join().unwrap();
    let got: Vec<Event> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(matches!(got.as_slice(), [Event::Waiting { .. }, Event::Committed { .. }]), "{got:?}");
    assert_eq!(store.sample(1).unwrap().status, Status::Accepted);
}

#[test]
fn the_workbench_shows_that_a_decision_waits() {
    let mut h = Harness::new(store_with(2, &[]));
    let fx = h.app.update(key('a'));
    assert!(matches!(fx.as_slice(), [Effect::Decide(_), ..]));
    h.app.update(Event::Waiting { ids: vec![2] });
    assert!(h.app.store_busy && h.app.notice.as_ref().unwrap().text.contains("waits"));
    let r = h.app.index.find(2).unwrap();
    assert!(h.app.index.row(r).saving, "the row shows the decision is on its way");
}

#[test]
fn a_second_curators_same_verdict_is_recorded_once() {
    let mut s = store_with(1, &[]);
    by(&mut s, "ann", &[1], DecisionKind::Accept);
    assert_ne!(by(&mut s, "bob", &[1], DecisionKind::Accept), 0, "bob's own verdict counts");
    assert_eq!(by(&mut s, "bob", &[1], DecisionKind::Accept), 0, "but only once");
    assert_eq!((events(&s, "ann"), events(&s, "bob")), (1, 1));
}
