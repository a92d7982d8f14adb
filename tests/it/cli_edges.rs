//! The command line's edges: a closed pipe, the workbench without a terminal, the log every
//! command writes, `--json` outcomes, `-q`, completions and the man page.

use super::cli::{bin, fixture, workspace};
use std::process::Stdio;

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let ws = workspace();
    let mut child = bin()
        .arg("-w")
        .arg(ws.path())
        .arg("stats")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the command writes (as `| head -0` would).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "a panic: {err}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
}

#[test]
fn the_workbench_without_a_terminal_says_so_and_exits_1() {
    let ws = workspace();
    let out = bin()
        .arg("-w")
        .arg(ws.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("needs a terminal") && !err.contains("panicked"), "{err}");
}

#[test]
fn every_command_logs_and_json_outcomes_parse() {
    let ws = workspace();
    let alpaca = fixture("alpaca.json");
    let o = bin()
        .arg("-w")
        .arg(ws.path())
        .args(["import", alpaca.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["added"].as_u64(), v["as"].as_str()), (Some(3), Some("samples")), "{v}");
    let out = ws.path().join("out.jsonl");
    let o = bin()
        .arg("-w")
        .arg(ws.path())
        .args(["export", "--format", "alpaca", "--status", "all", "--json", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rows"].as_u64(), Some(3), "{v}");
    let log = std::fs::read_to_string(ws.path().join("distillery.log")).unwrap();
    assert!(log.contains("distillery -w") && log.contains("import") && log.contains("export"));
    // A failing command logs its error too, and -q keeps stderr to the error alone.
    let o =
        bin().arg("-w").arg(ws.path()).args(["-q", "import", "/no/such/file"]).output().unwrap();
    assert!(!o.status.success());
    let log = std::fs::read_to_string(ws.path().join("distillery.log")).unwrap();
    assert!(log.contains("ERROR") && log.contains("/no/such/file"), "{log}");
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_itself() {
    let o = bin().args(["completions", "bash"]).output().unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && s.contains("_distillery") && s.contains("generate"), "{s}");
    let o = bin().arg("man").output().unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && s.contains(".TH distillery") && s.contains("export"), "{s}");
}

/// Strings from `distillery.toml` reach the terminal cleaned: the workspace's name in `stats`,
/// a bad key quoted in a config error, and a curator name is refused outright.
#[test]
fn workspace_strings_are_cleaned_before_printing() {
    let ws = workspace();
    let cfg = ws.path().join("distillery.toml");
    let orig = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("name = \"\\u001b[31mEvil\\u202e\"\n{orig}")).unwrap();
    let out = bin().arg("-w").arg(ws.path()).arg("stats").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("Evil"), "{text}");
    assert!(!text.contains('\x1b') && !text.contains('\u{202e}'), "{text:?}");
    std::fs::write(&cfg, format!("\"\\u001b[2Jwiped\" = 1\n{orig}")).unwrap();
    let out = bin().arg("-w").arg(ws.path()).arg("stats").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("wiped"), "{err}");
    assert!(!err.contains('\x1b'), "{err:?}");
    std::fs::write(&cfg, orig).unwrap();
    let out = bin().arg("-w").arg(ws.path()).args(["--curator", "a\x1bb", "stats"]).output();
    let out = out.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("control characters"), "{err}");
    assert!(!err.contains('\x1b'), "{err:?}");
}
