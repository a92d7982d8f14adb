//! The import rules (docs/ARCHITECTURE.md): which module of `src/` may use which. The core never
//! imports `tui` or `cli`, `tui` never imports `cli`, `store` no recipe or job code, and the
//! allowed graph has no circle. Only `tui`, `cli` and `main.rs` may use ratatui or crossterm.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each module and the modules it may use, bottom layer first.
const ALLOWED: &[(&str, &[&str])] = &[
    ("text", &[]),
    ("fsio", &[]),
    ("sample", &["text"]),
    ("llm", &["text", "fsio", "sample"]),
    ("judge", &["llm", "text", "fsio", "sample"]),
    ("store", &["judge", "text", "fsio", "sample"]),
    ("formats", &["store", "judge", "text", "fsio", "sample"]),
    ("workspace", &["store", "judge", "llm", "text", "fsio", "sample"]),
    ("recipes", &["workspace", "store", "judge", "llm", "text", "fsio", "sample"]),
    ("train", &["workspace", "store", "judge", "llm", "formats", "text", "fsio", "sample"]),
    (
        "work",
        &[
            "train",
            "recipes",
            "workspace",
            "formats",
            "store",
            "judge",
            "llm",
            "text",
            "fsio",
            "sample",
        ],
    ),
    (
        "tui",
        &[
            "work",
            "train",
            "recipes",
            "workspace",
            "formats",
            "store",
            "judge",
            "llm",
            "text",
            "fsio",
            "sample",
        ],
    ),
    // The CLI is the top: it opens the workbench (`demo`, no command) and benchmarks its index.
    (
        "cli",
        &[
            "tui",
            "work",
            "train",
            "recipes",
            "workspace",
            "formats",
            "store",
            "judge",
            "llm",
            "text",
            "fsio",
            "sample",
        ],
    ),
];

/// The modules of the crate, as `use crate::NAME` or `distillery::NAME` names them.
fn modules() -> BTreeSet<&'static str> {
    ALLOWED.iter().map(|(m, _)| *m).collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module a source file belongs to (`tui/panes/queue.rs` → `tui`, `fsio.rs` → `fsio`).
fn module_of(rel: &str) -> String {
    let first = rel.split('/').next().unwrap_or(rel);
    first.trim_end_matches(".rs").to_string()
}

/// The crate modules a line names: `crate::X`, and the names inside `use crate::{X::…, Y}`.
fn named(line: &str, modules: &BTreeSet<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let group = rest.strip_prefix('{');
        let text = group.map_or(rest, |g| &g[..g.find('}').unwrap_or(g.len())]);
        let heads: Vec<&str> = if group.is_some() {
            text.split(',').map(|p| p.trim().split("::").next().unwrap_or("").trim()).collect()
        } else {
            let end = text.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(text.len());
            vec![&text[..end]]
        };
        out.extend(heads.into_iter().filter(|h| modules.contains(h)).map(str::to_string));
    }
    out
}

/// Every use of a module that `ALLOWED` does not allow, as `file:line: text`, for sources given
/// as (path under src/, text).
fn violations(files: &[(String, String)]) -> Vec<String> {
    let allowed: BTreeMap<&str, BTreeSet<&str>> =
        ALLOWED.iter().map(|(m, deps)| (*m, deps.iter().copied().collect())).collect();
    let modules = modules();
    let mut out = Vec::new();
    for (rel, text) in files {
        let me = module_of(rel);
        let Some(ok) = allowed.get(me.as_str()) else { continue };
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for m in named(code, &modules) {
                if m != me && !ok.contains(m.as_str()) {
                    out.push(format!("src/{rel}:{}: {} (`{me}` may not use `{m}`)", i + 1, code));
                }
            }
        }
    }
    out
}

fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
            (rel, std::fs::read_to_string(&f).unwrap())
        })
        .collect()
}

#[test]
fn modules_use_only_what_the_rules_allow() {
    let files = sources();
    assert!(files.len() > 50, "found the sources");
    let mods = modules();
    for (rel, _) in &files {
        let m = module_of(rel);
        assert!(
            mods.contains(m.as_str()) || m == "lib" || m == "main",
            "src/{rel}: module `{m}` has no line in ALLOWED (tests/architecture.rs)"
        );
    }
    let bad = violations(&files);
    assert!(bad.is_empty(), "imports against the rules:\n{}", bad.join("\n"));
}

#[test]
fn the_rules_catch_an_upward_import() {
    let files = vec![
        ("tui/student.rs".to_string(), "//! doc\nuse crate::cli::eval::METRICS;\n".to_string()),
        ("store/x.rs".to_string(), "use crate::{sample::Status, recipes::Recipe};".to_string()),
        ("judge/x.rs".to_string(), "    let s = crate::work::judging::run();".to_string()),
        ("tui/ok.rs".to_string(), "// crate::cli in a comment\nuse crate::work::jobs;".to_string()),
    ];
    let bad = violations(&files);
    assert_eq!(bad.len(), 3, "{bad:#?}");
    assert!(bad[0].starts_with("src/tui/student.rs:2: use crate::cli::eval::METRICS;"), "{bad:?}");
    assert!(bad[1].contains("`store` may not use `recipes`"), "{bad:?}");
    assert!(bad[2].contains("`judge` may not use `work`"), "{bad:?}");
}

#[test]
fn the_allowed_graph_has_no_circle() {
    // Each module may use only modules listed before it.
    let mut seen = BTreeSet::new();
    for (m, deps) in ALLOWED {
        for d in *deps {
            assert!(seen.contains(d), "`{m}` may use `{d}`, which is not below it");
        }
        seen.insert(*m);
    }
}

#[test]
fn core_modules_do_not_import_the_ui() {
    let mut offenders = Vec::new();
    for (rel, text) in sources() {
        if rel.starts_with("tui/") || rel.starts_with("cli/") || rel == "main.rs" {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            if line.contains("ratatui") || line.contains("crossterm") {
                offenders.push(format!("src/{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "UI crates used in core modules:\n{}", offenders.join("\n"));
}

#[test]
fn keys_page_matches_the_default_keymap() {
    let page = distillery::tui::keymap::Keymap::default_keys().markdown();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/keys.md");
    if std::env::var_os("DISTILLERY_WRITE_DOCS").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        doc == page,
        "docs/keys.md differs from the default keymap: run DISTILLERY_WRITE_DOCS=1 cargo test keys_page"
    );
}

/// Every key a `toml::Value` holds, by name.
fn keys_of(v: &toml::Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                out.insert(k.clone());
                keys_of(v, out);
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|v| keys_of(v, out)),
        _ => {}
    }
}

#[test]
fn the_config_reference_lists_every_key() {
    let cfg: distillery::workspace::Config = toml::from_str(
        r#"
        name = "x"
        [tui]
        keymap = "k.toml"
        [teacher]
        model = "m.gguf"
        endpoint = "e"
        [endpoints.e]
        base_url = "http://localhost:1/v1"
        model = "m"
        api_key_env = "K"
        token_budget = 10
        [judge.auto_accept]
        min_score = 8.0
        [[judge.verify]]
        task = "t"
        recipe = "self-instruct"
        kind = "json"
        [[judge.verify]]
        kind = "regex"
        pattern = "^a"
        [[judge.verify]]
        kind = "exact"
        reference = "a"
        "#,
    )
    .unwrap();
    let mut keys = std::collections::BTreeSet::new();
    keys_of(&toml::Value::try_from(&cfg).unwrap(), &mut keys);
    keys.remove("e");
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/config.md"))
        .unwrap();
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| {
            // A key (`name`), or a table ([judge], [judge.auto_accept], [endpoints.NAME]).
            ![format!("`{k}`"), format!("{k}]"), format!("[{k}.")].iter().any(|f| doc.contains(f))
        })
        .collect();
    assert!(keys.len() > 20, "{keys:?}");
    assert!(missing.is_empty(), "docs/config.md does not list {missing:?}");
}
