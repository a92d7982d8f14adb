//! `generate`, `judge` and `eval --critic` as a user runs them, against the strict mock in
//! api.openai.com's mode: every request the three commands send is one that server accepts.

use super::cli::{bin, workspace};
use super::openai_server::{ok, serve_with, Strict};
use std::path::Path;
use std::time::Duration;

fn run(ws: &Path, args: &[&str]) -> serde_json::Value {
    let o = bin().arg("-w").arg(ws).args(args).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "distillery {args:?}:\n{text}");
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(out.lines().last().unwrap_or("")).unwrap_or(serde_json::Value::Null)
}

#[test]
fn generate_judge_and_eval_with_a_critic_against_a_strict_openai_server() {
    // Every request gets a verdict-shaped answer: right for the critic, some answer for the rest.
    let s = serve_with(
        vec![ok("{\"score\": 7, \"rationale\": \"Fine.\"}")],
        Duration::ZERO,
        Some(Strict::Openai),
    );
    let ws = workspace();
    let cfg = ws.path().join("distillery.toml");
    let tiny = ws.path().join("tiny.gguf");
    distillery::llm::testing::write_tiny_llama(&tiny, &Default::default()).unwrap();
    let extra = format!(
        "\n[endpoints.openai]\nbase_url = {:?}\nmodel = \"gpt-test\"\nflavor = \"openai\"\nconcurrency = 4\n",
        s.url
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[teacher]\n", &format!("[teacher]\nmodel = {:?}\n", tiny.display().to_string()))
        .replace("[judge]\n", "[judge]\ncritic = \"openai\"\n")
        + &extra;
    std::fs::write(&cfg, text).unwrap();
    let questions = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-data/arithmetic/questions.jsonl");
    run(ws.path(), &["import", questions, "--task", "arithmetic"]);
    let eval = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-data/arithmetic/eval.jsonl");
    run(ws.path(), &["import", eval, "--task", "arithmetic"]);

    let g = run(
        ws.path(),
        &words(
            "generate --recipe rejection-sampling -n 3 -k 2 --keep-failed --endpoint openai --json",
        ),
    );
    assert_eq!(g["attempts"], 3, "{g}");
    let j = run(ws.path(), &["judge", "-n", "3", "--json"]);
    assert_eq!((j["judged"].as_u64(), j["unparsed"].as_u64()), (Some(3), Some(0)), "{j}");
    let e =
        run(ws.path(), &["eval", "--critic", "--max-tokens", "8", "--train-items", "0", "--json"]);
    assert!(e.to_string().contains("critic"), "{e}");

    let seen = s.seen.lock().unwrap();
    assert!(seen.len() >= 3 + 3 * 2, "{} requests", seen.len());
    for r in seen.iter() {
        assert!(super::openai_server::validate(Strict::Openai, &r.body).is_none(), "{}", r.body);
    }
    let critic = seen.iter().filter(|r| r.body.to_string().contains("<<<SAMPLE")).count();
    assert!(critic >= 3, "the judge's and eval's verdicts came from the endpoint: {critic}");
    assert!(seen.iter().any(|r| r.body["response_format"]["type"] == "json_schema"));
}

fn words(s: &str) -> Vec<&str> {
    s.split(' ').collect()
}
