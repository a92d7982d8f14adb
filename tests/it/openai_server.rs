//! A local OpenAI-compatible server for the client's tests: it answers each request with a
//! scripted reply (a status, or a stream that ends, is cut or stalls) and records what it saw.

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
    pub(crate) body: serde_json::Value,
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
                handle(conn, &replies, &seen, &next, delay, &done);
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
    // Called once the request is answered, before the bytes that let the client go on: so a
    // request counts as in flight exactly while the client waits for it.
    done: &dyn Fn(),
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let (mut len, mut auth) = (0, None);
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().unwrap(),
            "authorization" => auth = Some(v.trim().to_owned()),
            _ => {}
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    seen.lock().unwrap().push(Seen {
        path,
        authorization: auth,
        body: serde_json::from_slice(&body).unwrap(),
    });
    let i = next.fetch_add(1, Ordering::SeqCst).min(replies.len() - 1);
    std::thread::sleep(delay);
    let mut w = conn;
    match &replies[i] {
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
