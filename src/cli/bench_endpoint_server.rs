//! The benchmark's stand-in for a busy GPU server: an OpenAI-compatible chat route on 127.0.0.1
//! that takes a fixed time per request however many are in flight (as a vLLM server with free
//! batch slots does), streams its answer, and counts the requests it holds at once. A fixture
//! for `bench endpoint` only, never a teacher.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running latency server.
pub struct LatencyServer {
    /// `http://127.0.0.1:PORT/v1`.
    pub url: String,
    pub requests: Arc<AtomicUsize>,
    pub max_in_flight: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
}

impl LatencyServer {
    /// Serves on a free port; each request is answered `delay` after it arrived.
    pub fn start(delay: Duration) -> std::io::Result<LatencyServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/v1", listener.local_addr()?);
        let s = LatencyServer {
            url,
            requests: Arc::default(),
            max_in_flight: Arc::default(),
            in_flight: Arc::default(),
        };
        let (req, max, now) = (s.requests.clone(), s.max_in_flight.clone(), s.in_flight.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (req, max, now) = (req.clone(), max.clone(), now.clone());
                std::thread::spawn(move || {
                    req.fetch_add(1, Ordering::SeqCst);
                    max.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    let _ = answer(conn, delay, &now);
                });
            }
        });
        Ok(s)
    }

    /// Starts counting requests in flight afresh.
    pub fn reset(&self) {
        self.requests.store(0, Ordering::SeqCst);
        self.max_in_flight.store(0, Ordering::SeqCst);
        debug_assert_eq!(self.in_flight.load(Ordering::SeqCst), 0);
    }
}

fn answer(conn: TcpStream, delay: Duration, in_flight: &AtomicUsize) -> std::io::Result<()> {
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut len = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let n = body["n"].as_u64().unwrap_or(1).clamp(1, 64) as usize;
    let seed = body["seed"].as_u64().unwrap_or(0);
    let critic = body.to_string().contains("<<<SAMPLE");
    std::thread::sleep(delay);
    let mut w = conn;
    write!(w, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")?;
    for i in 0..n {
        let text = if critic {
            "{\"score\": 7, \"rationale\": \"Plausible.\"}".to_owned()
        } else {
            format!("The answer is {}.", (seed as usize + i) % 97)
        };
        let c = serde_json::json!({"choices": [{"index": i, "delta": {"content": text}, "finish_reason": "stop"}]});
        write!(w, "data: {c}\n\n")?;
    }
    let usage = serde_json::json!({"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 8 * n}});
    in_flight.fetch_sub(1, Ordering::SeqCst);
    write!(w, "data: {usage}\n\ndata: [DONE]\n\n")?;
    w.flush()
}
