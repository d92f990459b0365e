//! How a tool call is run: under the runtime's limit of concurrent calls, with a timeout
//! per attempt, and retried with exponential backoff and jitter while it fails with a
//! retryable error.

use crate::runtime::Runtime;
use std::time::Duration;
use weft_core::{ErrorKind, ToolCall, ToolContext, ToolError};

/// How long one attempt may take when neither the node nor the tool says.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// Tool calls that may run at once across all runs of a runtime, unless set otherwise.
pub const DEFAULT_CONCURRENT_TOOL_CALLS: usize = 256;
/// The first retry's delay, doubled for each one after it, up to the cap.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

impl Runtime {
    /// Runs one tool call to its final result.
    pub(crate) async fn dispatch_tool(
        &self,
        call: ToolCall,
        context: ToolContext,
        node_timeout: Option<Duration>,
    ) -> Result<serde_json::Value, ToolError> {
        // Arguments that were not JSON never reach the tool. (An unknown tool is left to
        // the tool box, which names the tools it knows.)
        if call.unparsed_arguments.is_some()
            && let Some(spec) = self.tools.spec(&call.name)
            && let Some(error) = call.malformed_error(Some(&spec.parameters))
        {
            return Err(error);
        }
        let policy = self.tools.policy(&call.name);
        let timeout = node_timeout
            .or(policy.timeout)
            .unwrap_or(DEFAULT_TOOL_TIMEOUT);
        let attempts = policy.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            // A slot per attempt, so a call waiting to retry does not hold one. The
            // semaphore is closed only with the runtime, which cannot be while it runs.
            let slot = self.tool_slots.acquire().await.map_err(|_| {
                ToolError::new(ErrorKind::Cancelled, "the runtime is shutting down")
            })?;
            let result =
                tokio::time::timeout(timeout, self.tools.call(call.clone(), context.clone())).await;
            drop(slot);
            match result {
                Err(_) => {
                    return Err(ToolError::new(
                        ErrorKind::Timeout,
                        format!(
                            "tool `{}` took longer than its timeout of {timeout:?}",
                            call.name
                        ),
                    ));
                }
                Ok(Err(error))
                    if error.kind == ErrorKind::RetryableUpstream && attempt < attempts =>
                {
                    tokio::time::sleep(backoff(attempt, &context.idempotency_key)).await;
                    attempt += 1;
                }
                Ok(Err(error)) if error.kind == ErrorKind::RetryableUpstream && attempts > 1 => {
                    return Err(ToolError::new(
                        error.kind,
                        format!("{} (after {attempts} attempts)", error.message),
                    ));
                }
                Ok(result) => return result,
            }
        }
    }
}

/// The delay before attempt `attempt + 1`: exponential, capped, with jitter of up to half
/// of it either way, so that many calls failing together do not retry together.
pub(crate) fn backoff(attempt: u32, key: &str) -> Duration {
    let exponential = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    // Jitter from the call's key, the attempt and the clock: different for calls that fail
    // together, without a random number generator.
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&(key, attempt, std::time::SystemTime::now()), &mut hasher);
    let fraction = std::hash::Hasher::finish(&hasher) % 1_000;
    // From 0.5 to 1.5 times the exponential delay.
    exponential.mul_f64(0.5 + fraction as f64 / 1_000.0)
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        for attempt in 1..=4u32 {
            let base = Duration::from_millis(100 * (1 << (attempt - 1)));
            let delay = backoff(attempt, "run/1/-/0/0");
            assert!(
                delay >= base / 2 && delay <= base * 3 / 2,
                "attempt {attempt}: {delay:?}"
            );
        }
        assert!(backoff(30, "k") <= Duration::from_secs(15));
    }
}
