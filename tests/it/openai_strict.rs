//! Requests strict servers accept: seeds in range, only the standard fields unless the flavor
//! adds its own, `extra` and headers; many requests in flight with backoff shared; answers capped,
//! broken ones failing alone, reasoning kept apart, secrets never said.

use distillery::llm::openai::{http_date, split_thinking, EndpointConfig, Flavor, OpenAiClient};
use distillery::llm::{FinishReason, GenParams, Generator, LlmError};
use distillery::sample::{Message, Role};
use std::time::{Duration, Instant};

use super::openai_server::*;

fn msgs() -> Vec<Message> {
    vec![Message { role: Role::User, content: "Say hi".into() }]
}

/// The seed of a u64 RNG draw above int64's range (as recipes used to send).
const BIG_SEED: u64 = 11_168_034_603_498_703_870;

fn params() -> GenParams {
    GenParams { seed: BIG_SEED, top_k: 40, repetition_penalty: 1.1, ..GenParams::default() }
}

fn strict_client(
    strict: Strict,
    tweak: impl FnOnce(&mut EndpointConfig),
) -> (Server, OpenAiClient) {
    let s = serve_with(vec![ok("hi")], Duration::ZERO, Some(strict));
    let c = client(&s, tweak);
    (s, c)
}

#[test]
fn every_flavor_sends_what_its_server_accepts() {
    // api.openai.com: standard fields only, max_completion_tokens, a seed in range.
    let (s, mut c) = strict_client(Strict::Openai, |c| c.flavor = Flavor::Openai);
    assert_eq!(c.generate(&msgs(), &params(), 1).unwrap()[0].text, "hi");
    let b = s.seen.lock().unwrap()[0].body.clone();
    assert_eq!(b["max_completion_tokens"], 256);
    assert!(b.get("top_k").is_none() && b.get("repetition_penalty").is_none(), "{b}");
    let seed = b["seed"].as_u64().unwrap();
    assert!(seed < 1 << 31, "{seed}");
    assert_eq!(seed, BIG_SEED % (1 << 31), "the same seed gives the same request");

    // The old request (top_k, repetition_penalty, max_tokens, a u64 seed) is what they refuse.
    let old = serde_json::json!({"model": "m", "messages": [], "top_k": 40, "seed": BIG_SEED});
    assert!(validate(Strict::Openai, &old).unwrap().contains("top_k"));
    assert!(validate(Strict::Vllm, &old).unwrap().contains("seed"));
    assert!(validate(Strict::Ollama, &old).unwrap().contains("seed"));

    for (strict, flavor) in [(Strict::Vllm, Flavor::Vllm), (Strict::Ollama, Flavor::Ollama)] {
        let (s, mut c) = strict_client(strict, |c| c.flavor = flavor);
        c.generate(&msgs(), &params(), 1).unwrap();
        let b = s.seen.lock().unwrap()[0].body.clone();
        assert_eq!(b["max_tokens"], 256);
        let own = flavor == Flavor::Vllm;
        assert_eq!(b.get("top_k").is_some(), own, "{flavor}: {b}");
        assert_eq!(b.get("repetition_penalty").is_some(), own, "{flavor}: {b}");
    }
    // auto on a host that is not OpenAI's: the standard fields and max_tokens.
    let (s, mut c) = strict_client(Strict::Vllm, |_| {});
    assert_eq!(c.flavor(), Flavor::Auto);
    c.generate(&msgs(), &params(), 1).unwrap();
    let b = s.seen.lock().unwrap()[0].body.clone();
    assert!(b.get("top_k").is_none() && b["max_tokens"] == 256, "{b}");
    assert_eq!(Flavor::Auto.resolve("https://api.openai.com/v1"), Flavor::Openai);
    assert_eq!(Flavor::Auto.resolve("https://x.openai.azure.com/openai"), Flavor::Openai);
}

#[test]
fn llamacpp_gets_its_names_and_one_choice_per_request_and_extra_and_headers_go_out() {
    let s = serve(vec![ok("a")], Duration::ZERO);
    std::env::set_var("DISTILLERY_TEST_AZURE", "azure-secret-value");
    let mut c = client(&s, |c| {
        c.flavor = Flavor::Llamacpp;
        c.extra
            .insert("chat_template_kwargs".into(), serde_json::json!({"enable_thinking": false}));
        c.headers.insert("X-Team".into(), "curation".into());
        c.header_env.insert("api-key".into(), "DISTILLERY_TEST_AZURE".into());
    });
    assert_eq!(c.generate(&msgs(), &params(), 3).unwrap().len(), 3);
    let seen = s.seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "llama.cpp's server takes one choice per request");
    for r in seen.iter() {
        assert_eq!(r.body["n"], 1);
        assert_eq!(r.body["repeat_penalty"], serde_json::json!(1.1));
        assert_eq!(r.body["top_k"], 40);
        assert_eq!(r.body["chat_template_kwargs"]["enable_thinking"], false);
        let h = |k: &str| r.headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(h("x-team").as_deref(), Some("curation"));
        assert_eq!(h("api-key").as_deref(), Some("azure-secret-value"));
    }
    let mut seeds: Vec<u64> = seen.iter().map(|r| r.body["seed"].as_u64().unwrap()).collect();
    seeds.sort();
    let first = BIG_SEED % (1 << 31);
    assert_eq!(seeds, vec![first, first + 1, first + 2]);
}

#[test]
fn a_server_that_refuses_n_is_asked_one_choice_at_a_time() {
    // llama.cpp's words, with its status (500).
    let refuse = Reply::Status {
        code: 500,
        headers: vec![],
        body: r#"{"error":{"code":500,"message":"Only one completion choice is allowed","type":"server_error"}}"#.into(),
    };
    let s = serve(vec![refuse, ok("x")], Duration::ZERO);
    let mut c = client(&s, |c| c.max_retries = 0);
    assert_eq!(c.generate(&msgs(), &params(), 2).unwrap().len(), 2);
    c.generate(&msgs(), &params(), 2).unwrap();
    let seen = s.seen.lock().unwrap();
    let ns: Vec<u64> = seen.iter().map(|r| r.body["n"].as_u64().unwrap()).collect();
    assert_eq!(ns, vec![2, 1, 1, 1, 1], "refused once, then never asked for two again");
}

#[test]
fn handles_keep_the_concurrency_in_flight() {
    let s = serve(vec![ok("x")], Duration::from_millis(400));
    let mut c = client(&s, |c| c.concurrency = 8);
    let width = distillery::llm::parallel::width(&c, 5, 16);
    assert_eq!(width, 8, "an endpoint counts requests, and k answers are one");
    let t = Instant::now();
    let mut next = |i: usize| (i < 16).then_some(i);
    let work = |m: &mut dyn Generator, i: usize| (i, m.generate(&msgs(), &GenParams::default(), 1));
    let mut order = Vec::new();
    let mut commit = |_: usize, (i, r): (usize, Result<_, LlmError>)| {
        r.unwrap();
        order.push(i);
        true
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    distillery::llm::parallel::run_ordered(&mut c, width, &stop, &mut next, &work, &mut commit);
    let took = t.elapsed();
    assert_eq!(order, (0..16).collect::<Vec<_>>(), "results are taken in order");
    assert_eq!(s.max_in_flight.load(std::sync::atomic::Ordering::SeqCst), 8);
    assert!(took < Duration::from_millis(2400), "16 × 0.4 s at 8 in flight took {took:?}");
}

#[test]
fn a_429_pauses_every_request_to_the_endpoint_and_dates_count() {
    assert_eq!(http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let at = now.as_secs() + 2;
    let date = distillery::llm::template::strftime("%a, %d %b %Y %H:%M:%S GMT", at as i64);
    assert_eq!(http_date(&date), Some(at));
    let busy =
        Reply::Status { code: 429, headers: vec![("Retry-After".into(), date)], body: "{}".into() };
    let s = serve(vec![busy, ok("fine")], Duration::ZERO);
    let c = client(&s, |c| c.concurrency = 2);
    let t = Instant::now();
    // The first request is refused; a second handle's request, started after, waits too.
    let mut h1 = c.handle().unwrap();
    let mut h2 = c.handle().unwrap();
    let a = std::thread::spawn(move || h1.generate(&msgs(), &GenParams::default(), 1).is_ok());
    std::thread::sleep(Duration::from_millis(300));
    let b = std::thread::spawn(move || h2.generate(&msgs(), &GenParams::default(), 1).is_ok());
    assert!(a.join().unwrap() && b.join().unwrap());
    assert!(t.elapsed() >= Duration::from_millis(900), "{:?}", t.elapsed());
    let seen = s.seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen[2].at.duration_since(seen[0].at) >= Duration::from_millis(900));
    let said = c.stats.last_wait.lock().unwrap().clone().unwrap();
    assert!(said.contains("429") && said.contains("every request"), "{said}");
}

#[test]
fn an_answer_over_the_cap_is_cut_there_and_marked() {
    let piece = "y".repeat(1000);
    let chunks: Vec<String> = (0..500).map(|_| chunk(0, &piece, None)).collect();
    let s = serve(vec![Reply::Stream { chunks, end: End::Done }], Duration::ZERO);
    let mut c = client(&s, |c| c.max_answer_bytes = Some(4096));
    let out = c.generate(&msgs(), &GenParams::default(), 1).unwrap();
    assert_eq!(out[0].text.len(), 4096);
    assert_eq!(out[0].finish, FinishReason::Length);
    // The default cap follows the token limit (64 bytes a token, at least 64 KiB).
    assert_eq!(EndpointConfig::new("http://x", "m").answer_cap(60), 64 * 1024);
    assert_eq!(EndpointConfig::new("http://x", "m").answer_cap(4096), 4096 * 64);
}

#[test]
fn broken_answers_are_named_and_fail_alone() {
    let mut bad = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ab".to_vec();
    bad.extend([0xff, 0xfe]);
    bad.extend(b"\"}}]}\n\n");
    let not_utf8 = Reply::Bytes { content_type: "text/event-stream".into(), body: bad };
    let html =
        Reply::Bytes { content_type: "text/html".into(), body: b"<h1>Gateway</h1>".to_vec() };
    let json = serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "whole"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}});
    let whole = Reply::Bytes {
        content_type: "application/json".into(),
        body: json.to_string().into_bytes(),
    };
    let s = serve(vec![not_utf8, html, whole], Duration::ZERO);
    let mut c = client(&s, |_| {});
    let e = c.generate(&msgs(), &GenParams::default(), 1).unwrap_err();
    assert!(matches!(&e, LlmError::Answer { .. }) && e.to_string().contains("UTF-8"), "{e}");
    let e = c.generate(&msgs(), &GenParams::default(), 1).unwrap_err();
    assert!(
        e.to_string().contains("not an event stream") && e.to_string().contains("Gateway"),
        "{e}"
    );
    // A server that ignores `stream` and answers with one JSON completion is read as such.
    assert_eq!(c.generate(&msgs(), &GenParams::default(), 1).unwrap()[0].text, "whole");
    assert_eq!(c.stats.tokens(), 4);
}

#[test]
fn reasoning_is_kept_apart_from_the_answer() {
    assert_eq!(
        split_thinking("<think>\n3 + 4 is 7\n</think>\n\n7".into()),
        ("7".into(), "3 + 4 is 7".into())
    );
    assert_eq!(split_thinking("7 <think>x</think>".into()).0, "7 <think>x</think>");
    let think = |t: &str| {
        serde_json::json!({"choices": [{"index": 0, "delta": {"reasoning_content": t}, "finish_reason": null}]}).to_string()
    };
    let chunks =
        vec![think("First, "), think("add."), chunk(0, "7", None), chunk(0, "", Some("stop"))];
    let s = serve(vec![Reply::Stream { chunks, end: End::Done }], Duration::ZERO);
    let out = client(&s, |_| {}).generate(&msgs(), &GenParams::default(), 1).unwrap();
    assert_eq!((out[0].text.as_str(), out[0].reasoning.as_deref()), ("7", Some("First, add.")));
}

#[test]
fn the_key_is_redacted_from_what_a_server_echoes() {
    std::env::set_var("DISTILLERY_TEST_KEY_ECHO", "sk-echoed-secret-456");
    let echo = |code| Reply::Status {
        code,
        headers: vec![("Retry-After".into(), "0".into())],
        body: "{\"error\":\"Incorrect API key provided: sk-echoed-secret-456\"}".into(),
    };
    let s = serve(vec![echo(500), echo(401)], Duration::ZERO);
    let mut c = client(&s, |c| c.api_key_env = Some("DISTILLERY_TEST_KEY_ECHO".into()));
    let err = c.generate(&msgs(), &GenParams::default(), 1).unwrap_err().to_string();
    assert!(err.contains("401") && err.contains("[redacted]"), "{err}");
    assert!(!err.contains("sk-echoed"), "{err}");
    let said = c.stats.last_wait.lock().unwrap().clone().unwrap();
    assert!(said.contains("[redacted]") && !said.contains("sk-echoed"), "{said}");
}

#[test]
fn structured_output_is_asked_for_and_dropped_once_refused() {
    let schema = distillery::judge::critic::verdict_schema();
    let refuse = Reply::Status {
        code: 400,
        headers: vec![],
        body: "{\"error\":{\"message\":\"response_format json_schema is not supported\"}}".into(),
    };
    let s =
        serve(vec![ok("{\"score\": 7, \"rationale\": \"ok\"}"), refuse, ok("7")], Duration::ZERO);
    let mut c = client(&s, |c| c.flavor = Flavor::Openai);
    c.generate_json(&msgs(), &schema, "{", &GenParams::default(), 1).unwrap();
    c.generate_json(&msgs(), &schema, "{", &GenParams::default(), 1).unwrap();
    c.generate_json(&msgs(), &schema, "{", &GenParams::default(), 1).unwrap();
    let seen = s.seen.lock().unwrap();
    let f = &seen[0].body["response_format"];
    assert_eq!(f["type"], "json_schema");
    assert_eq!(f["json_schema"]["schema"], schema);
    assert_eq!(f["json_schema"]["strict"], true);
    assert!(seen[1].body.get("response_format").is_some());
    assert!(seen[2..].iter().all(|r| r.body.get("response_format").is_none()));
    assert_eq!(seen.len(), 4);
}

#[test]
fn each_flavors_request_body_as_captured() {
    // The bodies a recipe's request carries, one per flavor (printed for the record with
    // --nocapture); each strict server accepts its own.
    for flavor in [
        Flavor::Auto,
        Flavor::Openai,
        Flavor::Vllm,
        Flavor::Sglang,
        Flavor::Llamacpp,
        Flavor::Ollama,
    ] {
        let strict = match flavor {
            Flavor::Openai => Strict::Openai,
            Flavor::Ollama => Strict::Ollama,
            _ => Strict::Vllm,
        };
        let (s, mut c) = strict_client(strict, |c| c.flavor = flavor);
        c.generate(&msgs(), &params(), 1).unwrap();
        let body = s.seen.lock().unwrap()[0].body.clone();
        eprintln!("{flavor}: {body}");
        assert!(validate(strict, &body).is_none());
    }
}
