//! Parsing records: detection, fields, turns.

use super::super::read_records;
use super::*;

fn parse(s: &str) -> Result<(Format, Parsed), FormatError> {
    let recs = read_records(Path::new("x.jsonl"), s.as_bytes())?;
    parse_records(Path::new("x.jsonl"), &recs, Format::Auto, None)
}

#[test]
fn detects_each_format() {
    assert_eq!(parse(r#"{"instruction":"a","input":"","output":"b"}"#).unwrap().0, Format::Alpaca);
    assert_eq!(
        parse(r#"{"conversations":[{"from":"human","value":"a"},{"from":"gpt","value":"b"}]}"#)
            .unwrap()
            .0,
        Format::Sharegpt
    );
    assert_eq!(
        parse(r#"{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}"#)
            .unwrap()
            .0,
        Format::Openai
    );
    assert_eq!(
        parse(r#"{"instruction":"a","instances":[{"input":"","output":"b"}]}"#).unwrap().0,
        Format::Seeds
    );
    assert_eq!(parse(r#"{"instruction":"a"}"#).unwrap().0, Format::Seeds);
    assert_eq!(
        parse(r#"{"instruction":"a","reference":"4","scorer":"number"}"#).unwrap().0,
        Format::Eval
    );
}

#[test]
fn wrong_type_names_line_and_field() {
    let e = parse("{\"instruction\":\"a\",\"output\":\"b\"}\n{\"instruction\":\"a\",\"output\":3}")
        .unwrap_err();
    assert_eq!((e.line, e.field.as_deref()), (2, Some("output")));
    assert!(e.message.contains("expected a string, found a number"));
    let e = parse(r#"{"messages":[{"role":"user","content":"a"},{"role":"tool","content":"b"}]}"#)
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("messages[1].role"));
}

#[test]
fn multi_turn_keeps_history() {
    let (_, p) = parse(r#"{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u1"},{"role":"assistant","content":"a1"},{"role":"user","content":"u2"},{"role":"assistant","content":"a2"}]}"#).unwrap();
    let Parsed::Samples(v) = p else { panic!() };
    let t = &v[0].1;
    assert_eq!(
        (t.system.as_deref(), t.history.len(), t.instruction.as_str(), t.output.as_str()),
        (Some("s"), 2, "u2", "a2")
    );
    assert!(parse(r#"{"messages":[{"role":"user","content":"u1"}]}"#).is_err());
}
