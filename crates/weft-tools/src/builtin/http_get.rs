//! `http_get`: fetches a URL from an allowlist of hosts the workflow gives, reading at most
//! so many bytes within a time limit. Off unless a workflow turns it on
//! (`http_get: { allow_hosts: [api.example.com] }`). Redirects are followed only to
//! allowed hosts. A GET changes nothing, so the tool is idempotent and a busy or
//! unreachable server is retried.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use weft_core::ToolContext;
use weft_tool::{Tool, ToolFailure};

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

/// Which hosts `http_get` may reach, and its limits.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    /// `example.com` (that host only) or `*.example.com` (it and every subdomain).
    pub allow_hosts: Vec<String>,
    /// The most body bytes read; the rest is left out and `truncated` set.
    pub max_bytes: u64,
    /// How long a fetch may take, redirects included.
    pub timeout: Duration,
}

impl HttpPolicy {
    /// Whether `host` is on the allowlist.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow_hosts
            .iter()
            .any(|entry| match entry.strip_prefix("*.") {
                Some(domain) => {
                    host == domain
                        || host
                            .strip_suffix(domain)
                            .is_some_and(|rest| rest.ends_with('.'))
                }
                None => host == *entry,
            })
    }
}

/// Arguments of `http_get`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct HttpGetArgs {
    /// The http:// or https:// URL to fetch; its host must be allowed.
    pub url: String,
}

/// What `http_get` returns, whatever the status.
#[derive(Debug, Serialize)]
pub struct HttpGetOutput {
    /// The URL the answer came from (after redirects).
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body as text (invalid UTF-8 replaced).
    pub body: String,
    /// Whether the body went on past the byte limit.
    pub truncated: bool,
}

/// The HTTP client of `http_get` could not be set up (no TLS roots, say).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct HttpClientError(#[from] reqwest::Error);

/// The `http_get` tool.
#[derive(Debug, Clone)]
pub struct HttpGet {
    policy: std::sync::Arc<HttpPolicy>,
    client: reqwest::Client,
    description: String,
}

impl HttpGet {
    /// An `http_get` that keeps to `policy`.
    pub fn new(policy: HttpPolicy) -> Result<Self, HttpClientError> {
        let policy = std::sync::Arc::new(policy);
        let redirects = policy.clone();
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                let host = attempt.url().host_str().unwrap_or_default().to_owned();
                if attempt.previous().len() >= MAX_REDIRECTS {
                    attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
                } else if !redirects.allows(&host) {
                    attempt.error(format!(
                        "redirected to `{host}`, which is not an allowed host"
                    ))
                } else {
                    attempt.follow()
                }
            }))
            .build()?;
        let description = format!(
            "Fetches a URL with HTTP GET and returns its status, content type and body as text \
             (at most {} bytes). Allowed hosts: {}.",
            policy.max_bytes,
            policy.allow_hosts.join(", ")
        );
        Ok(Self {
            policy,
            client,
            description,
        })
    }

    fn checked_url(&self, text: &str) -> Result<reqwest::Url, ToolFailure> {
        let url = reqwest::Url::parse(text).map_err(|error| {
            ToolFailure::invalid_arguments(format!("`{text}` is not a URL: {error}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ToolFailure::invalid_arguments(format!(
                "`{text}`: only http:// and https:// URLs can be fetched"
            )));
        }
        let host = url.host_str().unwrap_or_default();
        if !self.policy.allows(host) {
            return Err(ToolFailure::invalid_arguments(format!(
                "`{host}` is not an allowed host; allowed: {}",
                self.policy.allow_hosts.join(", ")
            )));
        }
        Ok(url)
    }
}

impl Tool for HttpGet {
    type Args = HttpGetArgs;
    type Output = HttpGetOutput;

    fn name(&self) -> &str {
        "http_get"
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn idempotent(&self) -> bool {
        true
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.policy.timeout)
    }

    async fn call(
        &self,
        args: HttpGetArgs,
        _context: ToolContext,
    ) -> Result<HttpGetOutput, ToolFailure> {
        let url = self.checked_url(&args.url)?;
        let mut response = self.client.get(url).send().await.map_err(request_failure)?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(ToolFailure::retryable(format!(
                "`{}` answered {status}",
                response.url()
            )));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let final_url = response.url().to_string();
        let limit = usize::try_from(self.policy.max_bytes).unwrap_or(usize::MAX);
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(request_failure)? {
            let room = limit - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpGetOutput {
            url: final_url,
            status: status.as_u16(),
            content_type,
            body: String::from_utf8_lossy(&body).into_owned(),
            truncated,
        })
    }
}

fn request_failure(error: reqwest::Error) -> ToolFailure {
    let message = describe(&error);
    if error.is_timeout() {
        ToolFailure::timeout(message)
    } else if error.is_redirect() || error.is_builder() {
        ToolFailure::invalid_arguments(message)
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ToolFailure::retryable(message)
    } else {
        ToolFailure::fatal(message)
    }
}

/// The error with its causes, which reqwest keeps apart.
fn describe(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
