//! Formats: import → export → import is lossless for each format's fields (property tests), and
//! preference pairs come from edits and from accepted/rejected answers.

use distillery::formats::{
    export, parse_file, Container, ExportFormat, ExportOptions, Format, Parsed,
};
use distillery::sample::{Message, Role, SampleText, Status};
use distillery::store::{ExportRow, Provenance};
use proptest::prelude::*;
use std::path::Path;

fn row(id: i64, status: Status, original: SampleText, current: SampleText) -> ExportRow {
    ExportRow {
        id,
        task: None,
        status,
        original,
        current,
        provenance: Provenance::imported(format!("f:{id}")),
        score: None,
        content_hash: String::new(),
        decided_at: None,
    }
}

fn opts(format: ExportFormat, with_provenance: bool, array: bool) -> ExportOptions {
    let container = if array { Container::JsonArray } else { Container::Jsonl };
    ExportOptions { format, with_provenance, container, split: None }
}

fn round_trip(texts: &[SampleText], format: ExportFormat, array: bool) -> Vec<SampleText> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(if array { "out.json" } else { "out.jsonl" });
    let rows: Vec<ExportRow> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| row(i as i64, Status::Accepted, t.clone(), t.clone()))
        .collect();
    export(&rows, &file, &opts(format, true, array)).unwrap();
    match parse_file(&file, Format::Auto, None).unwrap().1 {
        Parsed::Samples(v) => v.into_iter().map(|(_, t, _)| t).collect(),
        other => panic!("expected samples, got {other:?}"),
    }
}

fn text() -> impl Strategy<Value = String> {
    // Any unicode, control characters and quotes included; long enough to hit escapes.
    prop_oneof![
        ".{0,40}",
        "[a-z \\n\\t\"\\\\]{0,20}",
        // Controls, DEL, a bidi override and text outside the BMP.
        "[\\x00-\\x1f\\x7f\\u{202e}\\u{1F600}-\\u{1F64F}a]{0,12}",
        Just(String::new())
    ]
}

fn nonempty() -> impl Strategy<Value = String> {
    ".{1,40}"
}

fn single_turn() -> impl Strategy<Value = SampleText> {
    (nonempty(), text(), text()).prop_map(|(i, n, o)| SampleText::new(i, n, o))
}

fn conversation() -> impl Strategy<Value = SampleText> {
    (
        proptest::option::of(text()),
        proptest::collection::vec((text(), text()), 0..3),
        text(),
        text(),
    )
        .prop_map(|(system, turns, i, o)| {
            let history = turns
                .into_iter()
                .flat_map(|(u, a)| {
                    [
                        Message { role: Role::User, content: u },
                        Message { role: Role::Assistant, content: a },
                    ]
                })
                .collect();
            SampleText { system, history, instruction: i, input: String::new(), output: o }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn alpaca_round_trips(texts in proptest::collection::vec(single_turn(), 1..8), array: bool) {
        prop_assert_eq!(round_trip(&texts, ExportFormat::Alpaca, array), texts);
    }

    #[test]
    fn sharegpt_round_trips(texts in proptest::collection::vec(conversation(), 1..8), array: bool) {
        prop_assert_eq!(round_trip(&texts, ExportFormat::Sharegpt, array), texts);
    }

    #[test]
    fn openai_round_trips(texts in proptest::collection::vec(conversation(), 1..8)) {
        prop_assert_eq!(round_trip(&texts, ExportFormat::Openai, false), texts);
    }

    /// Alpaca holds a system prompt and earlier turns as LLaMA-Factory's `system` and `history`.
    #[test]
    fn alpaca_round_trips_conversations(texts in proptest::collection::vec(conversation(), 1..8), array: bool) {
        prop_assert_eq!(round_trip(&texts, ExportFormat::Alpaca, array), texts);
    }

    #[test]
    fn prompt_completion_round_trips(texts in proptest::collection::vec(conversation(), 1..8), array: bool) {
        prop_assert_eq!(round_trip(&texts, ExportFormat::PromptCompletion, array), texts);
    }
}

fn read_lines(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn pairs_from_edits_and_from_accept_vs_reject() {
    let q = |o: &str| SampleText::new("What is 2+2?", "", o);
    let rows = vec![
        row(1, Status::Edited, q("5"), q("4")),
        row(2, Status::Accepted, q("4"), q("4")),
        row(3, Status::Rejected, q("22"), q("22")),
        row(
            4,
            Status::Accepted,
            SampleText::new("Other", "", "x"),
            SampleText::new("Other", "", "x"),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pairs.jsonl");
    export(&rows, &p, &opts(ExportFormat::Dpo, false, false)).unwrap();
    let got = read_lines(&p);
    let pairs: Vec<(String, String)> = got
        .iter()
        .map(|v| {
            (v["chosen"].as_str().unwrap().to_owned(), v["rejected"].as_str().unwrap().to_owned())
        })
        .collect();
    // The edit (4 over 5), and both kept answers over the rejected one; the duplicate (4, 22) once.
    assert_eq!(pairs, vec![("4".into(), "5".into()), ("4".into(), "22".into())]);
    assert_eq!(got[0]["prompt"], "What is 2+2?");

    let p = dir.path().join("trl.jsonl");
    export(&rows, &p, &opts(ExportFormat::TrlPairs, true, false)).unwrap();
    let got = read_lines(&p);
    assert_eq!(got[0]["prompt"][0]["role"], "user");
    assert_eq!(got[0]["chosen"][0], serde_json::json!({"role": "assistant", "content": "4"}));
    assert_eq!(got[0]["metadata"]["source"], "edit");
}

#[test]
fn provenance_is_added_on_request() {
    let t = SampleText::new("a", "", "b");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("o.jsonl");
    export(&[row(7, Status::Accepted, t.clone(), t)], &p, &opts(ExportFormat::Alpaca, true, false))
        .unwrap();
    let v = &read_lines(&p)[0];
    assert_eq!(
        (v["metadata"]["id"].as_i64(), v["metadata"]["origin"].as_str()),
        (Some(7), Some("imported"))
    );
}
