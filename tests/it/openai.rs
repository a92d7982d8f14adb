//! The OpenAI-compatible client against a local HTTP server that plays every fault: 429 with
//! Retry-After, 500, a stall, a stream cut mid-way, a malformed chunk, an error inside a 200
//! stream, `n` ignored, a spent budget, and the API key's handling.

use distillery::llm::openai::{EndpointConfig, OpenAiClient};
use distillery::llm::{GenParams, Generator, LlmError};
use distillery::sample::{Message, Role};
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::openai_server::*;

#[test]
fn a_streamed_answer_is_assembled_and_the_request_is_well_formed() {
    let s = serve(vec![ok("Hello there")], Duration::ZERO);
    let mut c = client(&s, |_| {});
    assert_eq!(ask(&mut c, 1).unwrap(), vec!["Hello there"]);
    let seen = s.seen.lock().unwrap();
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].body["model"], "test-model");
    assert_eq!(seen[0].body["stream"], true);
    assert_eq!(seen[0].body["messages"][0]["role"], "user");
    assert_eq!(seen[0].authorization, None);
}

#[test]
fn a_429_is_retried_after_the_servers_retry_after() {
    let busy = Reply::Status {
        code: 429,
        headers: vec![("Retry-After".into(), "1".into())],
        body: "{\"error\":\"slow down\"}".into(),
    };
    let s = serve(vec![busy, ok("fine")], Duration::ZERO);
    let mut c = client(&s, |_| {});
    let t = Instant::now();
    assert_eq!(ask(&mut c, 1).unwrap(), vec!["fine"]);
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "retried after {:?}, not the 1 s asked",
        t.elapsed()
    );
    assert_eq!(c.stats.retries.load(Ordering::Relaxed), 1);
}

#[test]
fn a_500_is_retried_and_gives_up_with_the_servers_words() {
    let broken = Reply::Status { code: 500, headers: vec![], body: "kaboom in the GPU".into() };
    let s = serve(vec![broken.clone(), ok("recovered")], Duration::ZERO);
    assert_eq!(ask(&mut client(&s, |_| {}), 1).unwrap(), vec!["recovered"]);
    let s = serve(vec![broken], Duration::ZERO);
    let err = ask(&mut client(&s, |c| c.max_retries = 1), 1).unwrap_err().to_string();
    assert!(
        err.contains("500") && err.contains("kaboom in the GPU") && err.contains("gave up after 1"),
        "{err}"
    );
    assert_eq!(s.seen.lock().unwrap().len(), 2);
}

#[test]
fn a_stalled_stream_times_out_and_is_retried() {
    let stall = Reply::Stream {
        chunks: vec![chunk(0, "Hel", None)],
        end: End::Stall(Duration::from_secs(3)),
    };
    let s = serve(vec![stall, ok("Hello")], Duration::ZERO);
    let mut c = client(&s, |c| c.idle_timeout_s = 0.5);
    let t = Instant::now();
    assert_eq!(
        ask(&mut c, 1).unwrap(),
        vec!["Hello"],
        "the partial \"Hel\" must never be returned"
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "waited for the stall instead of timing out: {:?}",
        t.elapsed()
    );
}

#[test]
fn a_stream_cut_mid_way_is_an_error_never_a_partial_sample() {
    let cut = Reply::Stream { chunks: vec![chunk(0, "The answer is", None)], end: End::Cut };
    let s = serve(vec![cut.clone()], Duration::ZERO);
    let err = ask(&mut client(&s, |c| c.max_retries = 0), 1).unwrap_err().to_string();
    assert!(err.contains("cut"), "{err}");
    let s = serve(vec![cut, ok("The answer is 4")], Duration::ZERO);
    assert_eq!(ask(&mut client(&s, |_| {}), 1).unwrap(), vec!["The answer is 4"]);
}

#[test]
fn a_malformed_chunk_is_reported_with_its_raw_text_and_not_retried() {
    let bad = Reply::Stream {
        chunks: vec![chunk(0, "ok", None), "{\"choices\": [oops".into()],
        end: End::Done,
    };
    let s = serve(vec![bad, ok("never asked")], Duration::ZERO);
    let err = ask(&mut client(&s, |_| {}), 1).unwrap_err().to_string();
    assert!(err.contains("malformed chunk") && err.contains("{\"choices\": [oops"), "{err}");
    assert_eq!(s.seen.lock().unwrap().len(), 1);
}

#[test]
fn an_error_inside_a_200_stream_is_reported() {
    let e = serde_json::json!({"error": {"message": "CUDA out of memory", "type": "server_error"}})
        .to_string();
    let s = serve(
        vec![Reply::Stream { chunks: vec![chunk(0, "Hi", None), e], end: End::Done }],
        Duration::ZERO,
    );
    let err = ask(&mut client(&s, |_| {}), 1).unwrap_err().to_string();
    assert!(err.contains("CUDA out of memory") && err.contains("mid-stream"), "{err}");
}

#[test]
fn when_the_server_ignores_n_the_rest_are_asked_one_by_one_with_their_own_seeds() {
    let s = serve(vec![ok("one")], Duration::ZERO);
    let out = ask(&mut client(&s, |_| {}), 3).unwrap();
    assert_eq!(out.len(), 3, "a vote needs its k answers");
    let seen = s.seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].body["n"], 3);
    let mut seeds: Vec<u64> = seen[1..].iter().map(|r| r.body["seed"].as_u64().unwrap()).collect();
    seeds.sort();
    assert_eq!(seeds, vec![43, 44]);
    assert!(seen[1..].iter().all(|r| r.body["n"] == 1));
}

#[test]
fn when_the_server_honours_n_one_request_brings_every_choice() {
    let chunks = vec![
        chunk(0, "a", None),
        chunk(1, "b", None),
        chunk(1, "", Some("stop")),
        chunk(0, "", Some("length")),
    ];
    let s = serve(vec![Reply::Stream { chunks, end: End::Done }], Duration::ZERO);
    let mut c = client(&s, |_| {});
    let msgs = [Message { role: Role::User, content: "x".into() }];
    let out = c.generate(&msgs, &GenParams::default(), 2).unwrap();
    assert_eq!(out.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
    assert_eq!(out[0].finish, distillery::llm::FinishReason::Length);
    assert_eq!(s.seen.lock().unwrap().len(), 1);
}

#[test]
fn the_token_budget_stops_the_run_hard() {
    let usage =
        serde_json::json!({"choices": [], "usage": {"prompt_tokens": 15, "completion_tokens": 10}})
            .to_string();
    let reply = Reply::Stream { chunks: vec![chunk(0, "Hi", Some("stop")), usage], end: End::Done };
    let s = serve(vec![reply], Duration::ZERO);
    let mut c = client(&s, |c| c.token_budget = Some(20));
    ask(&mut c, 1).unwrap();
    assert_eq!(c.stats.tokens(), 25);
    let err = ask(&mut c, 1).unwrap_err();
    assert!(matches!(err, LlmError::Budget { used: 25, limit: 20, .. }), "{err}");
    assert_eq!(s.seen.lock().unwrap().len(), 1, "no request after the budget ran out");
}

#[test]
fn requests_in_flight_never_exceed_the_concurrency_limit() {
    for limit in [1, 2] {
        let s = serve(vec![ok("x")], Duration::from_millis(150));
        ask(&mut client(&s, |c| c.concurrency = limit), 4).unwrap();
        assert_eq!(s.max_in_flight.load(Ordering::SeqCst), limit, "concurrency {limit}");
    }
}

#[test]
fn the_api_key_comes_from_the_named_variable_and_never_appears_in_errors() {
    let s = serve(
        vec![Reply::Status { code: 401, headers: vec![], body: "invalid key".into() }],
        Duration::ZERO,
    );
    std::env::set_var("DISTILLERY_TEST_KEY_A", "sk-very-secret-123");
    let mut c = client(&s, |c| c.api_key_env = Some("DISTILLERY_TEST_KEY_A".into()));
    let err = ask(&mut c, 1).unwrap_err().to_string();
    assert!(err.contains("401") && !err.contains("sk-very-secret"), "{err}");
    assert_eq!(
        s.seen.lock().unwrap()[0].authorization.as_deref(),
        Some("Bearer sk-very-secret-123")
    );
    assert_eq!(s.seen.lock().unwrap().len(), 1, "a 401 is not retried");
    let mut cfg = EndpointConfig::new(&s.url, "m");
    cfg.api_key_env = Some("DISTILLERY_TEST_KEY_UNSET".into());
    let err = OpenAiClient::new("test", cfg).err().unwrap().to_string();
    assert!(err.contains("DISTILLERY_TEST_KEY_UNSET is not set"), "{err}");
}

#[test]
fn raw_prompts_go_to_the_completions_route() {
    let text = |t: &str, f: Option<&str>| {
        serde_json::json!({"choices": [{"index": 0, "text": t, "finish_reason": f}]}).to_string()
    };
    let s = serve(
        vec![Reply::Stream {
            chunks: vec![text("1. Write", None), text(" a poem", Some("stop"))],
            end: End::Done,
        }],
        Duration::ZERO,
    );
    let out = client(&s, |_| {}).complete("Tasks:\n", &GenParams::default(), 1).unwrap();
    assert_eq!(out[0].text, "1. Write a poem");
    let seen = s.seen.lock().unwrap();
    assert_eq!(seen[0].path, "/v1/completions");
    assert_eq!(seen[0].body["prompt"], "Tasks:\n");
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = EndpointConfig {
        max_retries: 0,
        ..EndpointConfig::new(&format!("http://127.0.0.1:{port}/v1"), "m")
    };
    let err = ask(&mut OpenAiClient::new("test", cfg).unwrap(), 1).unwrap_err().to_string();
    assert!(err.contains("cannot reach") && err.contains(&port.to_string()), "{err}");
}

#[test]
fn log_probabilities_are_asked_for_and_kept_per_token() {
    let lp = |i: usize, t: &str, l: f64, f: Option<&str>| {
        serde_json::json!({"choices": [{"index": i, "delta": {"content": t}, "logprobs": {"content": [{"token": t, "logprob": l}]}, "finish_reason": f}]})
            .to_string()
    };
    let chunks =
        vec![lp(0, "Hi", -0.25, None), lp(0, "!", -1.5, None), lp(0, "", -0.0, Some("stop"))];
    let s = serve(vec![Reply::Stream { chunks, end: End::Done }], Duration::ZERO);
    let msgs = [Message { role: Role::User, content: "Say hi".into() }];
    let out = client(&s, |_| {}).generate(&msgs, &GenParams::default(), 1).unwrap();
    assert_eq!(out[0].text, "Hi!");
    assert_eq!(out[0].logprobs, vec![-0.25, -1.5, -0.0]);
    assert_eq!(s.seen.lock().unwrap()[0].body["logprobs"], true);
    // The completions route: `token_logprobs`, asked for with a count.
    let text = serde_json::json!({"choices": [{"index": 0, "text": "ok", "logprobs": {"token_logprobs": [-0.5]}, "finish_reason": "stop"}]}).to_string();
    let s = serve(vec![Reply::Stream { chunks: vec![text], end: End::Done }], Duration::ZERO);
    let out = client(&s, |_| {}).complete("Tasks:\n", &GenParams::default(), 1).unwrap();
    assert_eq!(out[0].logprobs, vec![-0.5]);
    assert_eq!(s.seen.lock().unwrap()[0].body["logprobs"], 1);
}

#[test]
fn a_server_that_refuses_log_probabilities_is_asked_again_without_them() {
    let refuse = Reply::Status {
        code: 400,
        headers: vec![],
        body: "{\"error\":{\"message\":\"logprobs is not supported\"}}".into(),
    };
    let s = serve(vec![refuse, ok("fine"), ok("again")], Duration::ZERO);
    let mut c = client(&s, |cfg| cfg.max_retries = 0);
    assert_eq!(ask(&mut c, 1).unwrap(), vec!["fine"], "no retry budget is spent on it");
    assert_eq!(ask(&mut c, 1).unwrap(), vec!["again"]);
    let seen = s.seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].body["logprobs"], true);
    assert!(
        seen[1].body.get("logprobs").is_none() && seen[2].body.get("logprobs").is_none(),
        "and not again"
    );
    // Switched off in the config, they are never asked for; another 400 stays an error.
    let bad =
        Reply::Status { code: 400, headers: vec![], body: "{\"error\":\"bad model\"}".into() };
    let s = serve(vec![bad], Duration::ZERO);
    let err = ask(&mut client(&s, |cfg| cfg.logprobs = false), 1).unwrap_err().to_string();
    assert!(err.contains("HTTP 400") && err.contains("bad model"), "{err}");
    assert!(s.seen.lock().unwrap()[0].body.get("logprobs").is_none());
}
