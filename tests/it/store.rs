//! The store: append-only decisions, derived status, undo, de-duplication, stats.

use crate::common::*;
use distillery::sample::{SampleText, Status};
use distillery::store::{Decision, DecisionKind, NewSample, Provenance, Store};

fn decide(s: &mut Store, ids: &[i64], kind: DecisionKind) -> i64 {
    s.decide(&Decision {
        sample_ids: ids.to_vec(),
        kind,
        seconds: Some(2.0),
        session: "t".into(),
        curator: "t".into(),
        automatic: false,
        unless_decided_after: None,
    })
    .unwrap()
    .batch
}

fn event_count(s: &Store) -> usize {
    s.session_events("t").unwrap().len()
}

#[test]
fn status_is_derived_from_the_latest_decision() {
    let mut s = store_with(3, &[]);
    assert_eq!(s.sample(1).unwrap().status, Status::Pending);
    decide(&mut s, &[1], DecisionKind::Accept);
    decide(&mut s, &[1], DecisionKind::Reject);
    assert_eq!(s.sample(1).unwrap().status, Status::Rejected);
    decide(&mut s, &[1], DecisionKind::Edit(SampleText::new("Question 1", "", "Better")));
    let d = s.sample(1).unwrap();
    assert_eq!(
        (d.status, d.current.output.as_str(), d.original.output.as_str(), d.edits),
        (Status::Edited, "Better", "Answer 1", 1)
    );
    decide(&mut s, &[1], DecisionKind::Accept);
    assert_eq!(
        s.sample(1).unwrap().status,
        Status::Edited,
        "accepting an edited sample keeps it marked edited"
    );
    assert!(s.rebuild_state().unwrap().is_empty(), "the derived table matches the log");
}

#[test]
fn undo_appends_and_never_deletes() {
    let mut s = store_with(3, &[]);
    decide(&mut s, &[1], DecisionKind::Accept);
    decide(&mut s, &[2, 3], DecisionKind::Reject);
    assert_eq!(event_count(&s), 3);
    let u = s.undo("t", "t").unwrap().unwrap();
    assert_eq!(
        (u.kind.as_str(), u.committed.states.len()),
        ("reject", 2),
        "the whole batch is undone"
    );
    assert_eq!(event_count(&s), 5, "undo adds events");
    assert_eq!(
        (s.sample(2).unwrap().status, s.sample(3).unwrap().status),
        (Status::Pending, Status::Pending)
    );
    s.undo("t", "t").unwrap().unwrap();
    assert_eq!(s.sample(1).unwrap().status, Status::Pending);
    assert!(s.undo("t", "t").unwrap().is_none(), "nothing left");
    assert_eq!(event_count(&s), 6);
    assert!(s.rebuild_state().unwrap().is_empty());
}

#[test]
fn undo_of_an_edit_restores_the_previous_text() {
    let mut s = store_with(1, &[]);
    decide(&mut s, &[1], DecisionKind::Edit(SampleText::new("Question 1", "", "v1")));
    decide(&mut s, &[1], DecisionKind::Edit(SampleText::new("Question 1", "", "v2")));
    let u = s.undo("t", "t").unwrap().unwrap();
    assert_eq!(u.committed.states[0].text.as_ref().unwrap().output, "v1");
    assert_eq!(s.sample(1).unwrap().current.output, "v1");
    s.undo("t", "t").unwrap();
    let d = s.sample(1).unwrap();
    assert_eq!((d.status, d.current.output.as_str()), (Status::Pending, "Answer 1"));
}

#[test]
fn decisions_on_missing_samples_fail_whole() {
    let mut s = store_with(2, &[]);
    let r = s.decide(&Decision {
        sample_ids: vec![1, 99],
        kind: DecisionKind::Accept,
        seconds: None,
        session: "t".into(),
        curator: "t".into(),
        automatic: false,
        unless_decided_after: None,
    });
    assert!(r.unwrap_err().to_string().contains("99"));
    assert_eq!(s.sample(1).unwrap().status, Status::Pending, "the transaction rolled back");
    assert_eq!(event_count(&s), 0);
}

#[test]
fn importing_twice_adds_nothing() {
    let mut s = Store::open_in_memory().unwrap();
    let rows: Vec<NewSample> = ["a", "b", "a"]
        .iter()
        .map(|t| NewSample {
            text: SampleText::new(*t, "", "x"),
            task: None,
            provenance: Provenance::imported("f:1".into()),
        })
        .collect();
    let r = s.insert_samples(&rows).unwrap();
    assert_eq!((r.added, r.already_present, r.repeated_in_file), (2, 0, 1));
    let r = s.insert_samples(&rows).unwrap();
    assert_eq!((r.added, r.already_present, r.repeated_in_file), (0, 2, 1));
    assert_eq!(s.sample_count().unwrap(), 2);
}

#[test]
fn multi_turn_history_is_stored() {
    let mut t = SampleText::new("u2", "", "a2");
    t.system = Some("sys".into());
    t.history = vec![
        distillery::sample::Message { role: distillery::sample::Role::User, content: "u1".into() },
        distillery::sample::Message {
            role: distillery::sample::Role::Assistant,
            content: "a1".into(),
        },
    ];
    let s = store_with(0, std::slice::from_ref(&t));
    assert_eq!(s.sample(1).unwrap().original, t);
}

#[test]
fn stats_count_rates_and_edits() {
    let mut s = store_with(4, &[]);
    decide(&mut s, &[1], DecisionKind::Accept);
    decide(&mut s, &[2], DecisionKind::Reject);
    decide(&mut s, &[3], DecisionKind::Edit(SampleText::new("Question 3", "", "fixed")));
    decide(&mut s, &[4], DecisionKind::Accept);
    s.undo("t", "t").unwrap();
    let st = s.stats().unwrap();
    assert_eq!(
        (st.by_status.pending, st.by_status.accepted, st.by_status.rejected, st.by_status.edited),
        (1, 1, 1, 1)
    );
    assert_eq!((st.decisions, st.undos), (3, 1));
    assert!((st.edit_rate - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(st.median_seconds_per_decision, Some(2.0));
    assert_eq!(st.by_origin.get("imported"), Some(&4));
    assert_eq!(st.decisions_per_hour.values().sum::<u64>(), 3);
}

#[test]
fn queue_pages_cover_every_sample_once() {
    let s = store_with(1000, &[]);
    let mut before = None;
    let mut seen = Vec::new();
    loop {
        let page = s.queue_page(before, 300, 100).unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|r| r.id);
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, (1..=1000).rev().collect::<Vec<i64>>());
}
