//! `App::update` on keys: state and effects, with a real in-memory store behind the effects.

use crate::common::*;
use crossterm::event::KeyCode;
use distillery::sample::{SampleText, Status};
use distillery::store::DecisionKind;
use distillery::tui::app::Popup;
use distillery::tui::effects::{Effect, Event};
use distillery::tui::queue::Tab;

#[test]
fn accept_sends_a_decision_marks_saving_and_moves_to_next_pending() {
    let mut h = Harness::new(store_with(5, &[]));
    assert_eq!(h.app.view.rows.len(), 5);
    assert_eq!(h.app.current_id(), Some(5), "newest first");
    // Pure update: the decision is returned as an effect, not carried out.
    let fx = h.app.update(key('a'));
    let [Effect::Decide(d), Effect::LoadDetail(4)] = fx.as_slice() else {
        panic!("expected the decision and the next sample's detail, got {fx:?}")
    };
    assert_eq!((d.sample_ids.as_slice(), &d.kind), (&[5][..], &DecisionKind::Accept));
    assert_eq!(d.seconds, Some(0.0), "time on the sample comes from the clock");
    assert!(
        h.app.index.row(h.app.index.find(5).unwrap()).saving,
        "shown as saving until committed"
    );
    assert_eq!(h.app.current_id(), Some(4), "cursor moved to the next pending sample");
    assert_eq!(h.app.in_flight, 1);
}

#[test]
fn committed_decision_leaves_the_pending_tab_and_updates_counts() {
    let mut h = Harness::new(store_with(5, &[]));
    h.keys("ax");
    assert_eq!(h.status_of(5), Status::Accepted);
    assert_eq!(h.status_of(4), Status::Rejected);
    assert_eq!(h.app.view.rows.len(), 3);
    assert_eq!((h.app.counts.pending, h.app.counts.accepted, h.app.counts.rejected), (3, 1, 1));
    assert_eq!(h.app.current_id(), Some(3));
    assert_eq!(h.app.session_decisions, 2);
    assert_eq!(h.app.in_flight, 0);
}

#[test]
fn undo_reverts_the_last_decision_and_shows_the_sample() {
    let mut h = Harness::new(store_with(3, &[]));
    h.keys("a");
    h.keys("u");
    assert_eq!(h.status_of(3), Status::Pending);
    assert_eq!(h.app.current_id(), Some(3), "the cursor returns to the undone sample");
    assert_eq!(h.app.counts.pending, 3);
    assert_eq!(h.app.session_decisions, 0);
    h.keys("u");
    assert_eq!(h.app.notice.as_ref().unwrap().text, "nothing left to undo");
}

#[test]
fn undo_survives_a_restart() {
    let mut h = Harness::new(store_with(3, &[]));
    h.keys("aa");
    let store =
        std::mem::replace(&mut h.store, distillery::store::Store::open_in_memory().unwrap());
    let mut h2 = Harness::new(store);
    assert_eq!(h2.app.counts.accepted, 2);
    h2.keys("uu");
    assert_eq!((h2.status_of(3), h2.status_of(2)), (Status::Pending, Status::Pending));
}

#[test]
fn bulk_accept_asks_first_and_undo_reverts_the_batch() {
    let mut h = Harness::new(store_with(4, &[]));
    h.send(key(' ')).send(key(' '));
    assert_eq!(h.app.selected.len(), 2);
    h.keys("a");
    assert!(matches!(h.app.popup, Some(Popup::Confirm(_))), "bulk action asks for confirmation");
    assert_eq!(h.status_of(4), Status::Pending, "nothing decided before the answer");
    h.keys("y");
    assert_eq!((h.status_of(4), h.status_of(3)), (Status::Accepted, Status::Accepted));
    assert!(h.app.selected.is_empty());
    h.keys("u");
    assert_eq!((h.status_of(4), h.status_of(3)), (Status::Pending, Status::Pending));
}

#[test]
fn bulk_cancel_decides_nothing() {
    let mut h = Harness::new(store_with(3, &[]));
    h.send(key('V')).keys("x");
    h.send(code(KeyCode::Esc));
    assert!(h.app.popup.is_none());
    assert_eq!(h.app.counts.pending, 3);
    assert_eq!(h.app.selected.len(), 3, "the selection stays for another try");
}

#[test]
fn backspace_and_delete_do_nothing_in_the_queue() {
    let mut h = Harness::new(store_with(3, &[]));
    assert!(h.app.update(code(KeyCode::Backspace)).is_empty());
    assert!(h.app.update(code(KeyCode::Delete)).is_empty());
    assert_eq!(h.app.counts.pending, 3);
}

#[test]
fn edit_in_place_saves_an_edit_event() {
    let mut h = Harness::new(store_with(2, &[]));
    h.keys("e");
    assert!(matches!(h.app.popup, Some(Popup::Editor(_))));
    h.send(code(KeyCode::End)).keys("!");
    h.send(ctrl('s'));
    assert!(h.app.popup.is_none());
    let d = h.store.sample(2).unwrap();
    assert_eq!(
        (d.status, d.current.output.as_str(), d.original.output.as_str()),
        (Status::Edited, "Answer 2!", "Answer 2")
    );
    assert_eq!(h.app.counts.edited, 1);
    h.send(key('4'));
    assert_eq!(h.app.tab, Tab::Edited);
    h.keys("d");
    assert!(h.app.diff, "the diff view opens on an edited sample");
}

#[test]
fn filter_narrows_ranks_and_clears() {
    let extra = [
        SampleText::new("Translate to French", "", "Bonjour"),
        SampleText::new("Translate to German", "", "Hallo"),
    ];
    let mut h = Harness::new(store_with(20, &extra));
    h.keys("/transger");
    assert!(h.app.filtering);
    assert_eq!(h.app.view.rows.len(), 1);
    assert_eq!(h.app.current_id(), Some(22));
    h.send(code(KeyCode::Backspace)).send(code(KeyCode::Backspace)).send(code(KeyCode::Backspace));
    assert_eq!(h.app.view.rows.len(), 2);
    h.send(code(KeyCode::Enter));
    assert!(!h.app.filtering);
    let id = h.app.current_id().unwrap();
    assert!(id == 21 || id == 22);
    h.keys("a");
    assert_eq!(h.status_of(id), Status::Accepted);
    h.send(code(KeyCode::Esc));
    assert_eq!(h.app.view.rows.len(), 21, "esc clears the filter; one sample was accepted");
}

#[test]
fn flag_and_note_are_events_too() {
    let mut h = Harness::new(store_with(2, &[]));
    h.keys("f");
    assert!(h.store.sample(2).unwrap().flagged);
    h.keys("n");
    assert!(matches!(h.app.popup, Some(Popup::Note(_))));
    h.keys("check units");
    h.send(code(KeyCode::Enter));
    assert_eq!(h.store.sample(2).unwrap().note.as_deref(), Some("check units"));
    h.keys("f");
    assert!(!h.store.sample(2).unwrap().flagged);
    h.keys("uu");
    let d = h.store.sample(2).unwrap();
    assert!(d.flagged && d.note.is_none(), "undo walks back unflag, then the note");
}

#[test]
fn tabs_sort_and_quit() {
    let mut h = Harness::new(store_with(3, &[]));
    h.keys("a2");
    assert_eq!((h.app.tab, h.app.view.rows.len()), (Tab::Accepted, 1));
    h.send(code(KeyCode::Tab));
    assert_eq!(h.app.tab, Tab::Rejected);
    h.keys("s");
    assert_eq!(h.app.sort.name(), "score");
    let fx = h.app.update(key('q'));
    assert!(h.app.quit && fx == vec![Effect::Quit]);
}

#[test]
fn edit_external_asks_the_loop_to_run_the_editor() {
    let mut h = Harness::new(store_with(1, &[]));
    let fx = h.app.update(key('E'));
    assert_eq!(
        fx,
        vec![Effect::EditExternal { id: 1, text: SampleText::new("Question 1", "", "Answer 1") }]
    );
    let fx = h.app.update(distillery::tui::effects::Event::ExternalEdit {
        id: 1,
        result: Ok(Some(SampleText::new("Question 1", "", "Answer one"))),
    });
    assert!(
        matches!(fx.as_slice(), [Effect::Decide(d)] if matches!(d.kind, DecisionKind::Edit(_)))
    );
}

#[test]
fn reload_picks_up_samples_added_by_another_process() {
    let mut h = Harness::new(store_with(2, &[]));
    h.keys("a");
    let extra = vec![distillery::store::NewSample {
        text: SampleText::new("Generated question", "", "Generated answer"),
        task: None,
        provenance: distillery::store::Provenance {
            origin: "generated".into(),
            recipe: Some("self-instruct".into()),
            ..Default::default()
        },
    }];
    h.store.insert_samples(&extra).unwrap();
    assert_eq!(h.app.index.len(), 2, "not seen before a reload");
    h.keys("r");
    assert_eq!(h.app.index.len(), 3);
    assert_eq!((h.app.counts.pending, h.app.counts.accepted), (2, 1));
    assert_eq!(h.app.view.rows.len(), 2, "pending tab: the new sample and the undecided one");
}

/// An edit of one character in the editor saves the sample's exact bytes otherwise: tabs stay
/// tabs, ESC and bidi marks stay themselves (shown as symbols while editing).
#[test]
fn an_edit_keeps_every_byte_the_curator_did_not_touch() {
    use distillery::tui::panes::{EditorPopup, PopupOutcome};
    let text = SampleText::new(
        "fn f() {\n\tx\x1b[31m\u{202e}\r\n}",
        "col1\tcol2\u{0}",
        "a\tb\u{2066}c\u{85}",
    );
    let km = distillery::tui::keymap::Keymap::default_keys();
    let mut e = EditorPopup::new(1, &text);
    assert!(e.cleaned, "the copy shows symbols for the controls");
    let press = |e: &mut EditorPopup, c| {
        let Event::Key(k) = code(c) else { unreachable!() };
        e.handle(&km, k)
    };
    press(&mut e, crossterm::event::KeyCode::End);
    press(&mut e, crossterm::event::KeyCode::Char('!'));
    let Event::Key(save) = ctrl('s') else { unreachable!() };
    let PopupOutcome::Decide(_, DecisionKind::Edit(saved)) = e.handle(&km, save) else {
        panic!("no edit")
    };
    let want = SampleText { output: format!("{}!", text.output), ..text.clone() };
    assert_eq!(saved, want);
}
