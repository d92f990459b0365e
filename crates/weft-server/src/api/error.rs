//! The one shape of every error the API answers: `{"error": {"code", "message",
//! "details"}}` with the status that fits, from the errors of the layers below.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use weft_core::{ErrorKind, StoreError};
use weft_runtime::RuntimeError;
use weft_workflow::RunError;

/// What went wrong, by the status it answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 400: the request cannot be read (malformed JSON, a wrong type, an unknown field).
    BadRequest,
    /// 401: no key, or a key that is not valid.
    Unauthorized,
    /// 404: no such thing for this tenant.
    NotFound,
    /// 409: the thing is busy or in a state that does not allow it.
    Conflict,
    /// 413: the body is larger than the limit.
    TooLarge,
    /// 422: the request reads, but its input or answer does not fit the workflow.
    Invalid,
    /// 503: the store cannot be reached, or the daemon is stopping.
    Unavailable,
    /// 500: a fault of weft's.
    Internal,
}

impl Code {
    fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::TooLarge => "too_large",
            Self::Invalid => "invalid",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// Every error answer: `{"error": {"code", "message", "details"}}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `bad_request`, `unauthorized`, `not_found`, `conflict`, `too_large`, `invalid`,
    /// `unavailable` or `internal`.
    pub code: String,
    /// What a person reads.
    pub message: String,
    /// What a program reads (the busy run, a body's error position), or null.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Its kind.
    pub code: Code,
    /// What a person reads.
    pub message: String,
    /// What a program reads (the busy run, the problems of an input), or null.
    pub details: Value,
}

impl ApiError {
    /// An error with no details.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// The same, with details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The answer for a thing this tenant has no such one of.
    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        Self::new(Code::NotFound, format!("no {what} {id}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.code.name(),
            "message": self.message,
            "details": self.details,
        }});
        (self.code.status(), Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let code = match error.kind {
            ErrorKind::NotFound => Code::NotFound,
            ErrorKind::Conflict => Code::Conflict,
            ErrorKind::InvalidInput | ErrorKind::LimitExceeded => Code::Invalid,
            ErrorKind::Timeout | ErrorKind::RetryableUpstream | ErrorKind::Upstream => {
                Code::Unavailable
            }
            ErrorKind::Corrupt | ErrorKind::Cancelled | ErrorKind::Internal => Code::Internal,
        };
        Self::new(code, error.message)
    }
}

/// A run's refusal: a question that is not open (404) or not named among several (409),
/// a run that waits on none (409), else an input that does not fit (422).
impl From<RunError> for ApiError {
    fn from(error: RunError) -> Self {
        let message = error.to_string();
        match error {
            RunError::UnknownQuestion { open, .. } => {
                Self::new(Code::NotFound, message).with_details(json!({ "open": open }))
            }
            RunError::WhichQuestion { open } => {
                Self::new(Code::Conflict, message).with_details(json!({ "open": open }))
            }
            RunError::NotInterrupted { .. } => Self::new(Code::Conflict, message),
            _ => Self::new(Code::Invalid, message),
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(error: RuntimeError) -> Self {
        match error {
            RuntimeError::Store(error) => error.into(),
            RuntimeError::SessionBusy { holder, .. } => {
                let message = error.to_string();
                Self::new(Code::Conflict, message).with_details(json!({"busy_run": holder}))
            }
            RuntimeError::Run(run) => run.into(),
            RuntimeError::AlreadyOver { .. } => Self::new(Code::Conflict, error.to_string()),
            other => Self::new(Code::Internal, other.to_string()),
        }
    }
}
