//! Screens as a person sees them: TestBackend + insta snapshots of the main states.

mod common;
use common::*;
use crossterm::event::KeyCode;
use distillery::sample::SampleText;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn draw(h: &mut Harness, w: u16, height: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, height)).unwrap();
    t.draw(|f| h.app.render(f)).unwrap();
    t.backend().to_string()
}

fn mixed() -> Vec<SampleText> {
    vec![
        SampleText::new("Extract the order as JSON.", "On 3 March 2024 Priya ordered 12 mugs.", "{\"name\": \"Priya\", \"quantity\": 12}"),
        SampleText::new("翻訳してください 👋🏽", "", "こんにちは世界 🌍 — wide characters and emoji"),
        SampleText::new("Evil \u{1b}[31mred\u{1b}[0m and \u{202e}reversed", "", "bell\u{7} and escape \u{1b}]0;title\u{7} cleaned"),
    ]
}

#[test]
fn empty_workspace() {
    let mut h = Harness::new(store_with(0, &[]));
    insta::assert_snapshot!(draw(&mut h, 80, 24));
}

#[test]
fn loaded_queue_80x24() {
    let mut h = Harness::new(store_with(30, &mixed()));
    insta::assert_snapshot!(draw(&mut h, 80, 24));
}

#[test]
fn loaded_queue_120x40_after_decisions() {
    let mut h = Harness::new(store_with(30, &mixed()));
    h.keys("axj").send(key(' ')).keys("5");
    insta::assert_snapshot!(draw(&mut h, 120, 40));
}

#[test]
fn untrusted_text_is_cleaned() {
    let mut h = Harness::new(store_with(0, &mixed()));
    let screen = draw(&mut h, 100, 24);
    assert!(!screen.contains('\u{1b}') && !screen.contains('\u{202e}') && !screen.contains('\u{7}'));
    insta::assert_snapshot!(screen);
}

#[test]
fn filtered() {
    let mut h = Harness::new(store_with(30, &mixed()));
    h.keys("/order");
    insta::assert_snapshot!(draw(&mut h, 80, 24));
}

#[test]
fn help_open() {
    let mut h = Harness::new(store_with(3, &[]));
    h.keys("?");
    insta::assert_snapshot!(draw(&mut h, 100, 40));
}

#[test]
fn editor_open() {
    let mut h = Harness::new(store_with(3, &[]));
    h.keys("e");
    insta::assert_snapshot!(draw(&mut h, 80, 24));
}

#[test]
fn diff_of_an_edited_sample() {
    let mut h = Harness::new(store_with(3, &[]));
    h.keys("e");
    h.send(code(KeyCode::End)).keys(" is 42");
    h.send(ctrl('s')).keys("4d");
    insta::assert_snapshot!(draw(&mut h, 80, 24));
}

#[test]
fn long_output_scrolls() {
    let long = (1..=80).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
    let mut h = Harness::new(store_with(0, &[SampleText::new("Count", "", long)]));
    h.send(ctrl('d')).send(ctrl('d'));
    let screen = draw(&mut h, 80, 24);
    assert!(screen.contains("line 8") && !screen.contains("line 1 "), "scrolled past the top");
    insta::assert_snapshot!(screen);
}

#[test]
fn resizes_down_to_narrow() {
    let mut h = Harness::new(store_with(5, &mixed()));
    for (w, hgt) in [(120, 40), (80, 24), (50, 20), (20, 8), (120, 40)] {
        let _ = draw(&mut h, w, hgt); // must not panic at any size
    }
    insta::assert_snapshot!(draw(&mut h, 50, 20));
}
