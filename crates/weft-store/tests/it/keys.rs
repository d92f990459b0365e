//! API keys: kept by hash, listed newest first by tenant, revoked once, found by hash.

use weft_core::KeyStore;
use weft_store::keys::{key_hash, new_key};

/// On any backend.
pub async fn keys_are_kept_by_hash_and_revoked(store: &dyn KeyStore) {
    let (first, first_id) = new_key();
    let (second, second_id) = new_key();
    let (other, other_id) = new_key();
    store
        .add_key(&first_id, "acme", &key_hash(&first))
        .await
        .unwrap();
    store
        .add_key(&second_id, "acme", &key_hash(&second))
        .await
        .unwrap();
    store
        .add_key(&other_id, "globex", &key_hash(&other))
        .await
        .unwrap();
    // The same hash twice is refused: a key names one tenant.
    assert!(
        store
            .add_key("key_again", "globex", &key_hash(&first))
            .await
            .is_err()
    );

    let acme = store.keys(Some("acme")).await.unwrap();
    let mut ids: Vec<&str> = acme.iter().map(|key| key.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = [first_id.as_str(), second_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert_eq!(store.keys(None).await.unwrap().len(), 3);

    let found = store.key_by_hash(&key_hash(&other)).await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.tenant.as_str()),
        (other_id.as_str(), "globex")
    );
    assert_eq!(found.revoked_at_millis, None);
    assert!(
        store
            .key_by_hash(&key_hash("weft_not_a_key"))
            .await
            .unwrap()
            .is_none()
    );

    assert!(store.revoke_key(&other_id).await.unwrap());
    assert!(!store.revoke_key(&other_id).await.unwrap(), "revoked once");
    assert!(!store.revoke_key("key_missing").await.unwrap());
    let revoked = store.key_by_hash(&key_hash(&other)).await.unwrap().unwrap();
    assert!(revoked.revoked_at_millis.is_some());
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_keeps_keys() {
    let folder = tempfile::tempdir().unwrap();
    let store = weft_store::SqliteStore::open(&folder.path().join("weft.db"))
        .await
        .unwrap();
    keys_are_kept_by_hash_and_revoked(&store).await;
}
