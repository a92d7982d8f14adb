//! OpenAI-compatible endpoints (vLLM, SGLang, llama.cpp server, Ollama, hosted APIs) as a
//! [`Generator`](super::Generator).
//!
//! - Requests carry the standard fields, plus what the endpoint's [`Flavor`] adds under its
//!   server's names, plus the `extra` table; seeds are in `0..2^31` ([`portable_seed`]).
//! - Streaming (`stream: true`), read as server-sent events; a server that answers with one JSON
//!   completion instead is read as such. A choice is kept only when the server said how it
//!   finished; a stream that ends before that is retried, never stored as a partial sample.
//!   `<think>…</think>` and `reasoning_content` are kept apart from the answer.
//! - Timeouts (connect, and idle: the longest wait for the next chunk), retries with jittered
//!   exponential backoff on 429, 5xx, connection errors, stalls and cut streams, honouring
//!   `Retry-After` (seconds or an HTTP date). A 429 pauses every request to the endpoint.
//! - Handles ([`Generator::handle`]) share one connection pool, one concurrency limit, one token
//!   budget and one backoff, so recipes, the judge and eval keep `concurrency` requests in flight.
//! - An answer is capped in bytes (cut there and reported). A malformed chunk, invalid UTF-8 or a
//!   reply that is not an event stream fails that answer ([`LlmError::Answer`]), not the run.
//! - `n > 1`: asked in one request where the flavor takes `n`; when the server returns fewer
//!   choices, the missing ones are asked separately (at once) with seeds `seed + i`.
//! - The API key (and `header_env` values) come from the environment; they are never stored, and
//!   are redacted from every error and log line.

mod flavor;
mod send;
mod stream;

pub use super::endpoint::{EndpointConfig, EndpointStats};
use super::local::Completion;
use super::sampling::GenParams;
use super::LlmError;
use crate::sample::Message;
pub use flavor::{portable_seed, Flavor, SEED_RANGE};
pub use send::http_date;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
pub use stream::split_thinking;
use tokio::sync::Semaphore;

/// What every handle on one endpoint shares.
struct Shared {
    name: String,
    cfg: EndpointConfig,
    flavor: Flavor,
    key: Option<String>,
    /// Every secret to redact: the key and the `header_env` values.
    secrets: Vec<String>,
    headers: reqwest::header::HeaderMap,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    permits: Semaphore,
    /// Whether to ask for log-probabilities (cleared when the server refuses them).
    logprobs: AtomicBool,
    /// Whether to ask for `n` choices at once (cleared when the server refuses it).
    takes_n: AtomicBool,
    /// Whether to ask for structured output (cleared when the server refuses it).
    schema: AtomicBool,
    /// No request starts before this (set by a 429: backoff is per endpoint).
    pause_until: Mutex<Option<Instant>>,
}

/// A client for one endpoint.
pub struct OpenAiClient {
    pub name: String,
    shared: Arc<Shared>,
    pub stats: Arc<EndpointStats>,
    cancel: Option<Arc<AtomicBool>>,
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

impl OpenAiClient {
    /// A client for `cfg`; reads the API key (and secret headers) from the environment.
    pub fn new(name: &str, cfg: EndpointConfig) -> Result<OpenAiClient, LlmError> {
        let err = |m: String| LlmError::Endpoint { name: name.into(), message: m };
        let var = |v: &str| {
            std::env::var(v).map_err(|_| err(format!("the API key variable {v} is not set")))
        };
        let key = cfg.api_key_env.as_deref().map(var).transpose()?;
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(err(format!(
                "base_url {:?} must start with http:// or https://",
                cfg.base_url
            )));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        let mut secrets: Vec<String> = key.iter().cloned().collect();
        let secret: Vec<(String, String)> = cfg
            .header_env
            .iter()
            .map(|(h, v)| Ok((h.clone(), var(v)?)))
            .collect::<Result<_, LlmError>>()?;
        secrets.extend(secret.iter().map(|(_, v)| v.clone()));
        for (h, v) in cfg.headers.iter().chain(secret.iter().map(|(h, v)| (h, v))) {
            let bad = |what: &str| err(format!("header {h:?}: not a valid HTTP header {what}"));
            let name =
                reqwest::header::HeaderName::from_bytes(h.as_bytes()).map_err(|_| bad("name"))?;
            let mut value = reqwest::header::HeaderValue::from_str(v).map_err(|_| bad("value"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        secrets.retain(|s| s.len() >= 4);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs_f64(cfg.connect_timeout_s.max(0.01)))
            .build()
            .map_err(|e| err(format!("cannot build the HTTP client: {e}")))?;
        // One I/O thread; each handle's thread drives its own requests with `block_on`.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| err(e.to_string()))?;
        let flavor = cfg.flavor.resolve(&cfg.base_url);
        let shared = Shared {
            name: name.into(),
            permits: Semaphore::new(cfg.concurrency.max(1)),
            logprobs: AtomicBool::new(cfg.logprobs),
            takes_n: AtomicBool::new(flavor.takes_n()),
            schema: AtomicBool::new(true),
            flavor,
            cfg,
            key,
            secrets,
            headers,
            http,
            rt,
            pause_until: Mutex::new(None),
        };
        let stats = Arc::default();
        Ok(OpenAiClient { name: name.into(), shared: Arc::new(shared), stats, cancel: None })
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.shared.cfg
    }

    /// The flavor in force (`auto` resolved by the host).
    pub fn flavor(&self) -> Flavor {
        self.shared.flavor
    }

    /// The request body of `n` answers to `input` (messages or a prompt) with `seed`.
    fn body(&self, kind: Kind, input: Value, p: &GenParams, n: usize, seed: u64) -> Value {
        let sh = &self.shared;
        let mut b = json!({
            "model": sh.cfg.model,
            "stream": true,
            "stream_options": {"include_usage": true},
            "temperature": flavor::decimal(p.temperature),
            "top_p": flavor::decimal(p.top_p),
            "seed": portable_seed(seed),
        });
        // The legacy completions route takes `max_tokens` everywhere.
        let cap = match kind {
            Kind::Chat => sh.flavor.max_tokens_field(),
            Kind::Text => "max_tokens",
        };
        b[cap] = json!(p.max_tokens);
        b["n"] = json!(n);
        match kind {
            Kind::Chat => b["messages"] = input,
            Kind::Text => b["prompt"] = input,
        }
        if !p.stop.is_empty() {
            b["stop"] = json!(p.stop);
        }
        for (k, v) in sh.flavor.sampling(p) {
            b[k] = v;
        }
        if sh.logprobs.load(Ordering::Relaxed) {
            // Chat takes a flag; the legacy completions route takes how many alternatives.
            b["logprobs"] = match kind {
                Kind::Chat => json!(true),
                Kind::Text => json!(1),
            };
        }
        if let Some(o) = b.as_object_mut() {
            o.extend(sh.cfg.extra.clone());
        }
        b
    }

    fn run(
        &self,
        kind: Kind,
        input: Value,
        p: &GenParams,
        n: usize,
        schema: Option<&Value>,
    ) -> Result<Vec<Completion>, LlmError> {
        let n = n.max(1);
        let sh = &self.shared;
        let body = |n: usize, seed: u64| {
            let mut b = self.body(kind, input.clone(), p, n, seed);
            if let Some(s) = schema.filter(|_| sh.schema.load(Ordering::Relaxed)) {
                let (k, v) = sh.flavor.schema_field("verdict", s);
                b[k] = v;
            }
            b
        };
        sh.rt.block_on(async {
            let first = if sh.takes_n.load(Ordering::Relaxed) { n } else { 1 };
            let mut got = self.request(kind, &body(first, p.seed)).await?;
            got.truncate(n);
            if got.len() < n {
                // The server ignored `n` (or takes one): ask for the rest at once, own seeds.
                let missing = (got.len()..n).map(|i| {
                    let b = body(1, p.seed.wrapping_add(i as u64));
                    async move { self.request(kind, &b).await }
                });
                for more in futures_util::future::join_all(missing).await {
                    got.extend(more?.into_iter().take(1));
                }
            }
            Ok(got)
        })
    }
}

impl super::Generator for OpenAiClient {
    fn generate(
        &mut self,
        messages: &[Message],
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        self.run(Kind::Chat, json!(messages), params, n, None)
    }

    fn complete(
        &mut self,
        prompt: &str,
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        self.run(Kind::Text, Value::String(prompt.into()), params, n, None)
    }

    /// Asked with the flavor's structured-output field (`prefix` cannot be sent: a chat API
    /// starts the reply itself); a server that refuses the field is asked again without, once
    /// per client, and the caller's parser takes the prose.
    fn generate_json(
        &mut self,
        messages: &[Message],
        schema: &Value,
        _prefix: &str,
        params: &GenParams,
        n: usize,
    ) -> Result<Vec<Completion>, LlmError> {
        self.run(Kind::Chat, json!(messages), params, n, Some(schema))
    }

    fn set_cancel(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = Some(flag);
    }

    fn name(&self) -> String {
        format!("{}:{}", self.name, self.shared.cfg.model)
    }

    fn handle(&self) -> Option<Box<dyn super::Generator + Send>> {
        Some(Box::new(OpenAiClient {
            name: self.name.clone(),
            shared: self.shared.clone(),
            stats: self.stats.clone(),
            cancel: self.cancel.clone(),
        }))
    }

    fn endpoint_stats(&self) -> Option<Arc<EndpointStats>> {
        Some(self.stats.clone())
    }

    /// Requests in flight: an answer of k choices is one request, so this counts items.
    fn parallelism(&self) -> usize {
        self.shared.cfg.concurrency.max(1)
    }
}
