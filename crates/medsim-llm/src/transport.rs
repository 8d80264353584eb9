//! HTTP transport shared by every provider: endpoints with least-outstanding-requests balancing
//! and failover, connect and read timeouts, retries with exponential backoff and jitter that
//! honour `Retry-After`, a concurrency limit and optional requests/tokens-per-minute limits.
//!
//! Providers only build a JSON body and parse a JSON answer; everything that makes thousands
//! of calls survive 429s, 5xx, hangs and dead servers lives here, once.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::error::LlmError;
use crate::rng::SplitMix64;
use crate::secret::ApiKey;

/// How failed calls are retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Total time budget for one call, retries and waits included (seconds).
    pub max_elapsed_secs: f64,
    /// First backoff (seconds).
    pub initial_backoff_secs: f64,
    /// Longest backoff (seconds).
    pub max_backoff_secs: f64,
    /// Backoff growth per attempt.
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            max_elapsed_secs: 600.0,
            initial_backoff_secs: 0.5,
            max_backoff_secs: 30.0,
            multiplier: 2.0,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`: exponential, capped, with "equal jitter" (half
    /// fixed, half random) so waits never collapse to zero and callers do not move in lockstep.
    pub fn backoff(&self, attempt: u32, random: f64) -> Duration {
        let exponential = self.initial_backoff_secs * self.multiplier.powi(attempt.saturating_sub(1) as i32);
        let capped = exponential.min(self.max_backoff_secs).max(0.0);
        Duration::from_secs_f64(capped / 2.0 + capped / 2.0 * random)
    }
}

/// Concurrency and rate limits for one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Calls in flight at once.
    pub max_concurrency: usize,
    /// Requests per minute, if limited.
    pub requests_per_minute: Option<u32>,
    /// Tokens (prompt estimate + max_tokens) per minute, if limited.
    pub tokens_per_minute: Option<u64>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_concurrency: 64, requests_per_minute: None, tokens_per_minute: None }
    }
}

/// How the API key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer KEY` (OpenAI-compatible).
    Bearer,
    /// `x-api-key: KEY` (Anthropic).
    XApiKey,
}

/// Everything the transport needs.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Base URLs; calls are balanced across them.
    pub base_urls: Vec<String>,
    /// Where the base URLs came from (a setting a person can change), for error messages.
    pub origin: String,
    /// Trusted roots added to the platform's and the bundled ones (`SSL_CERT_FILE`, `SSL_CERT_DIR`).
    pub tls_roots: Vec<reqwest::Certificate>,
    /// The key, if the server needs one.
    pub api_key: Option<ApiKey>,
    /// How the key is sent.
    pub auth: AuthStyle,
    /// Extra headers on every request.
    pub headers: Vec<(String, String)>,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Time allowed for a whole answer.
    pub read_timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// Limits.
    pub limits: Limits,
}

/// Counters, for reports and tests.
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Calls started.
    pub calls: AtomicU64,
    /// HTTP attempts made.
    pub attempts: AtomicU64,
    /// Retries (attempts after a failure).
    pub retries: AtomicU64,
    /// Calls that failed for good.
    pub failures: AtomicU64,
}

/// A snapshot of [`TransportStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Calls started.
    pub calls: u64,
    /// HTTP attempts made.
    pub attempts: u64,
    /// Retries.
    pub retries: u64,
    /// Calls that failed for good.
    pub failures: u64,
}

struct Endpoint {
    base_url: String,
    /// True once the endpoint has answered at all (any HTTP status): a connection failure to an
    /// endpoint that never answered is a configuration problem, not a passing fault.
    reached: std::sync::atomic::AtomicBool,
    outstanding: AtomicUsize,
    consecutive_failures: AtomicU32,
    unhealthy_until: Mutex<Option<Instant>>,
}

/// Decrements an endpoint's outstanding count when the attempt ends, however it ends.
struct Outstanding<'a>(&'a Endpoint);

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A token bucket refilled continuously.
struct Bucket {
    capacity: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn per_minute(amount: f64) -> Bucket {
        Bucket { capacity: amount, per_second: amount / 60.0, state: Mutex::new((amount, Instant::now())) }
    }

    async fn take(&self, amount: f64) {
        let amount = amount.min(self.capacity);
        loop {
            let wait = {
                let mut state = self.state.lock().expect("bucket lock");
                let now = Instant::now();
                let refilled =
                    (state.0 + now.duration_since(state.1).as_secs_f64() * self.per_second).min(self.capacity);
                *state = (refilled, now);
                if refilled >= amount {
                    state.0 -= amount;
                    return;
                }
                Duration::from_secs_f64((amount - refilled) / self.per_second)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// The transport. Cheap to share behind an `Arc`.
pub struct Transport {
    client: reqwest::Client,
    endpoints: Vec<Endpoint>,
    origin: String,
    rotation: AtomicUsize,
    api_key: Option<ApiKey>,
    auth: AuthStyle,
    headers: HeaderMap,
    read_timeout: Duration,
    retry: RetryPolicy,
    concurrency: Arc<Semaphore>,
    requests_bucket: Option<Bucket>,
    tokens_bucket: Option<Bucket>,
    rng: Mutex<SplitMix64>,
    stats: TransportStats,
}

/// A successful exchange: the parsed value and how many attempts it took.
pub struct Exchange<T> {
    /// The parsed answer.
    pub value: T,
    /// Attempts made.
    pub attempts: u32,
}

/// What a parser sees of an answer.
pub struct RawResponse<'a> {
    /// Base URL that answered.
    pub endpoint: &'a str,
    /// Response headers.
    pub headers: &'a HeaderMap,
    /// Body.
    pub body: &'a Bytes,
}

impl Transport {
    /// Builds a transport; fails on an empty endpoint list or an invalid header.
    pub fn new(config: TransportConfig) -> Result<Transport, LlmError> {
        if config.base_urls.is_empty() {
            return Err(LlmError::Config("a provider needs at least one base URL".to_owned()));
        }
        let mut builder = crate::http::client_builder(&|_| None)
            .map_err(|error| LlmError::Config(error.to_string()))?
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(256);
        for root in config.tls_roots {
            builder = builder.add_root_certificate(root);
        }
        let client =
            builder.build().map_err(|error| LlmError::Config(format!("cannot build the HTTP client: {error}")))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| LlmError::Config(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| LlmError::Config(format!("invalid value for header {name}")))?;
            headers.insert(name, value);
        }
        Ok(Transport {
            client,
            endpoints: config
                .base_urls
                .iter()
                .map(|base_url| Endpoint {
                    base_url: base_url.trim_end_matches('/').to_owned(),
                    reached: std::sync::atomic::AtomicBool::new(false),
                    outstanding: AtomicUsize::new(0),
                    consecutive_failures: AtomicU32::new(0),
                    unhealthy_until: Mutex::new(None),
                })
                .collect(),
            rotation: AtomicUsize::new(0),
            origin: config.origin,
            api_key: config.api_key,
            auth: config.auth,
            headers,
            read_timeout: config.read_timeout,
            retry: config.retry,
            concurrency: Arc::new(Semaphore::new(config.limits.max_concurrency.max(1))),
            requests_bucket: config.limits.requests_per_minute.map(|rpm| Bucket::per_minute(f64::from(rpm))),
            tokens_bucket: config.limits.tokens_per_minute.map(|tpm| Bucket::per_minute(tpm as f64)),
            rng: Mutex::new(SplitMix64::from_entropy()),
            stats: TransportStats::default(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            calls: self.stats.calls.load(Ordering::Relaxed),
            attempts: self.stats.attempts.load(Ordering::Relaxed),
            retries: self.stats.retries.load(Ordering::Relaxed),
            failures: self.stats.failures.load(Ordering::Relaxed),
        }
    }

    /// Removes the API key (and fragments of it) from a text.
    pub fn scrub(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) => key.scrub(text),
            None => text.to_owned(),
        }
    }

    /// Removes the API key from every string of a JSON value.
    pub fn scrub_json(&self, value: &mut serde_json::Value) {
        if let Some(key) = &self.api_key {
            crate::secret::scrub_json(value, key.expose());
        }
    }

    /// The endpoint with the fewest requests in flight among the healthy ones (all of them if
    /// none is healthy), rotating among ties.
    fn pick(&self) -> &Endpoint {
        let now = Instant::now();
        let healthy: Vec<&Endpoint> = self
            .endpoints
            .iter()
            .filter(|endpoint| endpoint.unhealthy_until.lock().expect("health lock").is_none_or(|until| until <= now))
            .collect();
        let candidates: Vec<&Endpoint> = if healthy.is_empty() { self.endpoints.iter().collect() } else { healthy };
        let start = self.rotation.fetch_add(1, Ordering::Relaxed);
        let count = candidates.len();
        (0..count)
            .map(|offset| candidates[(start + offset) % count])
            .min_by_key(|endpoint| endpoint.outstanding.load(Ordering::SeqCst))
            .expect("at least one endpoint")
    }

    fn record_health(&self, endpoint: &Endpoint, outcome: Result<(), &LlmError>) {
        match outcome {
            Ok(()) => {
                endpoint.consecutive_failures.store(0, Ordering::SeqCst);
                *endpoint.unhealthy_until.lock().expect("health lock") = None;
            }
            Err(error) if error.endpoint_unhealthy() => {
                let failures = endpoint.consecutive_failures.fetch_add(1, Ordering::SeqCst) + 1;
                // A refused connection or a timeout marks the endpoint at once; server errors
                // only after three in a row, since one 500 says little about the server.
                let immediate =
                    matches!(error, LlmError::Network { .. } | LlmError::Unreachable { .. } | LlmError::Timeout { .. });
                if immediate || failures >= 3 {
                    let cooldown = Duration::from_millis(500 * 2u64.pow(failures.min(6)));
                    *endpoint.unhealthy_until.lock().expect("health lock") = Some(Instant::now() + cooldown);
                }
            }
            Err(_) => {}
        }
    }

    fn healthy_alternative_exists(&self, failed: &Endpoint) -> bool {
        let now = Instant::now();
        self.endpoints.iter().any(|endpoint| {
            !std::ptr::eq(endpoint, failed)
                && endpoint.unhealthy_until.lock().expect("health lock").is_none_or(|until| until <= now)
        })
    }

    /// POSTs `body` to `path` on some endpoint and parses the answer, retrying as configured.
    /// `estimated_tokens` feeds the tokens-per-minute limit.
    pub async fn post_json<T>(
        &self,
        path: &str,
        body: Bytes,
        extra_headers: &HeaderMap,
        estimated_tokens: u64,
        parse: impl Fn(RawResponse<'_>) -> Result<T, LlmError>,
    ) -> Result<Exchange<T>, LlmError> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let max_elapsed = Duration::from_secs_f64(self.retry.max_elapsed_secs.max(0.0));
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.stats.attempts.fetch_add(1, Ordering::Relaxed);
            let (endpoint, result) = self.attempt(path, body.clone(), extra_headers, estimated_tokens, &parse).await;
            self.record_health(endpoint, result.as_ref().map(|_| ()));
            let error = match result {
                Ok(value) => return Ok(Exchange { value, attempts: attempt }),
                Err(error) => error,
            };
            let elapsed = started.elapsed();
            // A name that does not resolve, a refused connection or an untrusted certificate at
            // an endpoint that never answered is a setting to fix: fail at once unless another
            // endpoint can take the call.
            let unreachable = matches!(&error, LlmError::Unreachable { .. });
            if unreachable && endpoint.reached.load(Ordering::SeqCst) {
                // It answered before: a restart or a passing fault, retried like any network error.
            } else if !error.is_retryable() || (unreachable && !self.healthy_alternative_exists(endpoint)) {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                return Err(error);
            }
            if attempt >= self.retry.max_attempts.max(1) || elapsed >= max_elapsed {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                return Err(LlmError::RetriesExhausted { attempts: attempt, elapsed, last: Box::new(error) });
            }
            let retry_after = match &error {
                LlmError::Http { retry_after, .. } => *retry_after,
                _ => None,
            };
            let wait = match retry_after {
                Some(wait) => wait,
                // Another healthy endpoint can take the call at once.
                None if error.endpoint_unhealthy() && self.healthy_alternative_exists(endpoint) => Duration::ZERO,
                None => {
                    let random = self.rng.lock().expect("rng lock").next_f64();
                    self.retry.backoff(attempt, random)
                }
            };
            let wait = wait.min(max_elapsed.saturating_sub(elapsed));
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, error = %error, "retrying model call");
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt<T>(
        &self,
        path: &str,
        body: Bytes,
        extra_headers: &HeaderMap,
        estimated_tokens: u64,
        parse: &impl Fn(RawResponse<'_>) -> Result<T, LlmError>,
    ) -> (&Endpoint, Result<T, LlmError>) {
        let _permit = self.concurrency.acquire().await.expect("the semaphore is never closed");
        if let Some(bucket) = &self.requests_bucket {
            bucket.take(1.0).await;
        }
        if let Some(bucket) = &self.tokens_bucket {
            bucket.take(estimated_tokens as f64).await;
        }
        let endpoint = self.pick();
        endpoint.outstanding.fetch_add(1, Ordering::SeqCst);
        let _outstanding = Outstanding(endpoint);
        let result = self.send(endpoint, path, body, extra_headers, parse).await;
        (endpoint, result)
    }

    async fn send<T>(
        &self,
        endpoint: &Endpoint,
        path: &str,
        body: Bytes,
        extra_headers: &HeaderMap,
        parse: &impl Fn(RawResponse<'_>) -> Result<T, LlmError>,
    ) -> Result<T, LlmError> {
        let url = format!("{}{path}", endpoint.base_url);
        let mut request = self
            .client
            .post(&url)
            .timeout(self.read_timeout)
            .headers(self.headers.clone())
            .headers(extra_headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = &self.api_key {
            request = match self.auth {
                AuthStyle::Bearer => request.bearer_auth(key.expose()),
                AuthStyle::XApiKey => request.header("x-api-key", key.expose()),
            };
        }
        let endpoint_name = self.scrub(&endpoint.base_url);
        let response = request.send().await.map_err(|error| self.map_error(&endpoint_name, error))?;
        endpoint.reached.store(true, Ordering::SeqCst);
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|error| self.map_error(&endpoint_name, error))?;
        if !status.is_success() {
            return Err(LlmError::Http {
                endpoint: endpoint_name,
                status: status.as_u16(),
                body: self.scrub(&excerpt(&bytes, 500)),
                retry_after: retry_after(&headers),
            });
        }
        parse(RawResponse { endpoint: &endpoint_name, headers: &headers, body: &bytes }).map_err(|error| match error {
            LlmError::Decode { endpoint, message, body } => {
                LlmError::Decode { endpoint, message: self.scrub(&message), body: self.scrub(&body) }
            }
            other => other,
        })
    }

    fn map_error(&self, endpoint: &str, error: reqwest::Error) -> LlmError {
        use crate::http::{Failure, FailureKind};
        let failure = Failure::of(&error);
        match failure.kind {
            FailureKind::Timeout => LlmError::Timeout { endpoint: endpoint.to_owned(), after: self.read_timeout },
            FailureKind::Dns | FailureKind::Connect | FailureKind::Certificate => LlmError::Unreachable {
                // The URL in reqwest's message is the endpoint's; scrub in case a key was put in it.
                message: self.scrub(&failure.explain(endpoint)),
                origin: self.origin.clone(),
            },
            FailureKind::Other => {
                LlmError::Network { endpoint: endpoint.to_owned(), message: self.scrub(&failure.detail) }
            }
        }
    }
}

/// The first `limit` characters of a body, lossily decoded.
pub fn excerpt(bytes: &[u8], limit: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(limit).collect();
    if text.chars().count() > limit {
        out.push('…');
    }
    out
}

/// `retry-after-ms` (OpenAI), or `Retry-After` in seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let read = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    if let Some(millis) = read("retry-after-ms").and_then(|value| value.parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(millis.max(0.0) / 1000.0));
    }
    read("retry-after").and_then(|value| value.parse::<f64>().ok()).map(|secs| Duration::from_secs_f64(secs.max(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let policy = RetryPolicy { initial_backoff_secs: 1.0, max_backoff_secs: 8.0, ..RetryPolicy::default() };
        assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(policy.backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(policy.backoff(3, 1.0), Duration::from_secs(4));
        assert_eq!(policy.backoff(10, 1.0), Duration::from_secs(8));
        assert_eq!(policy.backoff(10, 0.0), Duration::from_secs(4));
    }

    #[tokio::test]
    async fn token_bucket_waits_once_empty() {
        let bucket = Bucket::per_minute(6000.0);
        let started = Instant::now();
        bucket.take(6000.0).await;
        assert!(started.elapsed() < Duration::from_millis(50), "a full bucket does not wait");
        bucket.take(10.0).await;
        assert!(started.elapsed() >= Duration::from_millis(90), "10 more at 100/s wait about 100 ms");
    }

    #[test]
    fn retry_after_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
    }
}
