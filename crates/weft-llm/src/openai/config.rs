//! Settings of the OpenAI-compatible backend.

use std::fmt;
use std::time::Duration;

pub use crate::spec::Flavor;

/// When and how often a failed request is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries after the first (connection errors, 429, 5xx, a stream cut off mid-reply).
    pub max_retries: u32,
    /// The wait before the first retry; it doubles each time, with jitter.
    pub initial_backoff: Duration,
    /// The longest wait between tries.
    pub max_backoff: Duration,
    /// The longest `Retry-After` weft honours; a server asking for more fails the call.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (from 1), before jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// An API key read from the environment. It is sent as a bearer token and never printed:
/// its `Debug` and `Display` show only the variable it came from.
#[derive(Clone)]
pub struct ApiKey {
    variable: String,
    value: String,
}

impl ApiKey {
    /// The key in environment variable `variable`, if it is set and not empty.
    pub fn from_environment(variable: &str) -> Option<Self> {
        let value = std::env::var(variable).ok()?;
        let value = value.trim().to_owned();
        (!value.is_empty()).then(|| Self {
            variable: variable.to_owned(),
            value,
        })
    }

    /// A key an application got elsewhere (a secrets manager); `source` names where, for
    /// messages.
    pub fn new(source: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            variable: source.into(),
            value: value.into(),
        }
    }

    /// The variable the key came from.
    pub fn variable(&self) -> &str {
        &self.variable
    }

    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.value)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "ApiKey(${}, hidden)", self.variable)
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "the key in ${}", self.variable)
    }
}

/// Everything the backend needs to reach one server.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// The chat-completions endpoint, e.g. `http://127.0.0.1:8000/v1/chat/completions`.
    pub endpoint: String,
    /// The `model` field sent with each request.
    pub model: String,
    /// The dialect.
    pub flavor: Flavor,
    /// The key sent as a bearer token, if any.
    pub api_key: Option<ApiKey>,
    /// The model's window in tokens.
    pub context_window: u32,
    /// The longest wait for the response's headers.
    pub request_timeout: Duration,
    /// The longest silence between two pieces of a streamed reply (keep-alives count).
    pub idle_timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
}

impl OpenAiConfig {
    /// Settings for `url` with the defaults: a URL without a path gets
    /// `/v1/chat/completions`, one ending in `/v1` (or any other path) gets
    /// `/chat/completions`, one already ending in `/chat/completions` is kept.
    pub fn new(url: &str, model: impl Into<String>, flavor: Flavor) -> Self {
        Self {
            endpoint: endpoint(url),
            model: model.into(),
            flavor,
            api_key: None,
            context_window: 131_072,
            request_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }

    /// The endpoint without its query, for messages (a query may hold a credential).
    pub fn shown_endpoint(&self) -> &str {
        self.endpoint
            .split_once('?')
            .map_or(self.endpoint.as_str(), |(path, _)| path)
    }
}

fn endpoint(url: &str) -> String {
    let url = url.trim();
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base.trim_end_matches('/'), Some(query)),
        None => (url.trim_end_matches('/'), None),
    };
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .map_or("", |start| &after_scheme[start..]);
    let endpoint = if base.ends_with("/chat/completions") {
        base.to_owned()
    } else if path.is_empty() {
        format!("{base}/v1/chat/completions")
    } else {
        format!("{base}/chat/completions")
    };
    match query {
        Some(query) => format!("{endpoint}?{query}"),
        None => endpoint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_the_urls_people_write() {
        for (url, expected) in [
            ("http://h:8000", "http://h:8000/v1/chat/completions"),
            ("http://h:8000/", "http://h:8000/v1/chat/completions"),
            ("http://h:8000/v1", "http://h:8000/v1/chat/completions"),
            ("https://h/v1/", "https://h/v1/chat/completions"),
            (
                "http://h/v1/chat/completions",
                "http://h/v1/chat/completions",
            ),
            (
                "https://h/openai/deployments/x?api-version=1",
                "https://h/openai/deployments/x/chat/completions?api-version=1",
            ),
        ] {
            assert_eq!(endpoint(url), expected, "{url}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1), Duration::from_millis(500));
        assert_eq!(policy.backoff(2), Duration::from_secs(1));
        assert_eq!(policy.backoff(30), Duration::from_secs(10));
    }

    #[test]
    fn a_key_is_never_shown() {
        let key = ApiKey {
            variable: "TEST_KEY".into(),
            value: "sk-secret".into(),
        };
        assert!(!format!("{key:?} {key}").contains("sk-secret"));
    }
}
