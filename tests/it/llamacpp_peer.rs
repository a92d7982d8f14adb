//! A real OpenAI-compatible server as teacher and critic: llama-cpp-python's server
//! (`pip install 'llama-cpp-python[server]'`) on 127.0.0.1 with the demo's model. `generate`,
//! `judge`, `eval --critic` and `bench judge --critic` run against it through the CLI; every verdict of the critic
//! must parse. The server is started with `--interrupt_requests False` (by default a new request
//! cuts the one streaming), and takes the requests in flight one after another.
//! Skipped, saying so, when the server or the model is not installed (`DISTILLERY_LLAMACPP_PYTHON`
//! names the python that has it; default `python3`).

use super::cli::bin;
use distillery::llm::fetch::{cache_dir, DEFAULT_FILES};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python() -> Option<String> {
    let py = std::env::var("DISTILLERY_LLAMACPP_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import llama_cpp.server, uvicorn"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(py)
}

fn start(py: &str, model: &std::path::Path, log: &std::path::Path) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new(py)
        .args(["-m", "llama_cpp.server", "--host", "127.0.0.1", "--n_ctx", "4096"])
        // By default a new request interrupts the one streaming (llama-cpp-python's
        // `interrupt_requests`): with requests in flight it must queue them instead.
        .args(["--interrupt_requests", "False", "--n_threads", "2"])
        .args(["--port", &port.to_string(), "--model"])
        .arg(model)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server(child);
    let url = format!("http://127.0.0.1:{port}/v1");
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(120), "the llama.cpp server did not start");
        std::thread::sleep(Duration::from_millis(250));
    }
    (server, url)
}

fn run(ws: &std::path::Path, args: &[&str]) -> String {
    let o = bin().arg("-w").arg(ws).args(args).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "distillery {args:?}:\n{text}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn generate_judge_eval_and_bench_judge_against_a_real_llamacpp_server() {
    let model = DEFAULT_FILES[0].path(&cache_dir());
    let Some(py) = python() else {
        eprintln!("SKIPPED: no llama-cpp-python server (pip install 'llama-cpp-python[server]'; DISTILLERY_LLAMACPP_PYTHON)");
        return;
    };
    if !model.exists() {
        eprintln!("SKIPPED: {} is missing; run `distillery models fetch`", model.display());
        return;
    }
    let ws = super::cli::workspace();
    // The server's output, kept for a failure's post-mortem.
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("llamacpp-server.log");
    eprintln!("llama.cpp server log: {}", log.display());
    let (_server, url) = start(&py, &model, &log);
    let cfg = ws.path().join("distillery.toml");
    let extra = format!("\n[endpoints.peer]\nbase_url = {url:?}\nmodel = \"smollm2\"\nflavor = \"llamacpp\"\nconcurrency = 2\n");
    let text =
        std::fs::read_to_string(&cfg).unwrap().replace("[judge]\n", "[judge]\ncritic = \"peer\"\n");
    std::fs::write(&cfg, text + &extra).unwrap();
    let questions = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-data/arithmetic/questions.jsonl");
    run(ws.path(), &["import", questions, "--task", "arithmetic"]);

    let out = run(
        ws.path(),
        &words(
            "generate --recipe rejection-sampling -n 3 -k 2 --keep-failed --endpoint peer --json",
        ),
    );
    let g: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(g["attempts"], 3, "{g}");
    assert!(g["kept"].as_u64().unwrap() >= 1, "{g}");

    let out = run(ws.path(), &["judge", "-n", "3", "--critic", "peer", "--json"]);
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((j["judged"].as_u64(), j["unparsed"].as_u64()), (Some(3), Some(0)), "{j}");

    // `eval --critic`: the base model answers 4 held-out items, the server's critic scores each.
    let all = include_str!("../../sample-data/arithmetic/eval.jsonl");
    let items = ws.path().join("eval4.jsonl");
    std::fs::write(&items, all.lines().take(4).collect::<Vec<_>>().join("\n")).unwrap();
    run(ws.path(), &["import", items.to_str().unwrap(), "--task", "arithmetic"]);
    let out = run(ws.path(), &words("eval --critic --train-items 0 --max-tokens 8 --json"));
    let e: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    let critic = e["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == "critic_score");
    let critic = critic.unwrap_or_else(|| panic!("no critic score: {e}"));
    assert_eq!(critic["n"], 4, "every answer scored by the server's critic: {critic}");

    let out = run(ws.path(), &["bench", "judge", "--critic", "peer"]);
    let line = out.lines().find(|l| l.starts_with("bench judge:")).expect("the bench's last line");
    eprintln!("{line}");
    // The critic's own prompt (the hardened rubric): every verdict parsed. The naive prompt is
    // the injection bench's baseline, reported, not the critic.
    assert!(line.contains(" injected_unparsed=0 "), "every verdict parsed: {line}");
}

fn words(s: &str) -> Vec<&str> {
    s.split(' ').collect()
}
