//! Sending one request: retries with backoff shared per endpoint, the fields a server refuses
//! dropped (once per client), secrets redacted from everything said about it.

use super::stream::Stream;
use super::{snippet, Kind, OpenAiClient, Shared};
use crate::llm::local::Completion;
use crate::llm::LlmError;
use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// What went wrong with one attempt.
pub(super) enum Failure {
    /// Worth trying again (after the server's `Retry-After` when it gave one).
    Retry {
        why: String,
        after: Option<Duration>,
        busy: bool,
    },
    /// The request cannot succeed: the run stops.
    Fatal(String),
    /// This answer is broken (a malformed chunk, invalid UTF-8, not an event stream): it is
    /// dropped and the run goes on.
    Answer(String),
    Cancelled,
    /// The server refused an optional field of the request (log-probabilities, `n`, a schema).
    Refused {
        field: Optional,
        why: String,
    },
}

/// The optional parts of a request a server may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Optional {
    Logprobs,
    N,
    Schema,
}

impl Optional {
    /// The optional field a refusal names, when the request has it.
    fn named_in(text: &str, body: &Value) -> Option<Optional> {
        let t = text.to_ascii_lowercase();
        let has = |k: &str| body.get(k).is_some();
        if t.contains("logprob") && has("logprobs") {
            Some(Optional::Logprobs)
        } else if (t.contains("response_format") || t.contains("json_schema"))
            && has("response_format")
        {
            Some(Optional::Schema)
        } else if t.contains("completion choice") && body["n"].as_u64().is_some_and(|n| n > 1) {
            Some(Optional::N)
        } else {
            None
        }
    }
}

/// `Retry-After`: seconds, or an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    let secs = match v.parse::<f64>() {
        Ok(s) => s,
        Err(_) => {
            let at = http_date(v)?;
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
            at.saturating_sub(now) as f64
        }
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(300.0)))
}

/// Seconds since 1970 of an IMF-fixdate (RFC 9110's preferred form).
pub fn http_date(s: &str) -> Option<u64> {
    let p: Vec<&str> = s.split_whitespace().collect();
    if p.len() != 6 || p[5] != "GMT" {
        return None;
    }
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let day: i64 = p[1].parse().ok()?;
    let month = MONTHS.iter().position(|m| *m == p[2])? as i64 + 1;
    let year: i64 = p[3].parse().ok()?;
    let t: Vec<i64> = p[4].split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    if t.len() != 3 || !(1..=31).contains(&day) || t[0] > 23 || t[1] > 59 || t[2] > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]).ok()
}

/// Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … (capped at 30 s), times a random factor
/// in [0.5, 1).
fn backoff(attempt: u32, salt: u64) -> Duration {
    let base = (0.5 * 2f64.powi(attempt as i32)).min(30.0);
    let mut rng = crate::llm::sampling::Rng::new(
        salt ^ u64::from(attempt).wrapping_mul(0x9e37) ^ std::process::id() as u64,
    );
    Duration::from_secs_f64(base * (0.5 + rng.next_f64() * 0.5))
}

impl Shared {
    /// `text` with every secret replaced.
    pub(super) fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "[redacted]");
        }
        out
    }

    fn error(&self, message: &str) -> LlmError {
        LlmError::Endpoint { name: self.name.clone(), message: self.redact(message) }
    }

    /// Waits out a pause another request's 429 set.
    async fn wait_pause(&self) {
        let until = *self.pause_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = until.filter(|t| *t > Instant::now()) {
            tokio::time::sleep_until(t.into()).await;
        }
    }

    fn pause(&self, wait: Duration) {
        let mut p = self.pause_until.lock().unwrap_or_else(|e| e.into_inner());
        let t = Instant::now() + wait;
        if p.is_none_or(|old| old < t) {
            *p = Some(t);
        }
    }
}

impl OpenAiClient {
    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// One request with retries.
    pub(super) async fn request(
        &self,
        kind: Kind,
        body: &Value,
    ) -> Result<Vec<Completion>, LlmError> {
        let sh = &*self.shared;
        let mut attempt = 0;
        let mut body = std::borrow::Cow::Borrowed(body);
        loop {
            if let Some(limit) = sh.cfg.token_budget {
                let used = self.stats.tokens();
                if used >= limit {
                    return Err(LlmError::Budget { name: sh.name.clone(), used, limit });
                }
            }
            sh.wait_pause().await;
            if self.cancelled() {
                return Err(LlmError::Cancelled);
            }
            let outcome = {
                let _permit = sh.permits.acquire().await.map_err(|e| sh.error(&e.to_string()))?;
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                self.once(kind, &body).await
            };
            match outcome {
                Ok(c) => return Ok(c),
                Err(Failure::Retry { why, after, busy }) if attempt < sh.cfg.max_retries => {
                    let seed = body["seed"].as_u64().unwrap_or(0);
                    let wait = after.unwrap_or_else(|| backoff(attempt, seed));
                    if busy {
                        sh.pause(wait);
                    }
                    let line = format!(
                        "endpoint {}: {}; retry {} of {} in {:.1} s{}",
                        sh.name,
                        sh.redact(&why),
                        attempt + 1,
                        sh.cfg.max_retries,
                        wait.as_secs_f64(),
                        if busy { " (every request to it waits)" } else { "" }
                    );
                    tracing::warn!("{line}");
                    *self.stats.last_wait.lock().unwrap_or_else(|e| e.into_inner()) = Some(line);
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(Failure::Retry { why, .. }) => {
                    let n = sh.cfg.max_retries;
                    return Err(sh.error(&format!("{why} (gave up after {n} retries)")));
                }
                Err(Failure::Fatal(why)) => return Err(sh.error(&why)),
                Err(Failure::Answer(why)) => {
                    return Err(LlmError::Answer {
                        name: sh.name.clone(),
                        message: sh.redact(&why),
                    })
                }
                Err(Failure::Cancelled) => return Err(LlmError::Cancelled),
                Err(Failure::Refused { field, why }) => {
                    let (flag, key, what) = match field {
                        Optional::Logprobs => (&sh.logprobs, "logprobs", "log-probabilities"),
                        Optional::Schema => (&sh.schema, "response_format", "structured output"),
                        Optional::N => (&sh.takes_n, "n", "several choices per request"),
                    };
                    tracing::warn!(
                        "endpoint {}: {}; asking without {what} from now on",
                        sh.name,
                        sh.redact(&why)
                    );
                    flag.store(false, Ordering::Relaxed);
                    if field == Optional::N {
                        // One choice now; the caller asks for the rest, one request each.
                        body.to_mut()["n"] = 1.into();
                    } else if let Some(o) = body.to_mut().as_object_mut() {
                        o.remove(key);
                    }
                }
            }
        }
    }

    /// One attempt: send, then read the stream to its end.
    async fn once(&self, kind: Kind, body: &Value) -> Result<Vec<Completion>, Failure> {
        let sh = &*self.shared;
        let path = match kind {
            Kind::Chat => "chat/completions",
            Kind::Text => "completions",
        };
        let url = format!("{}/{path}", sh.cfg.base_url.trim_end_matches('/'));
        let idle = Duration::from_secs_f64(sh.cfg.idle_timeout_s.max(0.01));
        let mut req = sh.http.post(&url).headers(sh.headers.clone()).json(body);
        if let Some(k) = &sh.key {
            req = req.bearer_auth(k);
        }
        let retry = |why: String| Failure::Retry { why, after: None, busy: false };
        let resp = match tokio::time::timeout(idle, req.send()).await {
            Err(_) => {
                return Err(retry(format!("no response from {url} in {:.0} s", idle.as_secs_f64())))
            }
            Ok(Err(e)) if e.is_connect() || e.is_timeout() || e.is_request() => {
                return Err(retry(format!("cannot reach {url}: {}", error_chain(&e))))
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
            let text = sh.redact(&text);
            let why = format!("HTTP {status} from {url}: {}", snippet(&text));
            let code = status.as_u16();
            return Err(match Optional::named_in(&text, body) {
                Some(field) if code != 401 && code != 403 && code != 429 => {
                    Failure::Refused { field, why }
                }
                _ => match code {
                    429 => Failure::Retry { why, after, busy: true },
                    500..=599 => Failure::Retry { why, after, busy: false },
                    _ => Failure::Fatal(why),
                },
            });
        }
        let limit = ["max_tokens", "max_completion_tokens"].iter().find_map(|k| body[k].as_u64());
        let cap = sh.cfg.answer_cap(limit.unwrap_or(0) as usize);
        let mut stream = Stream::new(kind, cap);
        let sse = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|t| t.contains("text/event-stream"));
        if !sse {
            // One JSON completion (a server that ignores `stream`), or something else.
            let bytes = tokio::time::timeout(idle, resp.bytes()).await;
            let bytes = match bytes {
                Ok(Ok(b)) => b,
                _ => return Err(retry("the reply's body could not be read".into())),
            };
            stream.whole(&bytes)?;
            return self.count(stream.finish()?);
        }
        let mut events = resp.bytes_stream().eventsource();
        loop {
            let ev = match tokio::time::timeout(idle, events.next()).await {
                Err(_) => {
                    let s = idle.as_secs_f64();
                    return Err(retry(format!("the stream stalled (no data for {s:.0} s)")));
                }
                Ok(None) => break,
                Ok(Some(Err(EventStreamError::Utf8(e)))) => {
                    return Err(Failure::Answer(format!("the stream is not valid UTF-8: {e}")))
                }
                Ok(Some(Err(e))) => return Err(retry(format!("the stream was cut: {e}"))),
                Ok(Some(Ok(ev))) => ev,
            };
            if self.cancelled() {
                return Err(Failure::Cancelled);
            }
            if stream.feed(ev.data.trim())? {
                break;
            }
            if let Some(limit) = sh.cfg.token_budget {
                if self.stats.tokens() + stream.streamed() as u64 > limit {
                    return Err(Failure::Fatal(format!(
                        "the token budget of {limit} ran out mid-stream; the answer was dropped"
                    )));
                }
            }
            if stream.full() {
                tracing::warn!(
                    "endpoint {}: an answer reached {cap} bytes (max_answer_bytes); it is cut there",
                    sh.name
                );
                break;
            }
        }
        self.count(stream.finish()?)
    }

    fn count(
        &self,
        (c, prompt, completion): (Vec<Completion>, u64, u64),
    ) -> Result<Vec<Completion>, Failure> {
        self.stats.prompt_tokens.fetch_add(prompt, Ordering::Relaxed);
        self.stats.completion_tokens.fetch_add(completion, Ordering::Relaxed);
        Ok(c)
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
