//! The command line as a user runs it: init, import (good and bad files), export, stats.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_distillery"));
    c.env_remove("DISTILLERY_WORKSPACE").env_remove("DISTILLERY_LOG");
    c
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn run(ws: &Path, args: &[&str]) -> Output {
    bin().arg("-w").arg(ws).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub(crate) fn workspace() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let o = bin().arg("init").arg(d.path()).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    d
}

fn stats(ws: &Path) -> serde_json::Value {
    let o = run(ws, &["stats", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn help_lists_the_commands() {
    let o = bin().arg("--help").output().unwrap();
    let t = text(&o);
    for cmd in ["init", "import", "export", "stats", "tui", "demo", "bench"] {
        assert!(t.contains(cmd), "--help lacks {cmd}:\n{t}");
    }
}

#[test]
fn commands_outside_a_workspace_say_how_to_make_one() {
    let d = tempfile::tempdir().unwrap();
    let o = run(d.path(), &["stats"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("distillery init"), "{}", text(&o));
}

#[test]
fn imports_every_format_and_twice_adds_nothing() {
    let ws = workspace();
    for (f, n) in [
        ("alpaca.json", "3 new samples"),
        ("sharegpt.json", "2 new samples"),
        ("openai.jsonl", "2 new samples"),
        ("seed_tasks.jsonl", "3 new seed tasks"),
    ] {
        let o = run(ws.path(), &["import", fixture(f).to_str().unwrap()]);
        assert!(o.status.success() && text(&o).contains(n), "{f}: {}", text(&o));
    }
    let o = run(ws.path(), &["import", fixture("alpaca.json").to_str().unwrap()]);
    assert!(o.status.success());
    assert!(
        text(&o).contains("0 new samples") && text(&o).contains("3 already in the workspace"),
        "{}",
        text(&o)
    );
    let s = stats(ws.path());
    assert_eq!((s["samples"].as_u64(), s["seeds"].as_i64()), (Some(7), Some(3)));
}

/// Every bad file: non-zero exit, a message naming file and line (and field), nothing stored.
#[test]
fn bad_input_is_rejected_whole() {
    let ws = workspace();
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"instruction": "a", "input": "", "output": "b"}"#;
    let big_line = format!("{{\"instruction\": \"{}\", \"output\": \"x\"}}", "a".repeat(50 << 20));
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("invalid_utf8.jsonl", [format!("{good}\n{good}\n").as_bytes(), b"{\"instruction\": \"caf\xff\"}\n"].concat(), &[":3", "UTF-8"]),
        ("truncated.jsonl", format!("{good}\n{good}\n{{\"instruction\": \"a\", \"outp").into_bytes(), &[":3", "truncated"]),
        ("wrong_type.jsonl", format!("{good}\n{{\"instruction\": \"a\", \"output\": 42}}\n").into_bytes(), &[":2", "field `output`", "found a number"]),
        ("missing_field.jsonl", format!("{good}\n{{\"instruction\": \"a\", \"input\": \"\", \"outpt\": \"b\"}}\n").into_bytes(), &[":2", "field `output`", "missing"]),
        ("not_object.jsonl", format!("{good}\n[1, 2]\n").into_bytes(), &[":2", "expected a JSON object"]),
        ("bad_role.jsonl", br#"{"messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]}"#.to_vec(), &[":1", "messages[1].role", "robot"]),
        ("huge_line.jsonl", format!("{good}\n{big_line}\n").into_bytes(), &[":2", "over the limit"]),
        ("unknown_shape.jsonl", b"{\"text\": \"hello\"}\n".to_vec(), &[":1", "cannot tell the format"]),
    ];
    for (name, bytes, needles) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes).unwrap();
        let o = run(ws.path(), &["import", p.to_str().unwrap()]);
        let t = text(&o);
        assert!(!o.status.success(), "{name} should fail:\n{t}");
        assert!(t.contains(name), "{name}: the error names the file:\n{t}");
        for n in needles {
            assert!(t.contains(n), "{name}: expected {n:?} in:\n{t}");
        }
        assert!(!t.contains("panicked"), "{name} panicked:\n{t}");
    }
    assert_eq!(
        stats(ws.path())["samples"].as_u64(),
        Some(0),
        "nothing from any bad file was stored"
    );
}

#[test]
fn bom_and_blank_lines_are_fine() {
    let ws = workspace();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bom.jsonl");
    std::fs::write(&p, b"\xef\xbb\xbf{\"instruction\": \"a\", \"output\": \"b\"}\n\n\r\n{\"instruction\": \"c\", \"output\": \"d\"}\r\n").unwrap();
    let o = run(ws.path(), &["import", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(stats(ws.path())["samples"].as_u64(), Some(2));
}

#[test]
fn export_round_trips_through_a_second_workspace() {
    let ws = workspace();
    for f in ["alpaca.json", "sharegpt.json", "openai.jsonl"] {
        assert!(run(ws.path(), &["import", fixture(f).to_str().unwrap()]).status.success());
    }
    let out = tempfile::tempdir().unwrap();
    for fmt in ["sharegpt", "openai"] {
        let a = out.path().join(format!("{fmt}-1.jsonl"));
        let o = run(
            ws.path(),
            &["export", "--format", fmt, "--status", "all", "-o", a.to_str().unwrap()],
        );
        assert!(o.status.success() && text(&o).contains("7 samples written"), "{}", text(&o));
        let ws2 = workspace();
        assert!(run(ws2.path(), &["import", a.to_str().unwrap()]).status.success());
        let b = out.path().join(format!("{fmt}-2.jsonl"));
        assert!(run(
            ws2.path(),
            &["export", "--format", fmt, "--status", "all", "-o", b.to_str().unwrap()]
        )
        .status
        .success());
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{fmt} export → import → export is identical"
        );
    }
    // Alpaca holds earlier turns as LLaMA-Factory's `history` pairs: nothing is cut.
    let a = out.path().join("alpaca.json");
    let o = run(
        ws.path(),
        &["export", "--format", "alpaca", "--status", "all", "-o", a.to_str().unwrap()],
    );
    assert!(o.status.success() && !text(&o).contains("last exchange"), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&a).unwrap()).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(7), ".json gives one JSON array");
    let multi = v.as_array().unwrap().iter().filter(|r| r.get("history").is_some()).count();
    assert_eq!(multi, 1, "the multi-turn sample keeps its history");
    // --status accepted: nothing decided yet.
    let e = out.path().join("accepted.jsonl");
    let o = run(ws.path(), &["export", "--format", "dpo", "-o", e.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("0 preference pairs"), "{}", text(&o));
}

#[test]
fn export_to_a_missing_folder_fails_and_writes_nothing() {
    let ws = workspace();
    let o = run(ws.path(), &["export", "--format", "alpaca", "-o", "/nonexistent-dir/x.jsonl"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("/nonexistent-dir/x.jsonl"), "{}", text(&o));
    let o = run(ws.path(), &["export", "--format", "alpaca", "--status", "maybe", "-o", "x.jsonl"]);
    assert!(!o.status.success() && text(&o).contains("--status"), "{}", text(&o));
}

#[test]
fn demo_sets_up_and_reopens() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("demo");
    let o = bin().args(["demo", "--no-tui", "--dir"]).arg(&dir).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let s = stats(&dir);
    assert_eq!(
        (s["samples"].as_u64(), s["seeds"].as_i64(), s["eval_items"].as_i64()),
        (Some(40), Some(416), Some(120))
    );
    let o = bin().args(["demo", "--no-tui", "--dir"]).arg(&dir).output().unwrap();
    assert!(o.status.success() && text(&o).contains("already in the workspace"), "{}", text(&o));
    assert_eq!(stats(&dir)["samples"].as_u64(), Some(40));
}
