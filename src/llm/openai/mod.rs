//! OpenAI-compatible endpoints (vLLM, SGLang, llama.cpp server, Ollama, hosted APIs) as a
//! [`Generator`](super::Generator).
//!
//! - Streaming only (`stream: true`), read as server-sent events. A choice is kept only when the
//!   server said how it finished (`finish_reason`); a stream that ends before that is an error and
//!   is retried, never stored as a partial sample.
//! - Timeouts: connect, and idle (the longest wait for the next chunk, so a stalled server is
//!   noticed without limiting long generations).
//! - Retries with jittered exponential backoff on 429, 5xx, connection errors, stalls and cut
//!   streams, honouring `Retry-After`. A malformed chunk or an error event inside a 200 stream is
//!   reported with the raw text, not retried.
//! - A concurrency limit per endpoint, and a token budget per run with a hard stop.
//! - `n > 1`: asked in one request; when the server returns fewer choices (it ignored `n`), the
//!   missing ones are asked separately with seeds `seed + i`, so a vote always has k answers.
//! - The API key is read from the environment variable the config names; it is never stored,
//!   printed or logged.

mod stream;

pub use super::endpoint::{EndpointConfig, EndpointStats};
use super::local::Completion;
use super::sampling::GenParams;
use super::LlmError;
use crate::sample::Message;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use stream::Stream;
use tokio::sync::Semaphore;

/// A client for one endpoint.
pub struct OpenAiClient {
    pub name: String,
    cfg: EndpointConfig,
    key: Option<String>,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    permits: Arc<Semaphore>,
    pub stats: Arc<EndpointStats>,
    cancel: Option<Arc<AtomicBool>>,
    /// Whether to ask for log-probabilities (cleared when the server refuses them).
    logprobs: AtomicBool,
}

/// What went wrong with one attempt.
pub(super) enum Failure {
    /// Worth trying again (after the server's `Retry-After` when it gave one).
    Retry {
        why: String,
        after: Option<Duration>,
    },
    Fatal(String),
    Cancelled,
    /// A 4xx that names `logprobs`: the server does not offer them.
    NoLogprobs(String),
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Chat,
    Text,
}

/// Shortens and cleans server text for an error message.
pub(super) fn snippet(s: &str) -> String {
    let s = crate::text::clean_line(s.trim());
    let mut out: String = s.chars().take(300).collect();
    if s.chars().count() > 300 {
        out.push('…');
    }
    out
}

/// `Retry-After` in seconds (the HTTP-date form is rare from these servers and is ignored).
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<f64>().ok()?;
    (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v.min(300.0)))
}

/// Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … (capped at 30 s), times a random factor
/// in [0.5, 1).
fn backoff(attempt: u32, salt: u64) -> Duration {
    let base = (0.5 * 2f64.powi(attempt as i32)).min(30.0);
    let mut rng = super::sampling::Rng::new(
        salt ^ u64::from(attempt).wrapping_mul(0x9e37) ^ std::process::id() as u64,
    );
    Duration::from_secs_f64(base * (0.5 + rng.next_f64() * 0.5))
}

impl OpenAiClient {
    /// A client for `cfg`; reads the API key from the environment variable it names.
    pub fn new(name: &str, cfg: EndpointConfig) -> Result<OpenAiClient, LlmError> {
        let err = |m: String| LlmError::Endpoint { name: name.into(), message: m };
        let key = match &cfg.api_key_env {
            Some(var) => Some(
                std::env::var(var)
                    .map_err(|_| err(format!("the API key variable {var} is not set")))?,
            ),
            None => None,
        };
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(err(format!(
                "base_url {:?} must start with http:// or https://",
                cfg.base_url
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs_f64(cfg.connect_timeout_s.max(0.01)))
            .build()
            .map_err(|e| err(format!("cannot build the HTTP client: {e}")))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(e.to_string()))?;
        let permits = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
        let logprobs = AtomicBool::new(cfg.logprobs);
        Ok(OpenAiClient {
            name: name.into(),
            cfg,
            key,
            http,
            rt,
            permits,
            stats: Arc::default(),
            cancel: None,
            logprobs,
        })
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    fn error(&self, message: impl Into<String>) -> LlmError {
        LlmError::Endpoint { name: self.name.clone(), message: message.into() }
    }

    fn body(&self, kind: Kind, input: Value, p: &GenParams, n: usize, seed: u64) -> Value {
        let mut b = json!({
            "model": self.cfg.model,
            "stream": true,
            "stream_options": {"include_usage": true},
            "n": n,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "seed": seed,
        });
        match kind {
            Kind::Chat => b["messages"] = input,
            Kind::Text => b["prompt"] = input,
        }
        if !p.stop.is_empty() {
            b["stop"] = json!(p.stop);
        }
        if p.repetition_penalty != 1.0 {
            b["repetition_penalty"] = json!(p.repetition_penalty);
        }
        if p.top_k > 0 {
            b["top_k"] = json!(p.top_k);
        }
        if self.logprobs.load(Ordering::Relaxed) {
            // Chat takes a flag; the legacy completions route takes how many alternatives.
            b["logprobs"] = match kind {
                Kind::Chat => json!(true),
                Kind::Text => json!(1),
            };
        }
        b
    }

    fn run(
        &self,
        kind: Kind,
        input: Value,
        p: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        let n = n.max(1);
        self.rt.block_on(async {
            let mut got = self.request(kind, &self.body(kind, input.clone(), p, n, p.seed)).await?;
            got.truncate(n);
            if got.len() < n {
                // The server ignored `n`: ask for the rest one by one, with their own seeds.
                let missing = (got.len()..n).map(|i| {
                    let body = self.body(kind, input.clone(), p, 1, p.seed.wrapping_add(i as u64));
                    async move { self.request(kind, &body).await }
                });
                for more in futures_util::future::join_all(missing).await {
                    got.extend(more?.into_iter().take(1));
                }
            }
            Ok(got)
        })
    }

    /// One request with retries.
    async fn request(&self, kind: Kind, body: &Value) -> Result<Vec<Completion>, LlmError> {
        let mut attempt = 0;
        let mut body = std::borrow::Cow::Borrowed(body);
        loop {
            if let Some(limit) = self.cfg.token_budget {
                let used = self.stats.tokens();
                if used >= limit {
                    return Err(LlmError::Budget { name: self.name.clone(), used, limit });
                }
            }
            if self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(LlmError::Cancelled);
            }
            let outcome = {
                let _permit =
                    self.permits.acquire().await.map_err(|e| self.error(e.to_string()))?;
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                self.once(kind, &body).await
            };
            match outcome {
                Ok(c) => return Ok(c),
                Err(Failure::Retry { why, after }) if attempt < self.cfg.max_retries => {
                    let wait = after
                        .unwrap_or_else(|| backoff(attempt, body["seed"].as_u64().unwrap_or(0)));
                    tracing::warn!(
                        "endpoint {}: {why}; retry {} of {} in {:.1} s",
                        self.name,
                        attempt + 1,
                        self.cfg.max_retries,
                        wait.as_secs_f64()
                    );
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(Failure::Retry { why, .. }) => {
                    return Err(self
                        .error(format!("{why} (gave up after {} retries)", self.cfg.max_retries)))
                }
                Err(Failure::Fatal(why)) => return Err(self.error(why)),
                Err(Failure::Cancelled) => return Err(LlmError::Cancelled),
                Err(Failure::NoLogprobs(why)) if body.get("logprobs").is_some() => {
                    tracing::warn!(
                        "endpoint {}: {why}; asking without log-probabilities from now on",
                        self.name
                    );
                    self.logprobs.store(false, Ordering::Relaxed);
                    body.to_mut().as_object_mut().map(|o| o.remove("logprobs"));
                }
                Err(Failure::NoLogprobs(why)) => return Err(self.error(why)),
            }
        }
    }

    /// One attempt: send, then read the stream to its end.
    async fn once(&self, kind: Kind, body: &Value) -> Result<Vec<Completion>, Failure> {
        let path = match kind {
            Kind::Chat => "chat/completions",
            Kind::Text => "completions",
        };
        let url = format!("{}/{path}", self.cfg.base_url.trim_end_matches('/'));
        let idle = Duration::from_secs_f64(self.cfg.idle_timeout_s.max(0.01));
        let mut req = self.http.post(&url).json(body);
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let resp = match tokio::time::timeout(idle, req.send()).await {
            Err(_) => {
                return Err(Failure::Retry {
                    why: format!("no response from {url} in {:.0} s", idle.as_secs_f64()),
                    after: None,
                })
            }
            Ok(Err(e)) if e.is_connect() || e.is_timeout() || e.is_request() => {
                return Err(Failure::Retry {
                    why: format!("cannot reach {url}: {}", error_chain(&e)),
                    after: None,
                })
            }
            Ok(Err(e)) => {
                return Err(Failure::Fatal(format!("request to {url} failed: {}", error_chain(&e))))
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if !status.is_success() {
            let after = retry_after(resp.headers());
            let text = tokio::time::timeout(idle, resp.text())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let why = format!("HTTP {status} from {url}: {}", snippet(&text));
            return Err(match status.as_u16() {
                429 | 500..=599 => Failure::Retry { why, after },
                400..=499
                    if status.as_u16() != 401
                        && status.as_u16() != 403
                        && text.contains("logprob") =>
                {
                    Failure::NoLogprobs(why)
                }
                _ => Failure::Fatal(why),
            });
        }
        let mut events = resp.bytes_stream().eventsource();
        let mut stream = Stream::new(kind);
        loop {
            let ev = match tokio::time::timeout(idle, events.next()).await {
                Err(_) => {
                    return Err(Failure::Retry {
                        why: format!(
                            "the stream stalled (no data for {:.0} s)",
                            idle.as_secs_f64()
                        ),
                        after: None,
                    })
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(Failure::Retry {
                        why: format!("the stream was cut: {e}"),
                        after: None,
                    })
                }
                Ok(Some(Ok(ev))) => ev,
            };
            if self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(Failure::Cancelled);
            }
            if stream.feed(ev.data.trim())? {
                break;
            }
            if let Some(limit) = self.cfg.token_budget {
                if self.stats.tokens() + stream.streamed() as u64 > limit {
                    return Err(Failure::Fatal(format!(
                        "the token budget of {limit} ran out mid-stream; the answer was dropped"
                    )));
                }
            }
        }
        let (completions, prompt_t, completion_t) = stream.finish()?;
        self.stats.prompt_tokens.fetch_add(prompt_t, Ordering::Relaxed);
        self.stats.completion_tokens.fetch_add(completion_t, Ordering::Relaxed);
        Ok(completions)
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

impl super::Generator for OpenAiClient {
    fn generate(
        &mut self,
        messages: &[Message],
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        self.run(Kind::Chat, json!(messages), params, n)
    }

    fn complete(
        &mut self,
        prompt: &str,
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        self.run(Kind::Text, Value::String(prompt.into()), params, n)
    }

    fn set_cancel(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = Some(flag);
    }

    fn name(&self) -> String {
        format!("{}:{}", self.name, self.cfg.model)
    }
}
