//! Imports as issue 28 found them: streamed, refused by name when a file is not a regular file,
//! errors that name the element and the duplicate key, every field kept or refused by name,
//! formats settled by every record, staged rows hidden until the import is done.

use super::cli::{bin, workspace};
use distillery::sample::SampleText;
use distillery::store::{NewSample, Provenance, Store};
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

fn run(ws: &Path, args: &[&str]) -> Output {
    bin().arg("-w").arg(ws).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn samples(ws: &Path) -> u64 {
    let o = run(ws, &["stats", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["samples"].as_u64().unwrap()
}

/// Writes `body` to `name` in a fresh folder and imports it with `extra` arguments.
fn import(ws: &Path, name: &str, body: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, body).unwrap();
    let mut args = vec!["import", p.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(ws, &args)
}

fn fails_with(o: &Output, needles: &[&str]) {
    let t = text(o);
    assert!(!o.status.success(), "should fail:\n{t}");
    for n in needles {
        assert!(t.contains(n), "expected {n:?} in:\n{t}");
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_at_once_by_name() {
    let ws = workspace();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.jsonl");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut child = bin()
        .arg("-w")
        .arg(ws.path())
        .args(["import", fifo.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("import waited on a FIFO with no writer");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    fails_with(&o, &["pipe.jsonl", "FIFO", "not a regular file"]);
    let o = run(ws.path(), &["import", dir.path().to_str().unwrap()]);
    fails_with(&o, &["a directory"]);
}

#[test]
fn standard_input_imports() {
    let ws = workspace();
    let mut child = bin()
        .arg("-w")
        .arg(ws.path())
        .args(["import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let body =
        "{\"instruction\":\"a\",\"output\":\"b\"}\n{\"instruction\":\"c\",\"output\":\"d\"}\n";
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("<stdin>: 2 new samples"), "{}", text(&o));
    assert_eq!(samples(ws.path()), 2);
}

#[test]
fn a_one_line_array_names_the_element() {
    let ws = workspace();
    let good = r#"{"instruction":"a","output":"b"}"#;
    let body = format!("[{good},{good},{{\"instruction\":\"c\",\"output\":3}}]");
    let o = import(ws.path(), "one_line.json", &body, &[]);
    fails_with(&o, &["one_line.json:1: element 2: field `output`", "found a number"]);
    let body = format!("[{good},{good} {good}]");
    fails_with(&import(ws.path(), "comma.json", &body, &[]), &["comma.json:1", "after element 1"]);
    assert_eq!(samples(ws.path()), 0);
}

#[test]
fn duplicate_keys_and_nulls_are_named() {
    let ws = workspace();
    let o = import(ws.path(), "dup.jsonl", r#"{"instruction":"a","output":"b","output":"c"}"#, &[]);
    fails_with(&o, &["dup.jsonl:1", "duplicate key `output`"]);
    let o = import(ws.path(), "null.jsonl", r#"{"instruction":null,"output":"b"}"#, &[]);
    fails_with(&o, &["null.jsonl:1", "field `instruction`", "is null"]);
    assert_eq!(samples(ws.path()), 0);
}

#[test]
fn formats_are_settled_by_every_record() {
    let ws = workspace();
    let both = r#"{"instruction":"a","output":"b","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}"#;
    let o = import(ws.path(), "both.jsonl", both, &[]);
    fails_with(&o, &["both.jsonl:1", "more than one format", "openai", "alpaca", "--format"]);
    let o = import(ws.path(), "both.jsonl", both, &["--format", "openai"]);
    assert!(o.status.success(), "{}", text(&o));
    let mixed = "{\"instruction\":\"a\",\"output\":\"b\"}\n{\"conversations\":[{\"from\":\"human\",\"value\":\"x\"},{\"from\":\"gpt\",\"value\":\"y\"}]}\n";
    let o = import(ws.path(), "mixed.jsonl", mixed, &[]);
    fails_with(&o, &["mixed.jsonl:2", "looks like sharegpt", "line 1 made the file alpaca"]);
    assert_eq!(samples(ws.path()), 1);
}

#[test]
fn system_history_and_other_fields_are_kept_and_written_back() {
    let ws = workspace();
    let rec = r#"{"instruction":"q2","input":"","output":"a2","system":"be brief","history":[["q1","a1"]],"id":"x-7","category":"qa"}"#;
    let o = import(ws.path(), "lf.jsonl", rec, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let dir = tempfile::tempdir().unwrap();
    for (fmt, file) in [("alpaca", "a.jsonl"), ("openai", "o.jsonl")] {
        let out = dir.path().join(file);
        let o = run(
            ws.path(),
            &["export", "--format", fmt, "--status", "all", "-o", out.to_str().unwrap()],
        );
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&out).unwrap().trim()).unwrap();
        assert_eq!((v["id"].as_str(), v["category"].as_str()), (Some("x-7"), Some("qa")), "{v}");
        if fmt == "alpaca" {
            assert_eq!(v["system"], "be brief");
            assert_eq!(v["history"], serde_json::json!([["q1", "a1"]]));
        } else {
            assert_eq!(v["messages"].as_array().unwrap().len(), 5, "{v}");
        }
    }
}

#[test]
fn weights_and_tool_calls_are_kept_or_refused_by_name() {
    let ws = workspace();
    let msg = |role: &str, content: &str, extra: &str| {
        format!(r#"{{"role":"{role}","content":"{content}"{extra}}}"#)
    };
    let conv = |a1: &str, a2: &str| {
        format!(
            r#"{{"messages":[{},{},{},{}]}}"#,
            msg("user", "u1", ""),
            msg("assistant", "a1", a1),
            msg("user", "u2", ""),
            msg("assistant", "a2", a2)
        )
    };
    let o = import(ws.path(), "w.jsonl", &conv(r#","weight":0"#, r#","weight":1"#), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = import(ws.path(), "w1.jsonl", &conv(r#","weight":1"#, ""), &[]);
    fails_with(&o, &["w1.jsonl:1", "messages[1].weight", "last answer only"]);
    let tool =
        r#","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]"#;
    let o = import(ws.path(), "tools.jsonl", &conv(tool, ""), &[]);
    fails_with(&o, &["tools.jsonl:1", "messages[1].tool_calls", "tool calls cannot be kept"]);
    assert_eq!(samples(ws.path()), 1);
}

#[test]
fn trl_prompt_completion_both_forms() {
    let ws = workspace();
    let body = concat!(
        r#"{"prompt":"What is 2+2?","completion":"4"}"#,
        "\n",
        r#"{"prompt":[{"role":"system","content":"s"},{"role":"user","content":"Hi"}],"completion":[{"role":"assistant","content":"Hello"}]}"#,
        "\n"
    );
    let o = import(ws.path(), "trl.jsonl", body, &["--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["format"].as_str(), v["added"].as_u64()), (Some("prompt-completion"), Some(2)));
}

#[test]
fn printed_paths_are_cleaned_and_errors_printed_once() {
    let ws = workspace();
    let o = import(ws.path(), "ok\x1b]0;PWN\x07.jsonl", r#"{"instruction":"a","output":"b"}"#, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!o.stdout.contains(&0x1b) && !o.stderr.contains(&0x1b), "{}", text(&o));
    let o = import(ws.path(), "bad.jsonl", "{", &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("bad.jsonl").count(), 1, "one error line:\n{err}");
}

#[test]
fn a_numeric_reference_is_named() {
    let ws = workspace();
    let o = import(
        ws.path(),
        "eval.jsonl",
        r#"{"instruction":"1+0?","reference":1,"scorer":"number"}"#,
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("`reference` given as a JSON number"), "{}", text(&o));
}

#[test]
fn a_bad_record_late_in_a_long_file_leaves_nothing() {
    let ws = workspace();
    let mut body = String::new();
    for i in 0..5_000 {
        body.push_str(&format!("{{\"instruction\":\"q{i}\",\"output\":\"a\"}}\n"));
    }
    body.push_str("{\"instruction\":\"q\",\"output\":1}\n");
    let o = import(ws.path(), "late.jsonl", &body, &[]);
    fails_with(&o, &["late.jsonl:5001"]);
    assert_eq!(samples(ws.path()), 0);
    let store = Store::open(&ws.path().join("distillery.db")).unwrap();
    assert_eq!(store.staged_rows().unwrap(), 0, "the failed import's rows were removed");
}

fn row(i: usize) -> NewSample {
    NewSample {
        text: SampleText::new(format!("q{i}"), "", "a"),
        task: None,
        provenance: Provenance::imported(format!("f:{i}")),
    }
}

#[test]
fn staged_rows_are_hidden_until_done_and_removed_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut s = Store::open(&db).unwrap();
    let imp = s.begin_import("big.jsonl").unwrap();
    let rows: Vec<NewSample> = (0..10).map(row).collect();
    assert_eq!(s.stage_samples(&imp, &rows).unwrap().added, 10);
    let other = Store::open(&db).unwrap();
    assert_eq!(other.sample_count().unwrap(), 0, "hidden while the import runs");
    assert_eq!(other.staged_rows().unwrap(), 10, "and not removed: its process holds the lock");
    s.finish_import(imp).unwrap();
    assert_eq!(other.sample_count().unwrap(), 10, "visible at once when done");

    // A process that dies mid-import releases its lock; the next open removes its rows.
    let imp = s.begin_import("crash.jsonl").unwrap();
    let rows: Vec<NewSample> = (10..15).map(row).collect();
    s.stage_samples(&imp, &rows).unwrap();
    drop(imp);
    drop(s);
    let s = Store::open(&db).unwrap();
    assert_eq!((s.sample_count().unwrap(), s.staged_rows().unwrap()), (10, 0));
}

/// Every preference file format imports as two linked samples with imported decisions, and the
/// DPO export gives the same pair back.
#[test]
fn preference_pairs_import_as_decided_samples() {
    let cases = [
        ("trl.jsonl", r#"{"prompt":"2+2?","chosen":"4","rejected":"5"}"#, "preference"),
        (
            "trl_conv.jsonl",
            r#"{"prompt":[{"role":"user","content":"2+2?"}],"chosen":[{"role":"assistant","content":"4"}],"rejected":[{"role":"assistant","content":"5"}]}"#,
            "preference",
        ),
        (
            "trl_implicit.jsonl",
            r#"{"chosen":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}],"rejected":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"5"}]}"#,
            "preference",
        ),
        (
            "openai_pref.jsonl",
            r#"{"input":{"messages":[{"role":"user","content":"2+2?"}]},"preferred_output":[{"role":"assistant","content":"4"}],"non_preferred_output":[{"role":"assistant","content":"5"}]}"#,
            "openai-preference",
        ),
        (
            "lf_pref.json",
            r#"[{"instruction":"2+2?","input":"","chosen":"4","rejected":"5"}]"#,
            "alpaca-preference",
        ),
        (
            "lf_sharegpt_pref.json",
            r#"[{"conversations":[{"from":"human","value":"2+2?"}],"chosen":{"from":"gpt","value":"4"},"rejected":{"from":"gpt","value":"5"}}]"#,
            "sharegpt-preference",
        ),
    ];
    for (name, body, format) in cases {
        let ws = workspace();
        let o = import(ws.path(), name, body, &["--json"]);
        assert!(o.status.success(), "{name}: {}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["format"], format, "{name}");
        assert_eq!(
            (v["added"].as_u64(), v["pairs_accepted"].as_u64(), v["pairs_rejected"].as_u64()),
            (Some(2), Some(1), Some(1)),
            "{name}: {v}"
        );
        let stats: serde_json::Value =
            serde_json::from_slice(&run(ws.path(), &["stats", "--json"]).stdout).unwrap();
        assert_eq!(stats["samples"], 2, "{name}: {stats}");
        let out = ws.path().join("pairs.jsonl");
        let o = run(ws.path(), &["export", "--format", "dpo", "-o", out.to_str().unwrap()]);
        assert!(o.status.success(), "{name}: {}", text(&o));
        let pair: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&out).unwrap().trim()).unwrap();
        assert_eq!(
            (pair["prompt"].as_str(), pair["chosen"].as_str(), pair["rejected"].as_str()),
            (Some("2+2?"), Some("4"), Some("5")),
            "{name}"
        );
    }
}

#[test]
fn a_pair_with_the_same_answer_twice_is_refused() {
    let ws = workspace();
    let o = import(ws.path(), "same.jsonl", r#"{"prompt":"p","chosen":"a","rejected":"a"}"#, &[]);
    fails_with(&o, &["same.jsonl:1", "field `rejected`", "same answer"]);
}
