//! API keys: what a daemon checks a request's key against. A key belongs to a tenant; the
//! store keeps only its SHA-256, so a key is shown once, when it is made, and a database
//! that leaks gives no key away.

use crate::store::StoreError;
use futures_core::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// A key as the store keeps it: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The key's id: what lists and revocations name.
    pub id: String,
    /// The tenant whose sessions and runs the key reaches.
    pub tenant: String,
    /// When it was made (ms since the Unix epoch).
    pub created_at_millis: u64,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_millis: Option<u64>,
}

/// Where keys are kept.
pub trait KeyStore: Send + Sync {
    /// Keeps a new key: its id, its tenant and the SHA-256 of the key (hex).
    fn add_key<'a>(
        &'a self,
        id: &'a str,
        tenant: &'a str,
        hash: &'a str,
    ) -> BoxFuture<'a, Result<ApiKey, StoreError>>;
    /// Keys, newest first: of one tenant, or of all.
    fn keys<'a>(
        &'a self,
        tenant: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<ApiKey>, StoreError>>;
    /// Revokes a key; `false` when there is no such key or it was revoked already.
    fn revoke_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// The key with this hash, revoked or not.
    fn key_by_hash<'a>(
        &'a self,
        hash: &'a str,
    ) -> BoxFuture<'a, Result<Option<ApiKey>, StoreError>>;
}
