//! Grammar-constrained decoding: a JSON Schema's automaton takes exactly the canonical texts of
//! that shape, never dead-ends (random walks always finish as valid JSON), masks the vocabulary
//! right, and the engine's constrained answers parse, on the tiny llama.

use distillery::llm::grammar::mask::TokenTable;
use distillery::llm::grammar::state::State;
use distillery::llm::grammar::Grammar;
use distillery::llm::sampling::Rng;
use serde_json::{json, Value};

fn takes(g: &Grammar, text: &str) -> (bool, bool) {
    let mut s = State::new(g);
    let ok = s.feed_str(g, text);
    (ok, ok && s.accepting(g))
}

fn verdict() -> Grammar {
    Grammar::from_schema(&distillery::judge::critic::verdict_schema()).unwrap()
}

fn extraction() -> Value {
    json!({
        "type": "object",
        "required": ["name", "item", "quantity", "date"],
        "properties": {
            "name": {"type": "string", "maxLength": 10},
            "item": {"type": "string"},
            "quantity": {"type": "integer", "minimum": 0, "maximum": 500},
            "date": {"type": "string", "format": "date"}
        }
    })
}

#[test]
fn the_verdict_grammar_takes_only_canonical_verdicts() {
    let g = verdict();
    assert_eq!(takes(&g, r#"{"score": 7, "rationale": "Right, and \"brief\".\n"}"#), (true, true));
    assert_eq!(takes(&g, r#"{"score": 10, "rationale": ""}"#), (true, true));
    assert_eq!(takes(&g, r#"{"score": 1"#), (true, false), "a prefix, not whole");
    for bad in [
        r#"{"score": 0"#,
        r#"{"score": 11"#,
        r#"{"score": 01"#,
        r#"{"rationale""#,
        r#"{"score":7"#,
        "{\"score\": 7, \"rationale\": \"a\nb\"}",
        r#"{"score": 7, "rationale": "x"} "#,
    ] {
        assert!(!takes(&g, bad).0, "{bad:?} must be refused");
    }
    let mut s = State::new(&g);
    assert!(s.feed_str(&g, r#"{"score": 9, "rationale": "ok"}"#));
    assert!(s.finished(&g), "nothing may follow the closing brace");
}

#[test]
fn every_supported_type_and_the_refused_keywords() {
    let g = Grammar::from_schema(&extraction()).unwrap();
    assert!(
        takes(&g, r#"{"name": "Mei", "item": "candles", "quantity": 51, "date": "2023-02-12"}"#).1
    );
    assert!(!takes(&g, r#"{"name": "Mei", "item": "c", "quantity": 501"#).0, "above the maximum");
    assert!(!takes(&g, r#"{"name": "Mei", "item": "c", "quantity": -1"#).0, "below the minimum");
    assert!(takes(&g, r#"{"name": "Mei", "item": "c", "quantity": 5, "date": "2023-2"#).0);
    assert!(!takes(&g, r#"{"name": "Mei", "item": "c", "quantity": 5, "date": "2023-2-"#).0);
    assert!(!takes(&g, r#"{"name": "Abcdefghijk"#).0, "over maxLength 10");
    let s = json!({"type": "object", "properties": {
        "tags": {"type": "array", "items": {"enum": ["a", "b", 3]}, "minItems": 1, "maxItems": 2},
        "ok": {"type": "boolean"}, "x": {"type": "number"}, "none": {"type": "null"},
        "inner": {"type": "object", "properties": {"k": {"const": "v"}}}
    }});
    let g = Grammar::from_schema(&s).unwrap();
    // No `required`: the properties in name order.
    let good = r#"{"inner": {"k": "v"}, "none": null, "ok": false, "tags": ["a", 3], "x": -1.5e3}"#;
    assert_eq!(takes(&g, good), (true, true));
    assert!(
        !takes(&g, r#"{"inner": {"k": "v"}, "none": null, "ok": false, "tags": []"#).0,
        "minItems"
    );
    assert!(
        !takes(&g, r#"{"inner": {"k": "v"}, "none": null, "ok": false, "tags": ["a", "b", "#).0
    );
    assert!(!takes(&g, r#"{"inner": {"k": "v"}, "none": null, "ok": false, "tags": ["c"#).0);
    assert!(
        !takes(&g, r#"{"inner": {"k": "v"}, "none": null, "ok": false, "tags": ["a"], "x": 01"#).0
    );
    for (schema, word) in [
        (json!({"anyOf": [{"type": "string"}]}), "anyOf"),
        (
            json!({"type": "object", "properties": {"d": {"type": "string", "pattern": "x"}}}),
            "/properties/d",
        ),
        (json!({"type": ["string", "null"]}), "one type name"),
    ] {
        let e = Grammar::from_schema(&schema).unwrap_err();
        assert!(e.contains(word), "{e}");
    }
}

/// Characters a random walk tries: enough to write every node of these schemas.
const ALPHABET: &str = "{}[]\":, -.0123456789eE+abcdefghijklmnopqrstuvwxyz\\/\u{e9}\n";

#[test]
fn random_walks_never_dead_end_and_always_finish_as_valid_json() {
    let schemas = [
        distillery::judge::critic::verdict_schema(),
        extraction(),
        json!({"type": "array", "items": {"type": "integer", "minimum": -20, "maximum": 20}, "maxItems": 3}),
    ];
    let chars: Vec<char> = ALPHABET.chars().collect();
    let mut rng = Rng::new(7);
    for schema in &schemas {
        let g = Grammar::from_schema(schema).unwrap();
        for walk in 0..300 {
            let mut s = State::new(&g);
            let mut text = String::new();
            for _ in 0..400 {
                let ok: Vec<char> =
                    chars.iter().copied().filter(|&c| s.clone().feed(&g, c)).collect();
                // Finish when allowed, sometimes; a dead end (nothing allowed, not whole) fails.
                if s.accepting(&g) && (ok.is_empty() || rng.next_f64() < 0.2) {
                    break;
                }
                assert!(!ok.is_empty(), "walk {walk} dead-ended after {text:?}");
                // Prefer closing characters as the walk grows, so it ends.
                let closing: Vec<char> =
                    ok.iter().copied().filter(|c| "\"}]".contains(*c)).collect();
                let pick = if text.len() > 60 && !closing.is_empty() { &closing } else { &ok };
                let c = pick[(rng.next_u64() % pick.len() as u64) as usize];
                assert!(s.feed(&g, c));
                text.push(c);
            }
            if !s.accepting(&g) {
                continue; // ran out of steps mid-string: fine, never a dead end
            }
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            if schema.get("required").is_some() {
                for k in schema["required"].as_array().unwrap() {
                    assert!(v.get(k.as_str().unwrap()).is_some(), "{text}");
                }
            }
            if let Some(items) = v.as_array() {
                assert!(
                    items.len() <= 3
                        && items
                            .iter()
                            .all(|x| x.as_i64().is_some_and(|n| (-20..=20).contains(&n))),
                    "{text}"
                );
            }
            if let Some(score) = v.get("score") {
                assert!((1..=10).contains(&score.as_i64().unwrap()), "{text}");
            }
        }
    }
}

#[test]
fn the_mask_allows_exactly_the_tokens_that_fit() {
    let texts = [
        "{\"",
        "{",
        "\"score\": ",
        "score",
        "\": ",
        "7",
        "10",
        "1",
        "0",
        ", \"",
        "rationale",
        "ok",
        "o\"}",
        "\"}",
        "\"",
        "\n",
        "é",
    ];
    let table = TokenTable::new(texts.iter().map(|t| Some(t.to_string())).chain([None]).collect());
    let g = verdict();
    let allowed = |text: &str| -> Vec<&str> {
        let mut s = State::new(&g);
        assert!(s.feed_str(&g, text));
        table.allowed(&g, &s).into_iter().map(|id| texts[id as usize]).collect()
    };
    assert_eq!(allowed(""), vec!["{\"", "{"]);
    assert_eq!(allowed("{\"score\": "), vec!["7", "10", "1"], "not 0: only what can reach 1–10");
    assert!(allowed("{\"score\": 1").contains(&"0"), "10");
    // Inside the rationale: plain text, and the tokens that close it properly.
    let inside = allowed("{\"score\": 7, \"rationale\": \"");
    for t in ["ok", "score", "o\"}", "\"}", "\"", "é", "7"] {
        assert!(inside.contains(&t), "{t:?} in {inside:?}");
    }
    assert!(!inside.contains(&"\n") && !inside.contains(&"\": "), "{inside:?}");
}

#[test]
fn the_engine_writes_only_schema_shaped_answers() {
    use distillery::llm::testing::{write_tiny_llama, TinyOptions};
    use distillery::llm::{GenParams, Generator, LocalModel};
    use distillery::sample::{Message, Role};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    write_tiny_llama(&path, &TinyOptions::default()).unwrap();
    let mut m = LocalModel::load(&path).unwrap();
    let msgs = [Message { role: Role::User, content: "Extract.".into() }];
    let schema = extraction();
    for seed in 0..4 {
        let p = GenParams { temperature: 1.0, max_tokens: 120, seed, ..GenParams::default() };
        for c in m.generate_json(&msgs, &schema, "", &p, 2).unwrap() {
            if c.finish == distillery::llm::FinishReason::Stop {
                let v: Value =
                    serde_json::from_str(&c.text).unwrap_or_else(|e| panic!("{:?}: {e}", c.text));
                assert!(v["quantity"].as_i64().is_some_and(|q| (0..=500).contains(&q)), "{v}");
                assert_eq!(v["date"].as_str().unwrap().len(), 10);
            } else {
                let mut s = State::new(&Grammar::from_schema(&schema).unwrap());
                assert!(
                    s.feed_str(&Grammar::from_schema(&schema).unwrap(), &c.text),
                    "{:?}",
                    c.text
                );
            }
        }
    }
}
