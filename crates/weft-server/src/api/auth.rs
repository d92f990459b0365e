//! Who calls: a bearer key (`Authorization: Bearer KEY`), looked up by its SHA-256 (the
//! store keeps nothing else), gives the caller's tenant. With `--no-auth` every request acts
//! for the default tenant.

use crate::api::error::{ApiError, Code};
use crate::daemon::Daemon;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use std::sync::Arc;
use weft_core::DEFAULT_TENANT;

/// The tenant a request acts for.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The tenant.
    pub tenant: String,
}

impl FromRequestParts<Arc<Daemon>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        daemon: &Arc<Daemon>,
    ) -> Result<Self, Self::Rejection> {
        if daemon.options.no_auth {
            return Ok(Self {
                tenant: DEFAULT_TENANT.to_owned(),
            });
        }
        let unauthorized = |message: &str| ApiError::new(Code::Unauthorized, message);
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthorized("this request needs a key: send `Authorization: Bearer KEY` (keys are made with `weft keys create --tenant NAME`)"))?;
        let key = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer KEY`"))?;
        let found = daemon
            .database
            .key_by_hash(&weft_core::sha256_hex(key))
            .await?;
        match found {
            Some(key) if key.revoked_at_millis.is_none() => Ok(Self { tenant: key.tenant }),
            Some(_) => Err(unauthorized("this key was revoked")),
            None => Err(unauthorized("this key is not known")),
        }
    }
}
