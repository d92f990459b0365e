//! Request bodies: JSON read into a typed struct that denies unknown fields, with every
//! failure answered in the API's error shape. A body that does not parse names where
//! (line and column) and the field path of a wrong type; one over the size limit is a 413.

use crate::api::error::{ApiError, Code};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

/// A JSON body of type `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                let code = if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Code::TooLarge
                } else {
                    Code::BadRequest
                };
                ApiError::new(
                    code,
                    format!("the request body cannot be read: {}", rejection.body_text()),
                )
            })?;
        if !json && !bytes.is_empty() {
            return Err(ApiError::new(
                Code::BadRequest,
                "the request body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let text: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        parse(text).map(Body)
    }
}

/// Reads `T` from JSON text, saying where it went wrong.
pub fn parse<T: DeserializeOwned>(text: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = if path.is_empty() || path == "." || path == "?" {
            format!("the request body is not valid: {inner}")
        } else {
            format!("the request body is not valid at `{path}`: {inner}")
        };
        ApiError::new(Code::BadRequest, message).with_details(
            serde_json::json!({"path": path, "line": inner.line(), "column": inner.column()}),
        )
    })?;
    deserializer.end().map_err(|error| {
        ApiError::new(
            Code::BadRequest,
            format!("the request body has more after its JSON value: {error}"),
        )
    })?;
    Ok(value)
}
