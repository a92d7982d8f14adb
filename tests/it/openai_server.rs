//! A local OpenAI-compatible server for the client's tests: it answers each request with a
//! scripted reply (a status, or a stream that ends, is cut or stalls) and records what it saw.
//! In a strict mode it first validates the request the way a real server does (api.openai.com:
//! unknown arguments, `max_tokens` on a model that wants `max_completion_tokens`, the seed's
//! range; vLLM: a seed outside int64; Ollama: a seed outside Go's `int`), answering 400 as they do.

use distillery::llm::openai::{EndpointConfig, OpenAiClient};
use distillery::llm::{GenParams, Generator, LlmError};
use distillery::sample::{Message, Role};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server answers to one request.
#[derive(Clone)]
pub(crate) enum Reply {
    Status {
        code: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// SSE `data:` payloads, then how the stream ends.
    Stream {
        chunks: Vec<String>,
        end: End,
    },
    /// A 200 with this content type and these bytes, as they are.
    Bytes {
        content_type: String,
        body: Vec<u8>,
    },
}

#[derive(Clone)]
pub(crate) enum End {
    Done,
    /// Close the connection without `[DONE]`.
    Cut,
    /// Send nothing more for this long, then close.
    Stall(Duration),
}

/// A request the server saw.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) path: String,
    pub(crate) authorization: Option<String>,
    /// Every header, names in lower case.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: serde_json::Value,
    pub(crate) at: std::time::Instant,
}

/// Whose request validation the server applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Strict {
    /// api.openai.com with a model that takes `max_completion_tokens` only.
    Openai,
    Vllm,
    Ollama,
}

/// The arguments api.openai.com's chat and completions routes know.
const OPENAI_FIELDS: &[&str] = &[
    "model",
    "messages",
    "prompt",
    "stream",
    "stream_options",
    "n",
    "temperature",
    "top_p",
    "max_completion_tokens",
    "max_tokens",
    "seed",
    "stop",
    "logprobs",
    "top_logprobs",
    "response_format",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
    "metadata",
    "store",
    "service_tier",
];

/// What `strict` says of `body`: None when it accepts it, else the 400's body.
pub(crate) fn validate(strict: Strict, body: &serde_json::Value) -> Option<String> {
    let err = |m: String| {
        Some(serde_json::json!({"error": {"message": m, "type": "invalid_request_error", "param": null, "code": null}}).to_string())
    };
    let obj = body.as_object()?;
    let seed = obj.get("seed");
    match strict {
        Strict::Openai => {
            if let Some(k) = obj.keys().find(|k| !OPENAI_FIELDS.contains(&k.as_str())) {
                return err(format!("Unrecognized request argument supplied: {k}"));
            }
            if obj.contains_key("max_tokens") && obj.contains_key("messages") {
                return err("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.".into());
            }
            if seed.is_some_and(|s| s.as_i64().is_none()) {
                return err(format!(
                    "Invalid 'seed': integer above the maximum value: {}",
                    seed.unwrap()
                ));
            }
        }
        Strict::Vllm => {
            if seed.is_some_and(|s| s.as_i64().is_none()) {
                return err(format!("1 validation error: seed: Input should be less than or equal to 9223372036854775807 (got {})", seed.unwrap()));
            }
        }
        Strict::Ollama => {
            if seed.is_some_and(|s| s.as_i64().is_none()) {
                return err(format!("json: cannot unmarshal number {} into Go struct field ChatCompletionRequest.seed of type int", seed.unwrap()));
            }
        }
    }
    None
}

pub(crate) struct Server {
    pub(crate) url: String,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    pub(crate) max_in_flight: Arc<AtomicUsize>,
}

pub(crate) fn chunk(index: usize, text: &str, finish: Option<&str>) -> String {
    serde_json::json!({"choices": [{"index": index, "delta": {"content": text}, "finish_reason": finish}]}).to_string()
}

pub(crate) fn ok(text: &str) -> Reply {
    let mid = text.len() / 2;
    Reply::Stream {
        chunks: vec![
            chunk(0, &text[..mid], None),
            chunk(0, &text[mid..], None),
            chunk(0, "", Some("stop")),
        ],
        end: End::Done,
    }
}

/// Serves `replies` in order, one per request (the last one repeats), each connection on its own
/// thread so concurrency can be observed.
pub(crate) fn serve(replies: Vec<Reply>, delay: Duration) -> Server {
    serve_with(replies, delay, None)
}

/// [`serve`], validating each request first as `strict` says.
pub(crate) fn serve_with(replies: Vec<Reply>, delay: Duration, strict: Option<Strict>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let (s2, f2, m2) = (seen.clone(), in_flight.clone(), max_in_flight.clone());
    std::thread::spawn(move || {
        let next = Arc::new(AtomicUsize::new(0));
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (replies, seen, next, in_flight, max) =
                (replies.clone(), s2.clone(), next.clone(), f2.clone(), m2.clone());
            std::thread::spawn(move || {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                let done = || {
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                };
                handle(conn, &replies, &seen, &next, delay, strict, &done);
            });
        }
    });
    Server { url, seen, max_in_flight }
}

pub(crate) fn handle(
    conn: TcpStream,
    replies: &[Reply],
    seen: &Mutex<Vec<Seen>>,
    next: &AtomicUsize,
    delay: Duration,
    strict: Option<Strict>,
    // Called once the request is answered, before the bytes that let the client go on: so a
    // request counts as in flight exactly while the client waits for it.
    done: &dyn Fn(),
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let (mut len, mut auth, mut headers) = (0, None, Vec::new());
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        let k = k.to_ascii_lowercase();
        match k.as_str() {
            "content-length" => len = v.trim().parse().unwrap(),
            "authorization" => auth = Some(v.trim().to_owned()),
            _ => {}
        }
        headers.push((k, v.trim().to_owned()));
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let refused = strict.and_then(|s| validate(s, &body));
    let at = std::time::Instant::now();
    seen.lock().unwrap().push(Seen { path, authorization: auth, headers, body, at });
    let i = next.fetch_add(1, Ordering::SeqCst).min(replies.len() - 1);
    std::thread::sleep(delay);
    let mut w = conn;
    let refusal;
    let reply = match refused {
        Some(body) => {
            refusal = Reply::Status { code: 400, headers: vec![], body };
            &refusal
        }
        None => &replies[i],
    };
    match reply {
        Reply::Status { code, headers, body } => {
            let mut head = format!(
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            done();
            let _ = write!(w, "{head}\r\n{body}");
        }
        Reply::Bytes { content_type, body } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            done();
            let _ = w.write_all(head.as_bytes());
            let _ = w.write_all(body);
        }
        Reply::Stream { chunks, end } => {
            let _ = write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
            );
            for c in chunks {
                let _ = write!(w, "data: {c}\n\n");
                let _ = w.flush();
            }
            match end {
                End::Done => {
                    done();
                    let _ = write!(w, "data: [DONE]\n\n");
                }
                // The client goes on when the connection closes, after this returns.
                End::Cut => done(),
                End::Stall(d) => {
                    std::thread::sleep(*d);
                    done();
                }
            }
        }
    }
    let _ = w.flush();
}

pub(crate) fn client(server: &Server, tweak: impl FnOnce(&mut EndpointConfig)) -> OpenAiClient {
    let mut cfg = EndpointConfig::new(&server.url, "test-model");
    cfg.idle_timeout_s = 5.0;
    tweak(&mut cfg);
    OpenAiClient::new("test", cfg).unwrap()
}

pub(crate) fn ask(c: &mut OpenAiClient, n: usize) -> Result<Vec<String>, LlmError> {
    let msgs = [Message { role: Role::User, content: "Say hi".into() }];
    Ok(c.generate(&msgs, &GenParams { seed: 42, ..GenParams::default() }, n)?
        .into_iter()
        .map(|c| c.text)
        .collect())
}
