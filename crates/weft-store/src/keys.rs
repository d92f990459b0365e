//! API keys in the store: [`KeyStore`] over the store's operations, and making a key. A
//! key is `weft_` and 64 hex digits of randomness (two random UUIDs, 244 bits); the store
//! keeps its SHA-256 and an id (`key_` and the first 8 of those digits) to name it by.

use crate::dialect::Dialect;
pub use crate::rows::KeyFilter;
use crate::store::{Operations, Store};
use futures::future::BoxFuture;
use weft_core::{ApiKey, KeyStore, StoreError};

/// A new key and its id: the key is shown once, the id names it afterwards.
pub fn new_key() -> (String, String) {
    let random = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let id = format!("key_{}", &random[..8]);
    (format!("weft_{random}"), id)
}

/// The SHA-256 of a key, in hex: what the store keeps and looks keys up by.
pub use weft_core::sha256_hex as key_hash;

impl<D: Dialect> KeyStore for Store<D>
where
    Self: Operations,
{
    fn add_key<'a>(
        &'a self,
        id: &'a str,
        tenant: &'a str,
        hash: &'a str,
    ) -> BoxFuture<'a, Result<ApiKey, StoreError>> {
        Box::pin(async move {
            let key = ApiKey {
                id: id.to_owned(),
                tenant: tenant.to_owned(),
                created_at_millis: u64::try_from(crate::session::rows::now_millis()).unwrap_or(0),
                revoked_at_millis: None,
            };
            self.write_key(&key, hash).await?;
            Ok(key)
        })
    }

    fn keys<'a>(
        &'a self,
        tenant: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<ApiKey>, StoreError>> {
        let filter = tenant.map_or(KeyFilter::All, KeyFilter::Tenant);
        Box::pin(self.read_keys(filter))
    }

    fn revoke_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.write_revocation(id))
    }

    fn key_by_hash<'a>(
        &'a self,
        hash: &'a str,
    ) -> BoxFuture<'a, Result<Option<ApiKey>, StoreError>> {
        Box::pin(async move {
            let mut keys = self.read_keys(KeyFilter::Hash(hash)).await?;
            Ok(keys.pop())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed() {
        let (key, id) = new_key();
        let (other, _) = new_key();
        assert_ne!(key, other);
        assert_eq!(key.len(), "weft_".len() + 64);
        assert!(key.starts_with("weft_") && id.starts_with("key_"));
        assert_eq!(&key[5..13], &id[4..]);
        assert_eq!(key_hash(&key).len(), 64);
        assert_ne!(key_hash(&key), key_hash(&other));
    }
}
